//! The bounded queue between the I/O thread and one [`Subscription`](crate::Subscription).
//!
//! One producer (the I/O thread), one consumer (the subscription's task).
//! Unlike a channel, pushing does not wake the consumer: the I/O thread
//! pushes a whole read batch and then wakes each consumer once
//! ([`QueueTx::push`] says when a wake-up is owed, [`WakeHandle::wake`]
//! pays it). A consumer woken per message would, on a small machine, preempt the
//! I/O thread for every message.
//!
//! The consumer takes everything queued in one lock and then reads from its
//! own buffer without locking. The capacity bounds both together, so a
//! subscription buffers at most `capacity` messages, as documented.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use crate::message::Message;

#[derive(Debug, Default)]
struct State {
    items: VecDeque<Message>,
    /// The consumer waits for this.
    waker: Option<Waker>,
    /// The producer owes a wake-up (already listed for [`WakeHandle::wake`]).
    wake_owed: bool,
    /// The producer is gone: no more messages after `items`.
    closed: bool,
}

#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    /// Messages queued or in the consumer's buffer, not yet taken.
    len: AtomicUsize,
    capacity: usize,
    /// The consumer is gone.
    rx_gone: AtomicBool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A new queue holding at most `capacity` messages (at least 1).
pub(crate) fn queue(capacity: usize) -> (QueueTx, QueueRx) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State::default()),
        len: AtomicUsize::new(0),
        capacity: capacity.max(1),
        rx_gone: AtomicBool::new(false),
    });
    (QueueTx { shared: shared.clone() }, QueueRx { shared, local: VecDeque::new() })
}

/// Why [`QueueTx::push`] did not queue a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PushError {
    /// `capacity` messages are waiting.
    Full,
    /// The consumer is gone.
    Closed,
}

/// The I/O thread's end. Dropping it ends the consumer's stream once the
/// queued messages are read.
#[derive(Debug)]
pub(crate) struct QueueTx {
    shared: Arc<Shared>,
}

impl QueueTx {
    /// Queues a message without waking the consumer. `Ok(true)`: a wake-up
    /// is now owed: wake through [`QueueTx::clone_handle`] once the batch is done.
    pub(crate) fn push(&self, msg: Message) -> Result<bool, PushError> {
        let s = &self.shared;
        if s.rx_gone.load(Ordering::Relaxed) {
            return Err(PushError::Closed);
        }
        if s.len.load(Ordering::Acquire) >= s.capacity {
            return Err(PushError::Full);
        }
        s.len.fetch_add(1, Ordering::AcqRel);
        let mut st = s.lock();
        st.items.push_back(msg);
        let owed = st.waker.is_some() && !st.wake_owed;
        st.wake_owed |= owed;
        Ok(owed)
    }

    /// A handle on the same queue, for the list of owed wake-ups.
    pub(crate) fn clone_handle(&self) -> WakeHandle {
        WakeHandle { shared: self.shared.clone() }
    }
}

impl Drop for QueueTx {
    fn drop(&mut self) {
        let waker = {
            let mut st = self.shared.lock();
            st.closed = true;
            st.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

/// Pays a wake-up owed by [`QueueTx::push`] after the batch (does not close
/// the queue when dropped, unlike [`QueueTx`]).
#[derive(Debug)]
pub(crate) struct WakeHandle {
    shared: Arc<Shared>,
}

impl WakeHandle {
    /// Wakes the consumer if it waits.
    pub(crate) fn wake(self) {
        let waker = {
            let mut st = self.shared.lock();
            st.wake_owed = false;
            st.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

/// The subscription's end.
#[derive(Debug)]
pub(crate) struct QueueRx {
    shared: Arc<Shared>,
    /// Taken from the queue, not yet returned.
    local: VecDeque<Message>,
}

impl QueueRx {
    fn pop_local(&mut self) -> Option<Message> {
        let m = self.local.pop_front()?;
        self.shared.len.fetch_sub(1, Ordering::AcqRel);
        Some(m)
    }

    /// A message already queued, without waiting.
    pub(crate) fn try_recv(&mut self) -> Option<Message> {
        if self.local.is_empty() {
            let mut st = self.shared.lock();
            std::mem::swap(&mut self.local, &mut st.items);
        }
        self.pop_local()
    }

    /// The next message; `Ready(None)` once the producer is gone and
    /// everything queued was read.
    pub(crate) fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<Message>> {
        if self.local.is_empty() {
            let mut st = self.shared.lock();
            if st.items.is_empty() {
                if st.closed {
                    return Poll::Ready(None);
                }
                match &st.waker {
                    Some(w) if w.will_wake(cx.waker()) => {}
                    _ => st.waker = Some(cx.waker().clone()),
                }
                return Poll::Pending;
            }
            std::mem::swap(&mut self.local, &mut st.items);
        }
        Poll::Ready(self.pop_local())
    }
}

impl Drop for QueueRx {
    fn drop(&mut self) {
        self.shared.rx_gone.store(true, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use pulsemq_shared::Format;
    use std::sync::atomic::AtomicUsize;
    use std::task::Wake;

    fn msg(seq: u64) -> Message {
        Message {
            namespace: "md".into(),
            topic: "t".into(),
            publisher: "p".into(),
            format: Format::Bytes,
            compression: None,
            flags: 0,
            timestamp_ms: 0,
            seq,
            broker_time_us: 0,
            snapshot: false,
            payload: Bytes::new(),
        }
    }

    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn one_wake_per_batch_bounded_in_order_then_end() {
        let (tx, mut rx) = queue(3);
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        let mut cx = Context::from_waker(&waker);
        assert!(rx.poll_recv(&mut cx).is_pending());
        assert_eq!(tx.push(msg(1)), Ok(true), "the waiting consumer is owed a wake-up");
        assert_eq!(tx.push(msg(2)), Ok(false), "only one per batch");
        assert_eq!(count.0.load(Ordering::SeqCst), 0, "pushing does not wake");
        tx.clone_handle().wake();
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        assert_eq!(tx.push(msg(3)), Ok(false));
        assert_eq!(tx.push(msg(4)), Err(PushError::Full));
        // Taken into the consumer's buffer, still counted against the capacity.
        assert!(matches!(rx.poll_recv(&mut cx), Poll::Ready(Some(m)) if m.seq == 1));
        assert_eq!(tx.push(msg(5)), Ok(false), "room for one again");
        assert_eq!(tx.push(msg(6)), Err(PushError::Full));
        let rest: Vec<u64> = std::iter::from_fn(|| rx.try_recv()).map(|m| m.seq).collect();
        assert_eq!(rest, [2, 3, 5]);
        assert!(rx.poll_recv(&mut cx).is_pending());
        drop(tx);
        assert_eq!(count.0.load(Ordering::SeqCst), 2, "closing wakes");
        assert!(matches!(rx.poll_recv(&mut cx), Poll::Ready(None)));
    }

    #[test]
    fn queued_messages_outlive_the_producer_and_a_gone_consumer_refuses() {
        let (tx, mut rx) = queue(10);
        tx.push(msg(1)).unwrap();
        drop(tx);
        assert_eq!(rx.try_recv().map(|m| m.seq), Some(1));
        assert!(rx.try_recv().is_none());
        let (tx, rx) = queue(10);
        drop(rx);
        assert_eq!(tx.push(msg(1)), Err(PushError::Closed));
    }
}
