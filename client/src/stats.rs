//! Counters and asynchronous errors shared by the I/O thread and the API.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::mpsc;

use crate::error::ClientError;
use crate::events::Event;
use crate::pending::IdGen;

/// Most asynchronous errors kept until [`Client::take_async_errors`](crate::Client::take_async_errors)
/// reads them; older ones are discarded and counted in [`ClientStats::async_errors_discarded`].
pub const ASYNC_ERROR_CAPACITY: usize = 1024;

/// A failure that no caller was waiting for.
///
/// Mostly a NO_ACK publish the broker refused (the broker answers NO_ACK
/// publishes only on failure); also replies that arrive after their request
/// timed out, failed re-subscriptions after a re-authentication, and the
/// reason the client stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AsyncError {
    /// Request id the broker's reply carried (the value
    /// [`Client::publish_no_ack`](crate::Client::publish_no_ack) returned), 0 when none.
    pub request_id: u32,
    /// What went wrong.
    pub error: ClientError,
}

/// A snapshot of the client's counters (see [`Client::stats`](crate::Client::stats)).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClientStats {
    /// PUB messages handed over for sending (with and without ACK).
    pub published: u64,
    /// Of those, NO_ACK publishes sent from the caller's own thread because
    /// the I/O thread was idle with nothing queued (one thread wake-up less
    /// each); the rest went through the I/O thread.
    pub sent_direct: u64,
    /// MSG deliveries received from the broker.
    pub received: u64,
    /// Copies handed to local subscriptions (one delivery can feed several).
    pub dispatched: u64,
    /// Copies dropped because a subscription's channel was full.
    pub dropped: u64,
    /// Deliveries no local subscription matched (e.g. just after an unsubscribe).
    pub unmatched: u64,
    /// Asynchronous errors recorded (see [`AsyncError`]).
    pub async_errors: u64,
    /// Asynchronous errors discarded because nobody read them in time.
    pub async_errors_discarded: u64,
    /// Requests that got no reply within their timeout.
    pub timeouts: u64,
    /// Heartbeat PINGs that got no PONG within `ping_timeout`.
    pub missed_pongs: u64,
    /// Automatic re-authentications (each lost session counts once).
    pub reauths: u64,
    /// Sessions re-established after a loss.
    pub reconnects: u64,
    /// Sequence gaps detected (see [`Event::SequenceGap`]).
    pub gaps: u64,
    /// Messages missed according to those gaps.
    pub missed: u64,
    /// Requests sent again in a new session after their session was lost.
    pub resent: u64,
    /// Messages skipped because they could not be decompressed.
    pub undecodable: u64,
    /// Events dropped because an [`Events`](crate::Events) stream was full.
    pub events_lost: u64,
}

/// Session parameters from the last successful AUTH.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    /// The broker's id of the authenticated user.
    pub user_id: i64,
    /// Protocol version the broker speaks (5).
    pub protocol: u8,
    /// Heartbeat period the client uses.
    pub ping_interval: Duration,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub published: AtomicU64,
    pub sent_direct: AtomicU64,
    pub received: AtomicU64,
    pub dispatched: AtomicU64,
    pub dropped: AtomicU64,
    pub unmatched: AtomicU64,
    pub async_errors: AtomicU64,
    pub async_errors_discarded: AtomicU64,
    pub timeouts: AtomicU64,
    pub missed_pongs: AtomicU64,
    pub reauths: AtomicU64,
    pub reconnects: AtomicU64,
    pub gaps: AtomicU64,
    pub missed: AtomicU64,
    pub resent: AtomicU64,
    pub undecodable: AtomicU64,
    pub events_lost: AtomicU64,
}

/// Adds to a counter.
pub(crate) fn bump(c: &AtomicU64, n: u64) {
    c.fetch_add(n, Ordering::Relaxed);
}

/// State shared by the API handles and the I/O thread.
#[derive(Debug)]
pub(crate) struct Telemetry {
    pub ids: IdGen,
    pub counters: Counters,
    /// Set by a sender that has sent a wake-up the I/O thread has not consumed yet.
    pub wake_pending: AtomicBool,
    async_errors: Mutex<VecDeque<AsyncError>>,
    session: Mutex<Option<SessionInfo>>,
    listeners: Mutex<Vec<mpsc::Sender<Event>>>,
}

impl Telemetry {
    pub(crate) fn new() -> Self {
        Telemetry {
            ids: IdGen::new(),
            counters: Counters::default(),
            wake_pending: AtomicBool::new(false),
            async_errors: Mutex::new(VecDeque::new()),
            session: Mutex::new(None),
            listeners: Mutex::new(Vec::new()),
        }
    }

    /// Adds an event listener.
    pub(crate) fn listen(&self, capacity: usize) -> mpsc::Receiver<Event> {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        self.listeners.lock().unwrap_or_else(|e| e.into_inner()).push(tx);
        rx
    }

    /// Hands an event to every listener without waiting; full listeners lose it.
    pub(crate) fn emit(&self, ev: Event) {
        let mut l = self.listeners.lock().unwrap_or_else(|e| e.into_inner());
        if l.is_empty() {
            return;
        }
        l.retain(|tx| match tx.try_send(ev.clone()) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                bump(&self.counters.events_lost, 1);
                true
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        });
    }

    /// Ends every event stream (the client stopped).
    pub(crate) fn close_listeners(&self) {
        self.listeners.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    pub(crate) fn push_error(&self, request_id: u32, error: ClientError) {
        bump(&self.counters.async_errors, 1);
        let mut q = self.async_errors.lock().unwrap_or_else(|e| e.into_inner());
        if q.len() >= ASYNC_ERROR_CAPACITY {
            q.pop_front();
            bump(&self.counters.async_errors_discarded, 1);
        }
        q.push_back(AsyncError { request_id, error });
    }

    pub(crate) fn take_errors(&self) -> Vec<AsyncError> {
        let mut q = self.async_errors.lock().unwrap_or_else(|e| e.into_inner());
        q.drain(..).collect()
    }

    pub(crate) fn set_session(&self, s: Option<SessionInfo>) {
        *self.session.lock().unwrap_or_else(|e| e.into_inner()) = s;
    }

    pub(crate) fn session(&self) -> Option<SessionInfo> {
        self.session.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub(crate) fn snapshot(&self) -> ClientStats {
        let c = &self.counters;
        let r = |a: &AtomicU64| a.load(Ordering::Relaxed);
        ClientStats {
            published: r(&c.published),
            sent_direct: r(&c.sent_direct),
            received: r(&c.received),
            dispatched: r(&c.dispatched),
            dropped: r(&c.dropped),
            unmatched: r(&c.unmatched),
            async_errors: r(&c.async_errors),
            async_errors_discarded: r(&c.async_errors_discarded),
            timeouts: r(&c.timeouts),
            missed_pongs: r(&c.missed_pongs),
            reauths: r(&c.reauths),
            reconnects: r(&c.reconnects),
            gaps: r(&c.gaps),
            missed: r(&c.missed),
            resent: r(&c.resent),
            undecodable: r(&c.undecodable),
            events_lost: r(&c.events_lost),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn async_errors_are_bounded() {
        let t = Telemetry::new();
        for i in 0..(ASYNC_ERROR_CAPACITY as u32 + 5) {
            t.push_error(i, ClientError::Disconnected);
        }
        let errs = t.take_errors();
        assert_eq!(errs.len(), ASYNC_ERROR_CAPACITY);
        assert_eq!(errs[0].request_id, 5);
        let s = t.snapshot();
        assert_eq!(s.async_errors_discarded, 5);
        assert!(t.take_errors().is_empty());
    }
}
