//! The async API: [`Client`] and what it returns.

use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::{Duration, Instant};

use pulsemq_shared::payloads::{NamespaceInfo, PermissionInfo, QueryRequest, PUB_OK};
use pulsemq_shared::{validate_namespace, validate_topic, Compression, Format, MsgType, Pattern};
use serde::de::DeserializeOwned;
use tokio::sync::{mpsc, oneshot};

use crate::command::Command;
use crate::compression::maybe_compress;
use crate::dispatch::LocalSub;
use crate::error::{ClientError, Result};
use crate::events::Events;
use crate::handle::Shared;
use crate::io_thread::{IoThread, Parts};
use crate::options::ClientOptions;
use crate::payload::Payload;
use crate::sockets;
use crate::stats::{AsyncError, ClientStats, SessionInfo, Telemetry};
use crate::subscription::Subscription;
use crate::wire::{self, WireFrame};

/// The broker's acknowledgement of a publish.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublishAck {
    /// Request id the publish carried.
    pub request_id: u32,
    /// Compression actually applied on the wire (`None` when below the
    /// threshold, not requested, or not worth it).
    pub compression: Option<Compression>,
    /// Bytes sent as payload (after compression).
    pub wire_size: usize,
}

/// Per-publish choices for [`Client::publish_with`].
///
/// ```
/// use pulsemq_client::{Compression, PublishOptions};
/// let o = PublishOptions::new().compression(Compression::Zstd).threshold(512);
/// assert_eq!(o.compression, Some(Compression::Zstd));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PublishOptions {
    /// Algorithm to compress with (`None` = send as is).
    pub compression: Option<Compression>,
    /// Payloads smaller than this are sent uncompressed.
    pub threshold: usize,
    /// Fire and forget (NO_ACK): return once queued; the broker answers only
    /// failures, which surface through [`Client::take_async_errors`].
    pub no_ack: bool,
}

impl PublishOptions {
    /// No compression, waits for the ACK.
    pub fn new() -> Self {
        Self::default()
    }

    /// Compresses with `algo` (above [`PublishOptions::threshold`]).
    pub fn compression(mut self, algo: Compression) -> Self {
        self.compression = Some(algo);
        self
    }

    /// Sets [`PublishOptions::threshold`].
    pub fn threshold(mut self, bytes: usize) -> Self {
        self.threshold = bytes;
        self
    }

    /// Sets [`PublishOptions::no_ack`].
    pub fn no_ack(mut self, on: bool) -> Self {
        self.no_ack = on;
        self
    }
}

struct Inner {
    shared: Arc<Shared>,
    opts: ClientOptions,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // The last handle is gone: say BYE and stop the I/O thread.
        let _ = self.shared.send_ctl(Command::Close { reply: None });
    }
}

/// A publish handed to the I/O thread (or waiting for room): what
/// [`Client::publish_with`] still has to await.
struct Queued {
    ack: PublishAck,
    /// The command, when the queue was full.
    full: Option<Box<Command>>,
    /// The ACK's receiver (none for NO_ACK).
    reply: Option<oneshot::Receiver<Result<Vec<u8>>>>,
}

/// An authenticated connection to a PulseMQ broker.
///
/// Cheap to clone; clones share one connection (one I/O thread, one
/// session). Every method may be called concurrently from many tasks:
/// requests are pipelined and paired with their replies by request id.
/// Dropping the last clone closes the connection like [`Client::close`],
/// without waiting.
///
/// ```no_run
/// use pulsemq_client::{Client, ClientOptions, Format};
///
/// # async fn demo() -> pulsemq_client::Result<()> {
/// let opts = ClientOptions::new("127.0.0.1", 5555, 5556, "alice", "token");
/// let client = Client::connect(opts).await?;
/// let mut sub = client.subscribe("market_data", "sz000651.kline.>").await?;
/// client
///     .publish("market_data", "sz000651.kline.1m", Format::String, r#"{"close":10.55}"#)
///     .await?;
/// let msg = sub.next().await.expect("one message");
/// assert_eq!(msg.topic, "sz000651.kline.1m");
/// client.close().await;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("host", &self.inner.opts.host)
            .field("pub_port", &self.inner.opts.pub_port)
            .field("sub_port", &self.inner.opts.sub_port)
            .field("username", &self.inner.opts.username)
            .finish_non_exhaustive()
    }
}

/// Checks a publish before it leaves the process.
fn check_publish(namespace: &str, topic: &str, format: Format, payload: &[u8]) -> Result<()> {
    validate_namespace(namespace)?;
    validate_topic(topic)?;
    format.check_size(payload.len())?;
    if format == Format::String && std::str::from_utf8(payload).is_err() {
        return Err(ClientError::InvalidPayload("STRING payload is not valid UTF-8".into()));
    }
    Ok(())
}

impl Client {
    /// Connects to both ports, authenticates (AUTH) and attaches the
    /// delivery socket (ATTACH). Fails with [`ClientError::AuthFailed`],
    /// [`ClientError::AttachFailed`], [`ClientError::ConnectionLimit`],
    /// [`ClientError::Timeout`] (no broker within `connect_timeout`), …
    pub async fn connect(opts: ClientOptions) -> Result<Client> {
        let sockets::OpenSockets { cmd, dlv, mon, pull, push } = sockets::open_sockets(&opts)?;
        let (data_tx, data_rx) = mpsc::channel(opts.command_capacity.max(1));
        let (ctl_tx, ctl_rx) = mpsc::unbounded_channel();
        let tel = Arc::new(Telemetry::new());
        let (ready_tx, ready_rx) = oneshot::channel();
        let parts = Parts { cmd, dlv, wake: pull, mon, data_rx, ctl_rx };
        let io = IoThread::new(opts.clone(), parts, tel.clone(), ready_tx)?;
        let slot = io.cmd_slot();
        std::thread::Builder::new()
            .name("pulsemq-client-io".into())
            .spawn(move || io.run())
            .map_err(|e| ClientError::Io(format!("cannot start the I/O thread: {e}")))?;
        let shared = Arc::new(Shared::new(data_tx, ctl_tx, push, slot, tel));
        let client = Client { inner: Arc::new(Inner { shared, opts }) };
        // The I/O thread enforces connect_timeout; this is only a backstop.
        let backstop = client.inner.opts.connect_timeout * 2 + Duration::from_secs(1);
        match tokio::time::timeout(backstop, ready_rx).await {
            Ok(Ok(Ok(_info))) => Ok(client),
            Ok(Ok(Err(e))) => Err(e),
            Ok(Err(_)) => Err(ClientError::Disconnected),
            Err(_) => Err(ClientError::Timeout(client.inner.opts.connect_timeout)),
        }
    }

    fn shared(&self) -> &Arc<Shared> {
        &self.inner.shared
    }

    /// Sends prepared frames and waits for the ACK body.
    async fn request(&self, id: u32, frames: WireFrame, publish: bool) -> Result<Vec<u8>> {
        let (tx, rx) = oneshot::channel();
        self.shared().send(Command::Send { id, frames, reply: Some(tx), publish, resent: false }).await?;
        rx.await.map_err(|_| ClientError::Disconnected)?
    }

    fn next_id(&self) -> u32 {
        self.shared().tel.ids.next()
    }

    /// Publishes `payload` to `namespace`/`topic` and waits for the broker's
    /// PUB_OK. Calls from many tasks are pipelined: each waits only for its
    /// own ACK. Compression follows [`ClientOptions::compression`].
    ///
    /// Names and the format's size limit are checked first
    /// ([`ClientError::InvalidName`], [`ClientError::TooLarge`]); a STRING
    /// payload must be UTF-8.
    pub async fn publish(
        &self,
        namespace: &str,
        topic: &str,
        format: Format,
        payload: impl Into<Vec<u8>>,
    ) -> Result<PublishAck> {
        let opts = self.default_publish_options();
        self.publish_with(namespace, topic, Payload::raw(format, payload), opts).await
    }

    /// Publishes an encoded [`Payload`] (text, bytes, records, Arrow) with
    /// the client's default compression, waiting for the ACK.
    pub async fn publish_payload(
        &self,
        namespace: &str,
        topic: &str,
        payload: impl Into<Payload>,
    ) -> Result<PublishAck> {
        let opts = self.default_publish_options();
        self.publish_with(namespace, topic, payload.into(), opts).await
    }

    /// Publishes with explicit [`PublishOptions`] (compression, NO_ACK).
    ///
    /// The format's limit applies to the payload *before* compression (the
    /// receiver must be able to inflate it); it is checked here, before
    /// anything is sent. With `no_ack` the call returns once the message is
    /// queued.
    pub async fn publish_with(
        &self,
        namespace: &str,
        topic: &str,
        payload: Payload,
        opts: PublishOptions,
    ) -> Result<PublishAck> {
        let Queued { ack, full, reply } = self.queue_publish(namespace, topic, payload, opts)?;
        if let Some(c) = full {
            self.shared().send_full(c).await?;
        }
        if let Some(rx) = reply {
            let body = rx.await.map_err(|_| ClientError::Disconnected)??;
            // Protocol 6 confirms publishes with a binary cumulative ACK
            // (no body); a JSON body, if any, must say PUB_OK.
            if !body.is_empty() {
                wire::expect_status(&body, PUB_OK)?;
            }
        }
        Ok(ack)
    }

    /// Everything a publish does before it waits: checks, compression,
    /// frames, queueing (or the command back when the queue is full), and
    /// the receiver of its ACK unless NO_ACK. Kept out of the async fn so
    /// that only a few words live across its awaits: callers keeping
    /// thousands of publishes in flight allocate and move each future. A
    /// `publish` future was 1 120 bytes while it held the frames and the
    /// channel's send future, and is 264 now (callgrind, `pulsemq-bench
    /// --drive sdk-ack`: −1.4k instructions per publish on the caller's
    /// thread, a quarter of it).
    fn queue_publish(&self, namespace: &str, topic: &str, payload: Payload, opts: PublishOptions) -> Result<Queued> {
        let (format, bytes) = payload.into_parts();
        check_publish(namespace, topic, format, &bytes)?;
        let (bytes, bits) = maybe_compress(opts.compression, opts.threshold, bytes)?;
        let ack = PublishAck {
            request_id: self.next_id(),
            compression: Compression::from_flags(bits).ok().flatten(),
            wire_size: bytes.len(),
        };
        let id = ack.request_id;
        let (flag_bits, reply, rx) = if opts.no_ack {
            (bits | pulsemq_shared::header::flags::NO_ACK, None, None)
        } else {
            let (tx, rx) = oneshot::channel();
            (bits, Some(tx), Some(rx))
        };
        // One clock read serves the header's timestamp and the burst rule
        // of the direct path (each read is ~40 ns on a VM: a tenth of a
        // publish's own cost).
        let now_ns = pulsemq_shared::header::now_ns();
        let mut frames = wire::publish(id, namespace, topic, format, flag_bits, &bytes, (now_ns / 1_000_000) as i64);
        if reply.is_none() && self.shared().send_direct(&mut frames, now_ns) {
            return Ok(Queued { ack, full: None, reply: None });
        }
        let full = self.shared().try_send(Command::Send { id, frames, reply, publish: true, resent: false })?;
        Ok(Queued { ack, full, reply: rx })
    }

    fn default_publish_options(&self) -> PublishOptions {
        PublishOptions {
            compression: self.inner.opts.compression,
            threshold: self.inner.opts.compression_threshold,
            no_ack: false,
        }
    }

    /// Publishes without waiting for the broker (NO_ACK): returns the
    /// request id as soon as the message is queued for sending.
    ///
    /// The broker answers a NO_ACK publish only when it fails; such failures
    /// are collected with this request id and read with
    /// [`Client::take_async_errors`] (and counted in [`ClientStats::async_errors`]).
    /// Local checks (names, size) still fail here, synchronously.
    pub async fn publish_no_ack(
        &self,
        namespace: &str,
        topic: &str,
        format: Format,
        payload: impl Into<Vec<u8>>,
    ) -> Result<u32> {
        let opts = self.default_publish_options().no_ack(true);
        self.publish_with(namespace, topic, Payload::raw(format, payload), opts).await.map(|a| a.request_id)
    }

    /// A new stream of connection and data-quality [`Events`](crate::Event)
    /// (disconnects, reconnects, sequence gaps, slow subscriptions). Each
    /// call gets its own stream, receiving events from now on.
    pub fn events(&self) -> Events {
        Events::new(self.shared().tel.listen(self.inner.opts.events_capacity))
    }

    /// Subscribes to the topics of `namespace` matching `pattern` (`*` = one
    /// level, `>` = one or more trailing levels) and returns them as a
    /// [`Subscription`] stream, once the broker has confirmed (SUB_OK).
    pub async fn subscribe(&self, namespace: &str, pattern: &str) -> Result<Subscription> {
        self.subscribe_inner(namespace, pattern, false).await
    }

    /// Like [`Client::subscribe`], but the broker first replays the last
    /// message of every matching topic (its last-value cache); those
    /// messages have [`Message::snapshot`](crate::Message::snapshot) set. Replayed
    /// messages go only to subscriptions that asked for a snapshot.
    pub async fn subscribe_with_snapshot(&self, namespace: &str, pattern: &str) -> Result<Subscription> {
        self.subscribe_inner(namespace, pattern, true).await
    }

    async fn subscribe_inner(&self, namespace: &str, pattern: &str, snapshot: bool) -> Result<Subscription> {
        validate_namespace(namespace)?;
        let pattern = Pattern::parse(pattern)?;
        let shared = self.shared();
        let (tx, rx) = crate::queue::queue(self.inner.opts.subscription_capacity.max(1));
        let dropped = Arc::new(AtomicU64::new(0));
        let id = shared.next_local_id();
        let local = LocalSub { id, tx, dropped: dropped.clone(), snapshot, dropping: Default::default() };
        // Built before sending, so that a cancelled call unsubscribes on drop.
        let sub = Subscription::new(id, namespace.to_owned(), pattern.to_string(), rx, dropped, shared.clone());
        let (reply, done) = oneshot::channel();
        shared.send_ctl(Command::Subscribe { namespace: namespace.to_owned(), pattern, snapshot, local, reply })?;
        match done.await {
            Ok(Ok(())) => Ok(sub),
            Ok(Err(e)) => {
                sub.forget();
                Err(e)
            }
            Err(_) => {
                sub.forget();
                Err(ClientError::Disconnected)
            }
        }
    }

    /// Unsubscribes (same as [`Subscription::unsubscribe`]). UNSUB goes on
    /// the wire only when no other local subscription uses the same
    /// (namespace, pattern).
    pub async fn unsubscribe(&self, subscription: Subscription) -> Result<()> {
        subscription.unsubscribe().await
    }

    async fn query<T: DeserializeOwned>(&self, q: QueryRequest) -> Result<T> {
        let id = self.next_id();
        let body = self.request(id, wire::query(id, &q), false).await?;
        wire::parse_query_data(&body)
    }

    /// Namespaces this user may see, with their topics.
    pub async fn query_namespaces(&self) -> Result<Vec<NamespaceInfo>> {
        self.query(QueryRequest::Namespaces).await
    }

    /// Topics of one namespace, sorted by name.
    pub async fn query_topics(&self, namespace: &str) -> Result<Vec<String>> {
        validate_namespace(namespace)?;
        self.query(QueryRequest::Topics { namespace: namespace.to_owned() }).await
    }

    /// This user's type and role per namespace.
    pub async fn query_permission(&self) -> Result<PermissionInfo> {
        self.query(QueryRequest::Permission { topic: None }).await
    }

    /// Sends a PING and returns the round-trip time to the PONG.
    pub async fn ping(&self) -> Result<Duration> {
        let id = self.next_id();
        let start = Instant::now();
        self.request(id, wire::control(MsgType::Ping, id), false).await?;
        Ok(start.elapsed())
    }

    /// Ends the session: sends BYE, waits briefly for the reply, closes the
    /// sockets and stops the I/O thread. Requests still waiting fail with
    /// [`ClientError::Disconnected`]; subscription streams end. Calling it
    /// again, or on another clone, does nothing.
    pub async fn close(&self) {
        let (tx, rx) = oneshot::channel();
        if self.shared().send_ctl(Command::Close { reply: Some(tx) }).is_ok() {
            let _ = rx.await;
        }
    }

    /// Takes the asynchronous errors recorded since the last call (oldest
    /// first; at most [`ASYNC_ERROR_CAPACITY`](crate::ASYNC_ERROR_CAPACITY) are kept).
    /// See [`AsyncError`].
    pub fn take_async_errors(&self) -> Vec<AsyncError> {
        self.shared().tel.take_errors()
    }

    /// The client's counters.
    pub fn stats(&self) -> ClientStats {
        self.shared().tel.snapshot()
    }

    /// The current session, `None` while (re)authenticating or after close.
    pub fn session(&self) -> Option<SessionInfo> {
        self.shared().tel.session()
    }

    /// True while a session is established.
    pub fn is_connected(&self) -> bool {
        self.session().is_some()
    }

    /// Records a failure nobody awaits (background work of the blocking API).
    pub(crate) fn push_async_error(&self, e: ClientError) {
        self.shared().tel.push_error(0, e);
    }

    /// The options this client was created with.
    pub fn options(&self) -> &ClientOptions {
        &self.inner.opts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publish_checks() {
        assert!(check_publish("md", "a.b", Format::Bytes, b"x").is_ok());
        assert!(matches!(check_publish("system", "a", Format::Bytes, b"x"), Err(ClientError::InvalidName(_))));
        assert!(matches!(check_publish("md", "a.*", Format::Bytes, b"x"), Err(ClientError::InvalidName(_))));
        assert!(matches!(check_publish("md", "a", Format::String, &[0xff]), Err(ClientError::InvalidPayload(_))));
        let big = vec![b'a'; Format::String.limit() + 1];
        assert!(matches!(check_publish("md", "a", Format::String, &big), Err(ClientError::TooLarge { .. })));
        let exact = vec![b'a'; Format::String.limit()];
        assert!(check_publish("md", "a", Format::String, &exact).is_ok());
    }
}
