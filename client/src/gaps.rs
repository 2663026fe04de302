//! Per-topic sequence tracking: finds the messages a subscriber missed.
//!
//! The broker numbers each (namespace, topic) 1, 2, 3, … and delivers at
//! most once per session, so a jump means messages were lost for this
//! client. A number that goes *back* means the broker restarted (its
//! counters start again) or a snapshot replayed an old value: tracking
//! restarts there without a report.

use crate::fasthash::FastMap;

/// A detected gap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Gap {
    pub expected: u64,
    pub received: u64,
}

/// Last sequence number seen per (namespace, topic).
#[derive(Debug, Default)]
pub(crate) struct SeqTracker {
    /// namespace → topic → last seq: two levels so a lookup borrows `&str`
    /// and allocates nothing for known topics.
    last: FastMap<String, FastMap<String, u64>>,
}

impl SeqTracker {
    /// Records a delivery; returns the gap before it, if any.
    pub(crate) fn observe(&mut self, namespace: &str, topic: &str, seq: u64) -> Option<Gap> {
        if let Some(topics) = self.last.get_mut(namespace) {
            if let Some(last) = topics.get_mut(topic) {
                let expected = *last + 1;
                *last = seq;
                return (seq > expected).then_some(Gap { expected, received: seq });
            }
            topics.insert(topic.to_owned(), seq);
            return None;
        }
        self.last.entry(namespace.to_owned()).or_default().insert(topic.to_owned(), seq);
        None
    }

    /// Forgets topics no subscription covers any more, so re-subscribing
    /// later does not report what was deliberately not received.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&str, &str) -> bool) {
        self.last.retain(|ns, topics| {
            topics.retain(|t, _| keep(ns, t));
            !topics.is_empty()
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps_are_found_and_restarts_are_not_gaps() {
        let mut t = SeqTracker::default();
        assert_eq!(t.observe("md", "a", 5), None, "first sight sets the base");
        assert_eq!(t.observe("md", "a", 6), None);
        assert_eq!(t.observe("md", "a", 9), Some(Gap { expected: 7, received: 9 }));
        assert_eq!(t.observe("md", "b", 1), None, "topics are independent");
        assert_eq!(t.observe("md", "a", 1), None, "broker restarted");
        assert_eq!(t.observe("md", "a", 2), None);
        t.retain(|_, topic| topic != "a");
        assert_eq!(t.observe("md", "a", 50), None, "forgotten");
        assert_eq!(t.observe("md", "b", 2), None);
    }
}
