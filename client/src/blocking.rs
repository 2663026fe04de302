//! The blocking API (the seed README's sync mode), built on [`Client`].
//!
//! Register subscriptions (with callbacks) and publishes, then call
//! [`BlockingClient::run`]: it connects, authenticates, subscribes, sends
//! the registered publishes and loops delivering messages to the callbacks
//! until [`BlockingClient::stop`] or the connection is given up. Handles
//! are cheap clones, so other threads keep publishing while `run` loops.
//!
//! Inside, `run` drives a current-thread tokio runtime on the calling
//! thread; the client's I/O thread is separate, so a slow callback delays
//! only its own subscription, never heartbeats.

use std::sync::{Arc, Mutex};

use tokio::runtime::Handle;
use tokio::sync::Notify;

use crate::client::{Client, PublishOptions};
use crate::error::{ClientError, Result};
use crate::message::Message;
use crate::options::ClientOptions;
use crate::payload::Payload;

/// What a subscription calls for each message.
type Callback = Box<dyn FnMut(Message) + Send + 'static>;

struct Registered {
    subs: Vec<(String, String, Callback)>,
    pubs: Vec<(String, String, Payload, PublishOptions)>,
    running: Option<(Client, Handle)>,
}

struct Inner {
    opts: ClientOptions,
    state: Mutex<Registered>,
    stop: Notify,
}

/// A callback-style client for code that is not async.
///
/// ```no_run
/// use pulsemq_client::{BlockingClient, ClientOptions};
///
/// let client = BlockingClient::new(ClientOptions::new("127.0.0.1", 5555, 5556, "alice", "token"));
/// client.subscribe("market_data", "sz000651.kline.>", |msg| {
///     println!("{} seq={} {:?}", msg.topic, msg.seq, msg.as_str());
/// }).unwrap();
/// client.publish("market_data", "sz000651.kline.1m", r#"{"close":10.55}"#).unwrap();
/// let other = client.clone();
/// std::thread::spawn(move || other.publish("market_data", "sz000651.kline.5m", "later").unwrap());
/// client.run().unwrap(); // until client.stop() from a callback or another thread
/// ```
#[derive(Clone)]
pub struct BlockingClient {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for BlockingClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockingClient")
            .field("host", &self.inner.opts.host)
            .field("username", &self.inner.opts.username)
            .field("running", &self.is_running())
            .finish_non_exhaustive()
    }
}

impl BlockingClient {
    /// A client that connects when [`BlockingClient::run`] is called.
    pub fn new(opts: ClientOptions) -> Self {
        BlockingClient {
            inner: Arc::new(Inner {
                opts,
                state: Mutex::new(Registered { subs: Vec::new(), pubs: Vec::new(), running: None }),
                stop: Notify::new(),
            }),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, Registered> {
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn running(&self) -> Option<(Client, Handle)> {
        self.state().running.clone()
    }

    /// True between the moment `run` is connected and its return.
    pub fn is_running(&self) -> bool {
        self.state().running.is_some()
    }

    /// The async client underneath while running (queries, events, stats).
    pub fn client(&self) -> Option<Client> {
        self.running().map(|(c, _)| c)
    }

    /// Calls `callback` for every message of `namespace` matching `pattern`.
    /// Before `run`: registered, subscribed when `run` connects. While
    /// running: subscribed at once (from a callback, in the background —
    /// a failure then shows in [`Client::take_async_errors`]).
    pub fn subscribe(
        &self,
        namespace: &str,
        pattern: &str,
        callback: impl FnMut(Message) + Send + 'static,
    ) -> Result<()> {
        pulsemq_shared::validate_namespace(namespace)?;
        pulsemq_shared::Pattern::parse(pattern)?;
        let cb: Callback = Box::new(callback);
        let Some((client, handle)) = self.running() else {
            self.state().subs.push((namespace.to_owned(), pattern.to_owned(), cb));
            return Ok(());
        };
        let (ns, pat) = (namespace.to_owned(), pattern.to_owned());
        if Handle::try_current().is_ok() {
            handle.spawn(async move {
                match client.subscribe(&ns, &pat).await {
                    Ok(sub) => deliver(sub, cb).await,
                    Err(e) => client.push_async_error(e),
                }
            });
            return Ok(());
        }
        let sub = handle.block_on(client.subscribe(&ns, &pat))?;
        handle.spawn(deliver(sub, cb));
        Ok(())
    }

    /// Publishes with the client's default compression. Before `run`:
    /// registered, sent by `run` right after connecting. While running, from
    /// any thread: sent, waiting for the ACK. From inside a callback (the
    /// run thread, which must not block): sent in the background, a failure
    /// shows in [`Client::take_async_errors`].
    pub fn publish(&self, namespace: &str, topic: &str, payload: impl Into<Payload>) -> Result<()> {
        let opts = PublishOptions {
            compression: self.inner.opts.compression,
            threshold: self.inner.opts.compression_threshold,
            no_ack: false,
        };
        self.publish_with(namespace, topic, payload.into(), opts)
    }

    /// [`BlockingClient::publish`] with explicit [`PublishOptions`].
    pub fn publish_with(&self, namespace: &str, topic: &str, payload: Payload, opts: PublishOptions) -> Result<()> {
        pulsemq_shared::validate_namespace(namespace)?;
        pulsemq_shared::validate_topic(topic)?;
        payload.format().check_size(payload.len())?;
        let Some((client, handle)) = self.running() else {
            self.state().pubs.push((namespace.to_owned(), topic.to_owned(), payload, opts));
            return Ok(());
        };
        let (ns, t) = (namespace.to_owned(), topic.to_owned());
        if Handle::try_current().is_ok() {
            handle.spawn(async move {
                if let Err(e) = client.publish_with(&ns, &t, payload, opts).await {
                    client.push_async_error(e);
                }
            });
            return Ok(());
        }
        // The publish future needs no timer or I/O driver (the client's
        // I/O thread does that work), so any thread can wait on it.
        handle.block_on(client.publish_with(&ns, &t, payload, opts)).map(|_| ())
    }

    /// Makes `run` return (callable before it starts, from a callback or
    /// from another thread).
    pub fn stop(&self) {
        self.inner.stop.notify_one();
    }

    /// Connects, authenticates, subscribes the registered patterns, sends
    /// the registered publishes, then delivers messages to the callbacks
    /// until [`BlockingClient::stop`]. Returns `Err` when connecting or a
    /// registered publish fails, or when the connection is lost for good
    /// (reconnection gave up: [`ClientError::Disconnected`]).
    pub fn run(&self) -> Result<()> {
        if self.is_running() {
            return Err(ClientError::Io("run() is already running".into()));
        }
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| ClientError::Io(format!("cannot start a runtime: {e}")))?;
        let result = rt.block_on(self.run_inner());
        self.state().running = None;
        result
    }

    async fn run_inner(&self) -> Result<()> {
        let client = Client::connect(self.inner.opts.clone()).await?;
        let mut events = client.events();
        let (subs, pubs) = {
            let mut st = self.state();
            (std::mem::take(&mut st.subs), std::mem::take(&mut st.pubs))
        };
        let outcome = async {
            for (ns, pattern, cb) in subs {
                let sub = client.subscribe(&ns, &pattern).await?;
                tokio::spawn(deliver(sub, cb));
            }
            self.state().running = Some((client.clone(), Handle::current()));
            for (ns, topic, payload, opts) in pubs {
                client.publish_with(&ns, &topic, payload, opts).await?;
            }
            loop {
                tokio::select! {
                    _ = self.inner.stop.notified() => return Ok(()),
                    ev = events.next() => if ev.is_none() {
                        // The client stopped by itself: reconnection gave up.
                        return Err(ClientError::Disconnected);
                    },
                }
            }
        }
        .await;
        self.state().running = None;
        client.close().await;
        outcome
    }
}

/// Feeds one subscription to its callback until the stream ends.
async fn deliver(mut sub: crate::Subscription, mut cb: Callback) {
    while let Some(m) = sub.next().await {
        cb(m);
    }
}
