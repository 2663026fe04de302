//! Request-id pairing: who waits for the reply to which request, and until when.
//!
//! Pure bookkeeping, owned by the I/O thread. Replies usually come back in
//! order, so the deadline queue is cleaned from the front as replies arrive
//! and stays short even with thousands of pipelined requests.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Instant;

use crate::fasthash::FastMap;

/// Hands out request ids: non-zero, incrementing, wrapping past `u32::MAX`.
///
/// Shared by the async side (so `publish_no_ack` can return the id it used)
/// and the I/O thread (AUTH, ATTACH, SUB, PING it sends by itself).
#[derive(Debug)]
pub(crate) struct IdGen(AtomicU32);

impl IdGen {
    pub(crate) fn new() -> Self {
        IdGen(AtomicU32::new(1))
    }

    pub(crate) fn next(&self) -> u32 {
        loop {
            let id = self.0.fetch_add(1, Ordering::Relaxed);
            if id != 0 {
                return id;
            }
        }
    }
}

/// True when id `a` was handed out after id `b` (wrap-around aware).
pub(crate) fn is_after(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) > 0
}

/// Requests waiting for their reply.
#[derive(Debug)]
pub(crate) struct Pending<W> {
    waiting: FastMap<u32, (W, Instant)>,
    /// Insertion order; entries already answered are skipped lazily.
    deadlines: VecDeque<(Instant, u32)>,
}

impl<W> Default for Pending<W> {
    fn default() -> Self {
        Pending { waiting: FastMap::default(), deadlines: VecDeque::new() }
    }
}

impl<W> Pending<W> {
    /// Registers a waiter. A waiter already registered under `id` (only
    /// possible after 2^32 requests) is returned so it can be failed.
    pub(crate) fn insert(&mut self, id: u32, waiter: W, deadline: Instant) -> Option<W> {
        self.deadlines.push_back((deadline, id));
        self.waiting.insert(id, (waiter, deadline)).map(|(w, _)| w)
    }

    /// Takes the waiter for a reply, if any.
    pub(crate) fn take(&mut self, id: u32) -> Option<W> {
        let w = self.waiting.remove(&id).map(|(w, _)| w);
        self.trim();
        w
    }

    /// The waiter registered under `id`, left in place.
    pub(crate) fn get_mut(&mut self, id: u32) -> Option<&mut W> {
        self.waiting.get_mut(&id).map(|(w, _)| w)
    }

    fn trim(&mut self) {
        while let Some(&(deadline, id)) = self.deadlines.front() {
            match self.waiting.get(&id) {
                Some((_, d)) if *d == deadline => break,
                _ => {
                    self.deadlines.pop_front();
                }
            }
        }
    }

    /// Removes and returns every waiter whose deadline has passed.
    pub(crate) fn expire(&mut self, now: Instant) -> Vec<(u32, W)> {
        let mut out = Vec::new();
        while let Some(&(deadline, id)) = self.deadlines.front() {
            if deadline > now {
                break;
            }
            self.deadlines.pop_front();
            if matches!(self.waiting.get(&id), Some((_, d)) if *d == deadline) {
                if let Some((w, _)) = self.waiting.remove(&id) {
                    out.push((id, w));
                }
            }
        }
        self.trim();
        out
    }

    /// The earliest deadline still pending (front of the queue).
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.deadlines.front().map(|&(d, _)| d)
    }

    /// Removes and returns the waiters `pick` selects.
    pub(crate) fn take_where(&mut self, mut pick: impl FnMut(u32, &W) -> bool) -> Vec<(u32, W)> {
        let ids: Vec<u32> = self.waiting.iter().filter(|(id, (w, _))| pick(**id, w)).map(|(id, _)| *id).collect();
        let out = ids.into_iter().filter_map(|id| self.waiting.remove(&id).map(|(w, _)| (id, w))).collect();
        self.trim();
        out
    }

    /// Removes every waiter (shutdown).
    pub(crate) fn drain(&mut self) -> Vec<(u32, W)> {
        self.deadlines.clear();
        self.waiting.drain().map(|(id, (w, _))| (id, w)).collect()
    }

    /// Number of requests in flight.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.waiting.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn ids_skip_zero_and_wrap() {
        let g = IdGen(AtomicU32::new(u32::MAX));
        assert_eq!(g.next(), u32::MAX);
        assert_eq!(g.next(), 1);
        assert!(is_after(1, u32::MAX));
        assert!(is_after(5, 4));
        assert!(!is_after(4, 5));
        assert!(!is_after(4, 4));
    }

    #[test]
    fn replies_pair_by_id_in_any_order() {
        let t = Instant::now() + Duration::from_secs(10);
        let mut p = Pending::default();
        for id in 1..=100u32 {
            assert!(p.insert(id, id * 10, t).is_none());
        }
        // Out of order, duplicates and unknown ids.
        assert_eq!(p.take(50), Some(500));
        assert_eq!(p.take(50), None);
        assert_eq!(p.take(1000), None);
        for id in (1..=100u32).rev().filter(|&i| i != 50) {
            assert_eq!(p.take(id), Some(id * 10));
        }
        assert_eq!(p.len(), 0);
        assert!(p.next_deadline().is_none(), "deadline queue trimmed");
    }

    #[test]
    fn in_order_replies_keep_the_queue_short() {
        let t = Instant::now() + Duration::from_secs(10);
        let mut p = Pending::default();
        for id in 1..=10_000u32 {
            p.insert(id, (), t);
            if id > 3 {
                p.take(id - 3);
            }
            assert!(p.deadlines.len() <= 4);
        }
    }

    #[test]
    fn expiry() {
        let now = Instant::now();
        let mut p = Pending::default();
        p.insert(1, "a", now + Duration::from_millis(10));
        p.insert(2, "b", now + Duration::from_millis(20));
        p.insert(3, "c", now + Duration::from_millis(30));
        p.take(2);
        assert!(p.expire(now).is_empty());
        let gone = p.expire(now + Duration::from_millis(25));
        assert_eq!(gone, vec![(1, "a")]);
        assert_eq!(p.next_deadline(), Some(now + Duration::from_millis(30)));
        assert_eq!(p.take(3), Some("c"));
        assert_eq!(p.drain(), vec![]);
    }
}
