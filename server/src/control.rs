//! Messages crossing between the async side (admin API, storage, timers) and
//! the engine thread.
//!
//! - [`Control`] goes *to* the engine through [`EngineHandle`]: a std channel
//!   plus a one-byte wake-up on an inproc socket the engine polls, so a
//!   command is handled within one poll iteration, not at the next timeout.
//! - [`StoreEvent`] comes *from* the engine to the batching writer task
//!   through a bounded tokio channel; the engine uses `try_send` and counts
//!   what it had to drop, so a slow disk never stalls message routing.

use std::sync::{mpsc, Arc, Mutex};

use crate::perms::PermSnapshot;

/// Reply channel for a control request answered by the engine.
pub type Reply<T> = tokio::sync::oneshot::Sender<T>;

/// One live session as the admin side may see it (never the routing id).
/// The engine fills in the API's own DTO, so there is one definition of
/// what a connection looks like from the engine to the console.
pub use pulsemq_shared::dto::Connection as ConnectionInfo;

/// Requests to the engine.
#[derive(Debug)]
pub enum Control {
    /// A fresh permission snapshot: swap it in and re-check live sessions
    /// (inactive or deleted users are disconnected, revoked namespaces lose
    /// their subscriptions). Replies once applied.
    SetPermissions(Arc<PermSnapshot>, Option<Reply<()>>),
    /// End every session of a user; replies with how many were ended.
    KickUser { user_id: i64, reply: Option<Reply<usize>> },
    /// Forget a topic (deleted through the admin API).
    ForgetTopic { namespace: String, topic: String },
    /// Forget a namespace and its topics.
    ForgetNamespace { namespace: String },
    /// List live sessions.
    Connections(Reply<Vec<ConnectionInfo>>),
    /// Publish one message in an account's name with its permissions (the
    /// console's test publish); replies with the topic sequence number, or
    /// the error code and text a client's PUB would have been answered with.
    Publish(Box<AdminPublish>),
    /// Start copying the publishes of (namespace, pattern) to `tx` for the
    /// console's message browser, if `username` may subscribe there; replies
    /// with the watcher's id (for [`Control::Unwatch`]) or the refusal.
    Watch {
        username: String,
        namespace: String,
        pattern: String,
        tx: tokio::sync::mpsc::Sender<crate::engine::tap::Tapped>,
        reply: Reply<Result<u64, (pulsemq_shared::ErrorCode, String)>>,
    },
    /// Stop a watcher (its stream ended).
    Unwatch { id: u64 },
    /// Stop: close the sockets and return from the engine loop.
    Shutdown,
}

/// A publish from the admin API (see [`Control::Publish`]).
#[derive(Debug)]
pub struct AdminPublish {
    pub username: String,
    pub namespace: String,
    pub topic: String,
    pub format: pulsemq_shared::Format,
    pub payload: Vec<u8>,
    pub reply: Reply<Result<u64, (pulsemq_shared::ErrorCode, String)>>,
}

/// Events the engine hands to the storage writer.
#[derive(Debug, Clone, PartialEq)]
pub enum StoreEvent {
    /// A (namespace, topic) published for the first time since start-up and
    /// not known from the database. Super users may create namespaces this way.
    TopicSeen { namespace: String, topic: String, created_by: String },
    /// A failed MQ authentication (audited).
    AuthFailure { username: String, peer: String, reason: String },
}

/// The async side's handle on the engine.
#[derive(Clone)]
pub struct EngineHandle {
    tx: mpsc::Sender<Control>,
    waker: Arc<Mutex<zmq::Socket>>,
}

/// inproc endpoint the engine polls for wake-ups.
pub const WAKE_ENDPOINT: &str = "inproc://pulsemq-control";

impl EngineHandle {
    /// Creates the handle side; `ctx` must be the engine's context and the
    /// engine must have bound [`WAKE_ENDPOINT`] already.
    pub fn new(ctx: &zmq::Context, tx: mpsc::Sender<Control>) -> crate::Result<Self> {
        let s = ctx.socket(zmq::PUSH)?;
        s.set_sndhwm(0)?;
        s.set_linger(0)?;
        s.connect(WAKE_ENDPOINT)?;
        Ok(EngineHandle { tx, waker: Arc::new(Mutex::new(s)) })
    }

    /// Queues a command and wakes the engine. Fails only if the engine has stopped.
    pub fn send(&self, c: Control) -> crate::Result<()> {
        self.tx.send(c).map_err(|_| crate::Error::Other("broker engine has stopped".into()))?;
        let guard = self.waker.lock().map_err(|_| crate::Error::Other("engine waker poisoned".into()))?;
        // A full pipe means a wake-up is already pending: nothing is lost.
        let _ = guard.send(&[][..], zmq::DONTWAIT);
        Ok(())
    }

    /// Sends a request and awaits the engine's reply.
    pub async fn request<T>(&self, make: impl FnOnce(Reply<T>) -> Control) -> crate::Result<T> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.send(make(tx))?;
        rx.await.map_err(|_| crate::Error::Other("broker engine has stopped".into()))
    }
}
