//! The command socket, lent to callers between the I/O thread's rounds, so
//! that a NO_ACK publish can be sent from the caller's own thread.
//!
//! Why: handing a publish to the I/O thread costs a thread wake-up (an
//! inproc signal, a context switch) before the message even reaches
//! ZeroMQ. At a steady, modest rate the I/O thread is asleep for every
//! message, so that wake-up is a fixed part of the publish-to-delivery
//! latency: tens of microseconds on a virtual machine, as much as the
//! whole trip through the broker. A NO_ACK publish needs nothing from the
//! I/O thread (nobody waits for a reply), so when the thread is idle and
//! nothing is queued ahead, the caller sends it itself.
//!
//! Only a publish that comes after a pause goes direct: in a burst, the
//! caller queues as before, and the I/O thread sends the whole batch in one
//! round. Sent one by one from the caller, a burst would wake libzmq's own
//! I/O thread for nearly every message; measured on the 2-vCPU machine,
//! saturating 1→1 NO_ACK throughput fell from 0.94–1.00× the plain
//! forwarder to 0.75–0.81× without this rule.
//!
//! Rules that keep this safe and in order:
//! - ZeroMQ sockets are not thread-safe: the socket lives in a mutex-guarded
//!   slot. The I/O thread takes it out for each round of work and puts it
//!   back before it sleeps; a caller only sends while it holds the slot's
//!   lock with the socket in it, and never waits for the lock.
//! - Order: the slot is `open` only when the I/O thread put it back with a
//!   ready session and nothing of its own left to send, and a caller also
//!   needs `backlog == 0` (no data command queued in the channel). A
//!   publish queued before can therefore never be overtaken.
//! - Edge-triggered readiness: the I/O thread sleeps on the socket's
//!   `ZMQ_FD`, which only signals new events. A send from the caller may
//!   consume such an event (a reply that just arrived), so the caller checks
//!   `ZMQ_EVENTS` afterwards and wakes the I/O thread if a reply is waiting.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use crate::wire::WireFrame;

/// A publish this soon after the previous one is part of a burst and is
/// queued (see the module documentation). At 10 000 msg/s publishes are
/// 100 µs apart and go direct; a tight loop publishes every few µs.
pub(crate) const BURST_GAP: Duration = Duration::from_micros(20);

/// The shared slot (see the module documentation).
pub(crate) struct CmdSlot {
    state: Mutex<SlotState>,
    /// Data commands in the channel to the I/O thread, not yet taken by it.
    backlog: AtomicUsize,
    /// When the latest NO_ACK publish was offered, in wall-clock ns.
    last_offer_ns: AtomicU64,
}

struct SlotState {
    sock: Option<zmq::Socket>,
    open: bool,
}

/// What [`CmdSlot::try_send`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direct {
    /// Sent; nothing for the I/O thread to do.
    Sent,
    /// Sent, and a reply is now readable: wake the I/O thread.
    SentReplyWaiting,
    /// Not sent (I/O thread busy, something queued ahead, no session, or
    /// the socket at its high-water mark): queue it as usual. The frames
    /// are untouched.
    Queue,
}

impl CmdSlot {
    /// An empty, closed slot (the I/O thread holds the socket until its
    /// first sleep).
    pub(crate) fn new() -> Self {
        CmdSlot {
            state: Mutex::new(SlotState { sock: None, open: false }),
            backlog: AtomicUsize::new(0),
            last_offer_ns: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, SlotState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// I/O thread: takes the socket for a round of work.
    pub(crate) fn take(&self) -> Option<zmq::Socket> {
        let mut s = self.lock();
        s.open = false;
        s.sock.take()
    }

    /// I/O thread: returns the socket before sleeping; `open` says whether
    /// callers may send on it. Returns the socket's `ZMQ_EVENTS`, read under
    /// the lock so that no caller's send can come between.
    pub(crate) fn put(&self, sock: zmq::Socket, open: bool) -> zmq::PollEvents {
        let mut s = self.lock();
        let events = sock.get_events().unwrap_or(zmq::POLLIN);
        s.sock = Some(sock);
        s.open = open;
        events
    }

    /// A caller queued a data command for the I/O thread.
    pub(crate) fn queued(&self) {
        self.backlog.fetch_add(1, Ordering::AcqRel);
    }

    /// A data command left the channel (the I/O thread took it, or it was
    /// never queued after all).
    pub(crate) fn dequeued(&self) {
        let _ = self.backlog.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
    }

    /// For a queued command whose caller may give up before it is in the
    /// channel: undoes [`CmdSlot::queued`] on drop unless kept.
    pub(crate) fn unless_queued(&self) -> Unqueue<'_> {
        Unqueue { slot: self, armed: true }
    }

    /// Caller: sends `frames` now if the publish is not part of a burst,
    /// the slot is free and open, and nothing is queued ahead. `now_ns` is
    /// the wall clock (ns since the Unix epoch) the caller already read to
    /// stamp the message: a step back of that clock only makes one publish
    /// count as part of a burst (queued, not sent directly), which is safe.
    pub(crate) fn try_send(&self, frames: &mut WireFrame, now_ns: u64) -> Direct {
        // 0 = never offered.
        self.try_send_at(frames, now_ns.max(1))
    }

    /// [`CmdSlot::try_send`] at a given time (ns, never 0): apart so that
    /// tests decide what counts as a burst instead of racing the scheduler
    /// of a loaded machine.
    fn try_send_at(&self, frames: &mut WireFrame, now: u64) -> Direct {
        let prev = self.last_offer_ns.swap(now, Ordering::Relaxed);
        if prev != 0 && now.saturating_sub(prev) < BURST_GAP.as_nanos() as u64 {
            return Direct::Queue;
        }
        if self.backlog.load(Ordering::Acquire) != 0 {
            return Direct::Queue;
        }
        let Ok(mut s) = self.state.try_lock() else {
            return Direct::Queue;
        };
        if !s.open || self.backlog.load(Ordering::Acquire) != 0 {
            return Direct::Queue;
        }
        let Some(sock) = s.sock.as_mut() else {
            return Direct::Queue;
        };
        // EAGAIN at the high-water mark leaves the frame as it was.
        if crate::sockets::send_frame(sock, frames).is_err() {
            return Direct::Queue;
        }
        match sock.get_events() {
            Ok(ev) if !ev.contains(zmq::POLLIN) => Direct::Sent,
            _ => Direct::SentReplyWaiting,
        }
    }
}

/// See [`CmdSlot::unless_queued`].
pub(crate) struct Unqueue<'a> {
    slot: &'a CmdSlot,
    armed: bool,
}

impl Unqueue<'_> {
    /// The command did reach the channel: it stays counted.
    pub(crate) fn keep(mut self) {
        self.armed = false;
    }
}

impl Drop for Unqueue<'_> {
    fn drop(&mut self) {
        if self.armed {
            self.slot.dequeued();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A DEALER lent through a slot, and the ROUTER it talks to (inproc).
    fn pair(name: &str) -> (zmq::Context, zmq::Socket, zmq::Socket) {
        let ctx = zmq::Context::new();
        let router = ctx.socket(zmq::ROUTER).unwrap();
        router.bind(&format!("inproc://{name}")).unwrap();
        let dealer = ctx.socket(zmq::DEALER).unwrap();
        dealer.set_identity(b"caller").unwrap();
        dealer.connect(&format!("inproc://{name}")).unwrap();
        (ctx, dealer, router)
    }

    /// Offers a publish long enough after the previous one not to count
    /// as part of a burst. The clock is the test's own: a preempted test
    /// thread must not turn a pause into a burst or a burst into a pause.
    fn offer(slot: &CmdSlot, frames: &mut WireFrame) -> Direct {
        let pause = BURST_GAP.as_nanos() as u64 * 2;
        let now = slot.last_offer_ns.load(Ordering::Relaxed) + pause;
        slot.try_send_at(frames, now)
    }

    fn frames(tag: &str) -> WireFrame {
        tag.as_bytes().to_vec()
    }

    fn recv_tag(router: &zmq::Socket) -> String {
        let parts = router.recv_multipart(0).unwrap();
        assert_eq!(parts.len(), 2, "routing id + one frame");
        String::from_utf8(parts[1].clone()).unwrap()
    }

    #[test]
    fn sends_only_when_lent_open_and_nothing_is_queued_ahead() {
        let (_ctx, dealer, router) = pair("slot-rules");
        let slot = CmdSlot::new();
        let mut f = frames("a");
        assert_eq!(offer(&slot, &mut f), Direct::Queue, "empty slot: the I/O thread is working");

        slot.put(dealer, false);
        assert_eq!(offer(&slot, &mut f), Direct::Queue, "closed: no session or the thread has frames to send");
        assert_eq!(f, b"a", "a refused send leaves the frame as it was");

        let dealer = slot.take().unwrap();
        slot.put(dealer, true);
        slot.queued();
        assert_eq!(offer(&slot, &mut f), Direct::Queue, "a command is queued ahead");
        slot.dequeued();
        assert_eq!(offer(&slot, &mut f), Direct::Sent);
        assert_eq!(recv_tag(&router), "a");

        let dealer = slot.take().unwrap();
        assert_eq!(offer(&slot, &mut frames("b")), Direct::Queue, "taken back for a round of work");
        slot.put(dealer, true);
        assert_eq!(offer(&slot, &mut frames("c")), Direct::Sent);
        assert_eq!(recv_tag(&router), "c");
    }

    #[test]
    fn a_burst_is_left_to_the_io_thread() {
        let (_ctx, dealer, router) = pair("slot-burst");
        let slot = CmdSlot::new();
        slot.put(dealer, true);
        assert_eq!(offer(&slot, &mut frames("first")), Direct::Sent);
        let mut second = frames("second");
        let just_after = slot.last_offer_ns.load(Ordering::Relaxed) + BURST_GAP.as_nanos() as u64 / 2;
        assert_eq!(slot.try_send_at(&mut second, just_after), Direct::Queue, "right after the first: a burst");
        assert_eq!(second, b"second", "left for the queue untouched");
        assert_eq!(recv_tag(&router), "first");
        assert_eq!(offer(&slot, &mut frames("after a pause")), Direct::Sent);
        assert_eq!(recv_tag(&router), "after a pause");
    }

    #[test]
    fn a_reply_waiting_after_a_send_is_reported() {
        let (_ctx, dealer, router) = pair("slot-reply");
        let slot = CmdSlot::new();
        slot.put(dealer, true);
        assert_eq!(offer(&slot, &mut frames("ping")), Direct::Sent);
        assert_eq!(recv_tag(&router), "ping");
        router.send_multipart([&b"caller"[..], b"reply"], 0).unwrap();
        // The reply reaches the DEALER's pipe asynchronously.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            match offer(&slot, &mut frames("next")) {
                Direct::SentReplyWaiting => break,
                Direct::Sent => assert!(std::time::Instant::now() < deadline, "the reply never showed"),
                Direct::Queue => panic!("an open, idle slot must send"),
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }

    #[test]
    fn a_caller_that_gives_up_is_no_longer_queued_ahead() {
        let slot = CmdSlot::new();
        slot.queued();
        drop(slot.unless_queued());
        slot.queued();
        slot.unless_queued().keep();
        assert_eq!(slot.backlog.load(Ordering::Acquire), 1, "one given up, one kept");
        slot.dequeued();
        slot.dequeued();
        assert_eq!(slot.backlog.load(Ordering::Acquire), 0, "never below zero");
    }
}
