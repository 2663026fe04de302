//! How many bytes a protocol-6 session's ZeroMQ pipe may hold: deliveries
//! handed to libzmq that the subscriber has not yet been seen to read.
//!
//! Why: libzmq bounds a pipe in messages (`broker.hwm`), not in bytes, and
//! tells the application nothing when a peer's pipe drains. A subscriber
//! that stops reading therefore made the broker hold up to `hwm` frames of
//! up to 64 MiB each (issue 21, §4), whatever `session_buffer_bytes` said.
//!
//! The drain signal needs no new message: after every eighth of the byte
//! limit handed to libzmq the engine sends a PING on the delivery port (a
//! *marker*). Both SDKs answer a PING as they read it, after everything
//! sent before it, so its PONG proves that those bytes have left the
//! broker. Bytes sent and not yet covered by a PONG are *unconfirmed*;
//! a frame goes to libzmq only while they stay under the limit, otherwise
//! it waits in the session's outbox (held to the same limit), and beyond
//! that the drop policy applies as before. A stalled subscriber thus costs
//! the broker at most twice `session_buffer_bytes` (in flight and parked,
//! plus one frame), and a healthy one never notices: its PONGs return long
//! before the limit is in flight. The two are not one budget on purpose:
//! bytes still in the kernel's socket buffers on their way to a reader
//! that keeps up must not make it lose messages.

use std::collections::VecDeque;

/// A marker is placed after this share of the limit has been sent (so
/// bytes sent after the latest marker, never confirmed until the next one,
/// are at most an eighth of it).
const MARKS_PER_LIMIT: u64 = 8;
/// …but never more often than every this many bytes.
const MIN_MARK_EVERY: u64 = 64 * 1024;

/// One session's unconfirmed bytes and the markers that will confirm them.
#[derive(Debug, Default)]
pub struct DrainWindow {
    /// Bytes handed to libzmq since the session began.
    sent: u64,
    /// Bytes the subscriber has been seen to read (the latest PONG's marker).
    confirmed: u64,
    /// `sent` when the latest marker was placed.
    marked: u64,
    /// Markers in flight: (PING request id, `sent` when it was placed).
    markers: VecDeque<(u32, u64)>,
    last_id: u32,
}

impl DrainWindow {
    /// Bytes handed to libzmq and not yet confirmed read.
    pub fn unconfirmed(&self) -> u64 {
        self.sent - self.confirmed
    }

    /// True when a frame of `len` bytes may go to libzmq now. A frame
    /// larger than the whole limit still goes once nothing is unconfirmed,
    /// so it cannot wait forever.
    pub fn may_send(&self, len: usize, limit: usize) -> bool {
        let unconfirmed = self.unconfirmed();
        unconfirmed == 0 || unconfirmed.saturating_add(len as u64) <= limit as u64
    }

    /// Books `len` bytes handed to libzmq; returns the request id of a
    /// marker PING to send right after them, when one is due.
    pub fn on_sent(&mut self, len: usize, limit: usize) -> Option<u32> {
        self.sent += len as u64;
        if self.sent - self.marked >= mark_every(limit) {
            return Some(self.mark());
        }
        None
    }

    /// A frame was held back by the window: makes sure a marker covers
    /// every byte sent so far (else a small unmarked remainder could
    /// block a large frame for good). Returns the marker to send, if new.
    pub fn on_blocked(&mut self) -> Option<u32> {
        (self.sent > self.marked).then(|| self.mark())
    }

    /// A marker could not be sent (the pipe was full or the peer gone):
    /// forgets it, so the next send or block places a new one.
    pub fn unmark(&mut self, id: u32) {
        if self.markers.back().is_some_and(|&(m, _)| m == id) {
            self.markers.pop_back();
            self.marked = self.markers.back().map_or(self.confirmed, |&(_, at)| at);
        }
    }

    fn mark(&mut self) -> u32 {
        self.last_id = self.last_id.wrapping_add(1).max(1);
        self.marked = self.sent;
        self.markers.push_back((self.last_id, self.sent));
        self.last_id
    }

    /// A PONG arrived for `id`: everything sent before that marker (and
    /// before any earlier one still listed) has been read. Returns true when
    /// it confirmed bytes (frames held back may go now). PONGs for other
    /// PINGs (the client's own heartbeats carry its ids) confirm nothing.
    pub fn on_pong(&mut self, id: u32) -> bool {
        let Some(pos) = self.markers.iter().position(|&(m, _)| m == id) else { return false };
        let (_, at) = self.markers[pos];
        self.markers.drain(..=pos);
        self.confirmed = self.confirmed.max(at);
        true
    }
}

fn mark_every(limit: usize) -> u64 {
    (limit as u64 / MARKS_PER_LIMIT).max(MIN_MARK_EVERY)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: usize = 8 * 1024 * 1024;
    const MIB: usize = 1024 * 1024;

    #[test]
    fn a_marker_follows_each_eighth_of_the_limit() {
        let mut w = DrainWindow::default();
        assert_eq!(w.on_sent(MIB / 2, LIMIT), None);
        let first = w.on_sent(MIB / 2, LIMIT).expect("1 MiB = an eighth of 8 MiB");
        assert_eq!(w.on_sent(MIB, LIMIT).map(|id| id > first), Some(true));
        assert_eq!(w.unconfirmed(), 2 * MIB as u64);
        assert!(w.on_pong(first));
        assert_eq!(w.unconfirmed(), MIB as u64);
    }

    #[test]
    fn a_silent_subscriber_stops_the_window_at_the_limit() {
        let mut w = DrainWindow::default();
        let mut pings = 0;
        while w.may_send(MIB, LIMIT) {
            pings += w.on_sent(MIB, LIMIT).is_some() as u32;
        }
        assert_eq!(w.unconfirmed(), LIMIT as u64);
        assert_eq!(pings, 8);
        // Nothing is left unmarked, so being blocked adds no marker.
        assert_eq!(w.on_blocked(), None);
        // PONGs with ids the engine never sent confirm nothing.
        assert!(!w.on_pong(999));
        assert!(!w.may_send(1, LIMIT));
    }

    #[test]
    fn a_large_frame_cannot_wait_forever_behind_an_unmarked_remainder() {
        let mut w = DrainWindow::default();
        assert_eq!(w.on_sent(1000, LIMIT), None);
        assert!(!w.may_send(LIMIT, LIMIT), "1000 bytes unconfirmed + the limit");
        let id = w.on_blocked().expect("the remainder gets a marker");
        assert!(w.on_pong(id));
        assert!(w.may_send(LIMIT + 1, LIMIT), "nothing unconfirmed: even an oversized frame goes");
    }

    #[test]
    fn a_later_pong_confirms_the_earlier_markers_too() {
        let mut w = DrainWindow::default();
        let a = w.on_sent(MIB, LIMIT).unwrap();
        let b = w.on_sent(MIB, LIMIT).unwrap();
        assert!(w.on_pong(b));
        assert_eq!(w.unconfirmed(), 0);
        assert!(!w.on_pong(a), "already covered");
    }

    #[test]
    fn an_unsent_marker_is_placed_again() {
        let mut w = DrainWindow::default();
        let a = w.on_sent(MIB, LIMIT).unwrap();
        w.unmark(a);
        assert!(!w.on_pong(a), "never sent, never confirms");
        let b = w.on_blocked().expect("the bytes are unmarked again");
        assert!(w.on_pong(b));
        assert_eq!(w.unconfirmed(), 0);
    }
}
