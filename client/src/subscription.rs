//! [`Subscription`]: a stream of the messages one pattern matches.

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures_core::Stream;
use tokio::sync::oneshot;

use crate::command::Command;
use crate::dispatch::LocalId;
use crate::error::{ClientError, Result};
use crate::handle::Shared;
use crate::message::Message;
use crate::queue::QueueRx;

/// The messages matching one (namespace, pattern), as a [`Stream`].
///
/// Created by [`Client::subscribe`](crate::Client::subscribe). Several
/// subscriptions on one client each receive exactly what their own pattern
/// matches, even when patterns overlap (the broker sends each message once
/// per client; the client fans it out).
///
/// Messages wait in a bounded buffer
/// ([`ClientOptions::subscription_capacity`](crate::ClientOptions::subscription_capacity)).
/// When it is full, new messages for this subscription are dropped and
/// counted in [`Subscription::dropped`]; the client's I/O never waits for a
/// slow consumer, so heartbeats and other subscriptions are unaffected. The
/// broker's per-topic sequence numbers ([`Message::seq`]) show the gap.
///
/// Dropping a subscription unsubscribes it (in the background);
/// [`Subscription::unsubscribe`] does the same and waits for the broker.
/// The stream ends (`None`) when the client is closed.
pub struct Subscription {
    id: LocalId,
    namespace: String,
    pattern: String,
    rx: QueueRx,
    dropped: Arc<AtomicU64>,
    shared: Arc<Shared>,
    active: bool,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("namespace", &self.namespace)
            .field("pattern", &self.pattern)
            .field("dropped", &self.dropped())
            .finish_non_exhaustive()
    }
}

impl Subscription {
    pub(crate) fn new(
        id: LocalId,
        namespace: String,
        pattern: String,
        rx: QueueRx,
        dropped: Arc<AtomicU64>,
        shared: Arc<Shared>,
    ) -> Self {
        Subscription { id, namespace, pattern, rx, dropped, shared, active: true }
    }

    /// Marks the subscription as already gone on the I/O side (failed SUB).
    pub(crate) fn forget(mut self) {
        self.active = false;
    }

    /// The next message, decompressed; `None` once the client is closed.
    pub async fn next(&mut self) -> Option<Message> {
        std::future::poll_fn(|cx| self.poll_message(cx)).await
    }

    /// Like [`next`](Self::next), but busy-polls for up to `budget` before
    /// it parks.
    ///
    /// Why: waking a parked thread costs microseconds, and tens of them on a
    /// virtual machine whose idle CPU has to be woken first; at a steady
    /// 10 000 msg/s that wake-up is most of the end-to-end latency (see
    /// *Performance* in the README). A consumer that spins while the next
    /// message is due takes it as soon as the I/O thread has it, for the
    /// price of one CPU kept busy for up to `budget` after each message;
    /// with nothing arriving it parks like `next`. Use it on a thread of its
    /// own (for example `Handle::block_on` on a dedicated thread): on a
    /// shared async runtime it holds its worker for up to `budget`. And
    /// only with a CPU to spare: where the other threads of the process and
    /// the broker already keep every CPU busy, the spinning takes time from
    /// them and latency gets worse, not better (measured on a 2-vCPU VM,
    /// see *Performance* in the README).
    pub async fn next_spin(&mut self, budget: Duration) -> Option<Message> {
        let start = Instant::now();
        loop {
            if let Some(m) = self.try_next() {
                return Some(m);
            }
            if start.elapsed() >= budget {
                return self.next().await;
            }
            std::hint::spin_loop();
        }
    }

    /// A message already buffered, without waiting.
    pub fn try_next(&mut self) -> Option<Message> {
        loop {
            let m = self.rx.try_recv()?;
            if let Some(m) = self.inflate(m) {
                return Some(m);
            }
        }
    }

    /// Decompresses on the consumer's task; a message that cannot be is
    /// skipped and reported (event, async error, counter).
    fn inflate(&self, m: Message) -> Option<Message> {
        if m.flags & pulsemq_shared::header::flags::COMPRESSED == 0 {
            return Some(m);
        }
        let (namespace, topic, seq) = (m.namespace.clone(), m.topic.clone(), m.seq);
        match m.inflate() {
            Ok(m) => Some(m),
            Err(error) => {
                let tel = &self.shared.tel;
                tracing::warn!("{namespace}/{topic} seq {seq} skipped: {error}");
                crate::stats::bump(&tel.counters.undecodable, 1);
                tel.push_error(0, error.clone());
                tel.emit(crate::events::Event::Undecodable { namespace, topic, seq, error });
                None
            }
        }
    }

    fn poll_message(&mut self, cx: &mut Context<'_>) -> Poll<Option<Message>> {
        loop {
            match self.rx.poll_recv(cx) {
                Poll::Ready(Some(m)) => {
                    if let Some(m) = self.inflate(m) {
                        return Poll::Ready(Some(m));
                    }
                }
                other => return other,
            }
        }
    }

    /// Namespace subscribed in.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The pattern, as normalised by the client (e.g. `sz000651.kline.>`).
    pub fn pattern(&self) -> &str {
        &self.pattern
    }

    /// Messages dropped for this subscription because its buffer was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Unsubscribes and waits until the broker confirms (when this was the
    /// last local subscription of its pattern; otherwise returns at once).
    /// Messages still buffered are discarded.
    pub async fn unsubscribe(mut self) -> Result<()> {
        self.active = false;
        let (tx, rx) = oneshot::channel();
        self.shared.send_ctl(Command::Unsubscribe { local: self.id, reply: Some(tx) })?;
        rx.await.map_err(|_| ClientError::Disconnected)?
    }
}

impl Stream for Subscription {
    type Item = Message;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Message>> {
        self.get_mut().poll_message(cx)
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        if self.active {
            let _ = self.shared.send_ctl(Command::Unsubscribe { local: self.id, reply: None });
        }
    }
}
