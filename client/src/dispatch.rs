//! Local subscriptions and dispatch of deliveries: no sockets here.
//!
//! The broker sends one MSG per session however many of its patterns match;
//! the client fans it out to every local subscription whose pattern matches.
//! On the wire there is one SUB per distinct (namespace, pattern); the table
//! knows when the first local subscription for a key arrives (send SUB) and
//! when the last one goes (send UNSUB), and lists the active keys so a new
//! session can re-subscribe them.
//!
//! Full-channel policy: a local subscription's channel is bounded; when it
//! is full the message is dropped *for that subscription only* and counted
//! in its `dropped` counter. The I/O thread never blocks on a slow consumer,
//! so heartbeats and other subscriptions keep flowing.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use pulsemq_shared::Pattern;

use crate::fasthash::FastMap;
use crate::message::Message;
use crate::queue::{PushError, QueueTx, WakeHandle};

/// Identifies one local subscription.
pub(crate) type LocalId = u64;

/// The I/O thread's handle on one local subscription.
#[derive(Debug)]
pub(crate) struct LocalSub {
    pub id: LocalId,
    pub tx: QueueTx,
    pub dropped: Arc<AtomicU64>,
    /// Wants messages replayed from the last-value cache.
    pub snapshot: bool,
    /// Its channel was full at the last delivery (one slow-consumer event
    /// per episode, not one per dropped message).
    pub dropping: std::cell::Cell<bool>,
}

#[derive(Debug)]
struct WireSub {
    pattern_text: String,
    pattern: Pattern,
    locals: Vec<LocalSub>,
}

/// What the caller must put on the wire after [`SubTable::add`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AddOutcome {
    /// First local subscription for this key: send SUB.
    FirstForKey,
    /// The key is already subscribed on the wire.
    Joined,
}

/// Counts from one dispatch.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Dispatched {
    /// Local subscriptions that received the message.
    pub delivered: u32,
    /// Local subscriptions whose channel was full.
    pub dropped: u32,
    /// Subscriptions that just started dropping: (pattern, dropped so far).
    pub newly_slow: Vec<(String, u64)>,
    /// Namespace of the message, set only when `newly_slow` is not empty.
    pub slow_namespace: Option<String>,
}

/// Every local subscription, grouped by namespace then wire pattern.
#[derive(Debug, Default)]
pub(crate) struct SubTable {
    by_ns: FastMap<String, Vec<WireSub>>,
}

impl SubTable {
    /// Registers a local subscription. It receives matching messages from now
    /// on, even before the broker's SUB_OK arrives (snapshot messages can
    /// overtake the ACK, which travels on the other socket).
    pub(crate) fn add(&mut self, namespace: &str, pattern: &Pattern, local: LocalSub) -> AddOutcome {
        let text = pattern.to_string();
        let subs = self.by_ns.entry(namespace.to_owned()).or_default();
        if let Some(w) = subs.iter_mut().find(|w| w.pattern_text == text) {
            w.locals.push(local);
            return AddOutcome::Joined;
        }
        subs.push(WireSub { pattern_text: text, pattern: pattern.clone(), locals: vec![local] });
        AddOutcome::FirstForKey
    }

    /// Removes a local subscription (its channel closes). Returns the
    /// (namespace, pattern) key when it was the last one, so the caller sends UNSUB.
    pub(crate) fn remove(&mut self, id: LocalId) -> Option<(String, String)> {
        let mut emptied = None;
        for (ns, subs) in self.by_ns.iter_mut() {
            if let Some(wi) = subs.iter().position(|w| w.locals.iter().any(|l| l.id == id)) {
                let w = &mut subs[wi];
                w.locals.retain(|l| l.id != id);
                if w.locals.is_empty() {
                    let w = subs.swap_remove(wi);
                    emptied = Some((ns.clone(), w.pattern_text));
                }
                break;
            }
        }
        if let Some((ns, _)) = &emptied {
            if self.by_ns.get(ns).is_some_and(|s| s.is_empty()) {
                self.by_ns.remove(ns);
            }
        }
        emptied
    }

    /// True when the key has local subscriptions.
    pub(crate) fn has_key(&self, namespace: &str, pattern: &str) -> bool {
        self.by_ns.get(namespace).is_some_and(|s| s.iter().any(|w| w.pattern_text == pattern))
    }

    /// Every (namespace, pattern) that must be subscribed on the wire, sorted.
    pub(crate) fn keys(&self) -> Vec<(String, String)> {
        let mut keys: Vec<(String, String)> = self
            .by_ns
            .iter()
            .flat_map(|(ns, subs)| subs.iter().map(move |w| (ns.clone(), w.pattern_text.clone())))
            .collect();
        keys.sort();
        keys
    }

    /// True when some local subscription's pattern matches the topic.
    pub(crate) fn matches_any(&self, namespace: &str, topic: &str) -> bool {
        self.by_ns.get(namespace).is_some_and(|s| s.iter().any(|w| w.pattern.matches(topic)))
    }

    /// Number of local subscriptions.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.by_ns.values().flatten().map(|w| w.locals.len()).sum()
    }

    /// Fans a delivery out to every matching local subscription. Snapshot
    /// messages go only to subscriptions that asked for a snapshot. The
    /// message moves into the last recipient; the others get clones, which
    /// share the payload. Consumers are not woken here: those owed a
    /// wake-up are added to `wakes`, to be woken after the read batch.
    pub(crate) fn dispatch(&self, msg: Message, wakes: &mut Vec<WakeHandle>) -> Dispatched {
        let mut out = Dispatched::default();
        let Some((ns, subs)) = self.by_ns.get_key_value(&msg.namespace) else {
            return out;
        };
        // The previous recipient found: it gets a clone once a later one shows up.
        let mut prev: Option<(&WireSub, &LocalSub)> = None;
        for w in subs {
            if !w.pattern.matches(&msg.topic) {
                continue;
            }
            for l in &w.locals {
                if msg.snapshot && !l.snapshot {
                    continue;
                }
                if let Some((pw, pl)) = prev.replace((w, l)) {
                    deliver(pw, pl, msg.clone(), &mut out, wakes);
                }
            }
        }
        if let Some((pw, pl)) = prev {
            deliver(pw, pl, msg, &mut out, wakes);
        }
        if !out.newly_slow.is_empty() {
            out.slow_namespace = Some(ns.clone());
        }
        out
    }
}

/// Offers a message to one local subscription without waiting.
fn deliver(w: &WireSub, l: &LocalSub, msg: Message, out: &mut Dispatched, wakes: &mut Vec<WakeHandle>) {
    match l.tx.push(msg) {
        Ok(owed) => {
            out.delivered += 1;
            l.dropping.set(false);
            if owed {
                wakes.push(l.tx.clone_handle());
            }
        }
        Err(PushError::Full) => {
            let n = l.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            out.dropped += 1;
            if !l.dropping.replace(true) {
                out.newly_slow.push((w.pattern_text.clone(), n));
            }
        }
        // The Subscription was dropped; its removal is on its way.
        Err(PushError::Closed) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::QueueRx;
    use bytes::Bytes;
    use pulsemq_shared::Format;

    fn local(id: LocalId, cap: usize, snapshot: bool) -> (LocalSub, QueueRx) {
        let (tx, rx) = crate::queue::queue(cap);
        (LocalSub { id, tx, dropped: Arc::new(AtomicU64::new(0)), snapshot, dropping: Default::default() }, rx)
    }

    fn msg(ns: &str, topic: &str) -> Message {
        Message {
            namespace: ns.into(),
            topic: topic.into(),
            publisher: "p".into(),
            format: Format::Bytes,
            compression: None,
            flags: 0,
            timestamp_ms: 0,
            seq: 1,
            broker_time_us: 0,
            snapshot: false,
            payload: Bytes::from_static(b"x"),
        }
    }

    fn drain(rx: &mut QueueRx) -> Vec<String> {
        let mut v = Vec::new();
        while let Some(m) = rx.try_recv() {
            v.push(format!("{}/{}", m.namespace, m.topic));
        }
        v
    }

    #[test]
    fn each_subscription_gets_exactly_what_its_pattern_matches() {
        let mut t = SubTable::default();
        let p = |s| Pattern::parse(s).unwrap();
        let (a, mut ra) = local(1, 100, false);
        let (b, mut rb) = local(2, 100, false);
        let (c, mut rc) = local(3, 100, false);
        let (d, mut rd) = local(4, 100, false);
        assert_eq!(t.add("md", &p("sz000651.kline.>"), a), AddOutcome::FirstForKey);
        assert_eq!(t.add("md", &p("*.kline.1m"), b), AddOutcome::FirstForKey);
        assert_eq!(t.add("md", &p("sz000651.kline.>"), c), AddOutcome::Joined);
        assert_eq!(t.add("other", &p(">"), d), AddOutcome::FirstForKey);
        for (ns, topic) in [
            ("md", "sz000651.kline.1m"),
            ("md", "sz000651.kline.5m"),
            ("md", "sz000001.kline.1m"),
            ("md", "sz000651.trade"),
            ("other", "sz000651.kline.1m"),
            ("nobody", "a"),
        ] {
            t.dispatch(msg(ns, topic), &mut Vec::new());
        }
        assert_eq!(drain(&mut ra), ["md/sz000651.kline.1m", "md/sz000651.kline.5m"]);
        assert_eq!(drain(&mut rb), ["md/sz000651.kline.1m", "md/sz000001.kline.1m"]);
        assert_eq!(drain(&mut rc), ["md/sz000651.kline.1m", "md/sz000651.kline.5m"]);
        assert_eq!(drain(&mut rd), ["other/sz000651.kline.1m"]);
        assert_eq!(t.len(), 4);
        assert_eq!(
            t.keys(),
            vec![
                ("md".to_string(), "*.kline.1m".to_string()),
                ("md".to_string(), "sz000651.kline.>".to_string()),
                ("other".to_string(), ">".to_string()),
            ]
        );
    }

    #[test]
    fn unsub_only_when_the_last_local_goes() {
        let mut t = SubTable::default();
        let p = Pattern::parse("a.*").unwrap();
        let (a, _ra) = local(1, 1, false);
        let (b, _rb) = local(2, 1, false);
        t.add("md", &p, a);
        t.add("md", &p, b);
        assert_eq!(t.remove(1), None);
        assert!(t.has_key("md", "a.*"));
        assert_eq!(t.remove(2), Some(("md".into(), "a.*".into())));
        assert!(!t.has_key("md", "a.*"));
        assert_eq!(t.remove(2), None);
        assert!(t.keys().is_empty());
    }

    #[test]
    fn full_channel_drops_for_that_subscription_only() {
        let mut t = SubTable::default();
        let p = Pattern::parse(">").unwrap();
        let (slow, mut rs) = local(1, 2, false);
        let slow_dropped = slow.dropped.clone();
        let (fast, mut rf) = local(2, 100, false);
        t.add("md", &p, slow);
        t.add("md", &p, fast);
        let mut total = Dispatched::default();
        for i in 0..10 {
            let d = t.dispatch(msg("md", &format!("t{i}")), &mut Vec::new());
            total.delivered += d.delivered;
            total.dropped += d.dropped;
            total.newly_slow.extend(d.newly_slow);
            total.slow_namespace = total.slow_namespace.or(d.slow_namespace);
        }
        assert_eq!(drain(&mut rs).len(), 2);
        assert_eq!(drain(&mut rf).len(), 10);
        assert_eq!(slow_dropped.load(Ordering::Relaxed), 8);
        assert_eq!(
            total,
            Dispatched {
                delivered: 12,
                dropped: 8,
                newly_slow: vec![(">".to_string(), 1)],
                slow_namespace: Some("md".to_string())
            }
        );
    }

    #[test]
    fn snapshot_messages_only_reach_snapshot_subscriptions() {
        let mut t = SubTable::default();
        let p = Pattern::parse("a.>").unwrap();
        let (live, mut rl) = local(1, 10, false);
        let (snap, mut rs) = local(2, 10, true);
        t.add("md", &p, live);
        t.add("md", &p, snap);
        let mut m = msg("md", "a.b");
        m.snapshot = true;
        t.dispatch(m, &mut Vec::new());
        t.dispatch(msg("md", "a.c"), &mut Vec::new());
        assert_eq!(drain(&mut rl), ["md/a.c"]);
        assert_eq!(drain(&mut rs), ["md/a.b", "md/a.c"]);
    }
}
