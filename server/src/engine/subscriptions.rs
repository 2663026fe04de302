//! The wildcard subscription index: one trie per namespace over topic levels.
//!
//! A publish walks at most one literal branch and one `*` branch per level
//! (topics have at most 3 levels, so at most 8 paths), collecting `>`
//! subscribers on the way. Its cost depends on the topic's depth and on the
//! number of *matching* subscriptions, never on how many subscriptions
//! exist — a million `a.b.*` patterns cost nothing to a publish on `x.y`.

use pulsemq_shared::{Pattern, PatternLevel};

use super::FastMap;

/// Identifies a session inside the engine.
pub type SessionKey = u64;

#[derive(Debug, Default)]
struct Node {
    literal: FastMap<Box<str>, Node>,
    star: Option<Box<Node>>,
    /// Sessions whose pattern ends exactly here.
    here: Vec<SessionKey>,
    /// Sessions whose pattern is `<path to here>.>`.
    tail: Vec<SessionKey>,
}

impl Node {
    fn is_empty(&self) -> bool {
        self.literal.is_empty() && self.star.is_none() && self.here.is_empty() && self.tail.is_empty()
    }

    fn collect(&self, levels: &[&str], out: &mut Vec<SessionKey>) {
        let Some((first, rest)) = levels.split_first() else {
            out.extend_from_slice(&self.here);
            return;
        };
        out.extend_from_slice(&self.tail);
        if let Some(child) = self.literal.get(*first) {
            child.collect(rest, out);
        }
        if let Some(child) = &self.star {
            child.collect(rest, out);
        }
    }

    /// Removes `key` from the list the pattern ends in; prunes empty
    /// branches on the way back so churn does not leak memory.
    fn remove(&mut self, levels: &[PatternLevel], key: SessionKey) -> bool {
        let removed = match levels.split_first() {
            None => remove_key(&mut self.here, key),
            Some((PatternLevel::Tail, _)) => remove_key(&mut self.tail, key),
            Some((PatternLevel::Star, rest)) => match &mut self.star {
                Some(child) => {
                    let r = child.remove(rest, key);
                    if child.is_empty() {
                        self.star = None;
                    }
                    r
                }
                None => false,
            },
            Some((PatternLevel::Literal(lit), rest)) => match self.literal.get_mut(lit.as_str()) {
                Some(child) => {
                    let r = child.remove(rest, key);
                    if child.is_empty() {
                        self.literal.remove(lit.as_str());
                    }
                    r
                }
                None => false,
            },
        };
        removed
    }
}

fn remove_key(v: &mut Vec<SessionKey>, key: SessionKey) -> bool {
    match v.iter().position(|k| *k == key) {
        Some(i) => {
            v.swap_remove(i);
            true
        }
        None => false,
    }
}

/// All subscriptions of all sessions, per namespace.
#[derive(Debug, Default)]
pub struct SubscriptionIndex {
    namespaces: FastMap<String, Node>,
    len: usize,
}

impl SubscriptionIndex {
    /// Adds one (session, pattern). The caller guarantees a session adds a
    /// given pattern at most once (sessions keep their own set).
    pub fn insert(&mut self, namespace: &str, pattern: &Pattern, key: SessionKey) {
        let mut node = self.namespaces.entry(namespace.to_owned()).or_default();
        for level in pattern.levels() {
            match level {
                PatternLevel::Tail => {
                    node.tail.push(key);
                    self.len += 1;
                    return;
                }
                PatternLevel::Star => node = node.star.get_or_insert_with(Default::default),
                PatternLevel::Literal(lit) => node = node.literal.entry(lit.as_str().into()).or_default(),
            }
        }
        node.here.push(key);
        self.len += 1;
    }

    /// Removes one (session, pattern); false if it was not there.
    pub fn remove(&mut self, namespace: &str, pattern: &Pattern, key: SessionKey) -> bool {
        let Some(root) = self.namespaces.get_mut(namespace) else {
            return false;
        };
        let removed = root.remove(pattern.levels(), key);
        if root.is_empty() {
            self.namespaces.remove(namespace);
        }
        if removed {
            self.len -= 1;
        }
        removed
    }

    /// Appends every session with a pattern matching `topic` to `out`. A
    /// session appears once per matching pattern: callers deduplicate.
    pub fn matches(&self, namespace: &str, topic: &str, out: &mut Vec<SessionKey>) {
        if let Some(root) = self.namespaces.get(namespace) {
            let mut levels = [""; 3];
            let mut n = 0;
            for l in topic.split('.') {
                if n == levels.len() {
                    return;
                }
                levels[n] = l;
                n += 1;
            }
            root.collect(&levels[..n], out);
        }
    }

    /// Total (session, pattern) entries.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Pattern {
        Pattern::parse(s).unwrap()
    }

    fn matched(idx: &SubscriptionIndex, ns: &str, topic: &str) -> Vec<SessionKey> {
        let mut out = Vec::new();
        idx.matches(ns, topic, &mut out);
        out.sort_unstable();
        out.dedup();
        out
    }

    /// The trie must agree with the reference `Pattern::matches` on every
    /// (pattern, topic) pair of a generated table.
    #[test]
    fn agrees_with_reference_semantics() {
        let patterns = [
            "a", "b", "*", ">", "a.b", "a.*", "*.b", "a.>", "*.>", "a.b.c", "a.*.c", "*.*.*", "a.b.>", "*.b.>",
            "a.*.>", "*.*", "b.>",
        ];
        let topics = ["a", "b", "c", "a.b", "a.c", "b.b", "a.b.c", "a.c.c", "b.b.c", "a.b.d", "c.b.a"];
        let mut idx = SubscriptionIndex::default();
        for (i, pat) in patterns.iter().enumerate() {
            idx.insert("ns", &p(pat), i as u64);
        }
        assert_eq!(idx.len(), patterns.len());
        for t in topics {
            let want: Vec<u64> =
                patterns.iter().enumerate().filter(|(_, pat)| p(pat).matches(t)).map(|(i, _)| i as u64).collect();
            assert_eq!(matched(&idx, "ns", t), want, "topic {t}");
        }
    }

    #[test]
    fn namespaces_are_separate() {
        let mut idx = SubscriptionIndex::default();
        idx.insert("md", &p(">"), 1);
        idx.insert("other", &p(">"), 2);
        assert_eq!(matched(&idx, "md", "x.y"), vec![1]);
        assert_eq!(matched(&idx, "other", "x.y"), vec![2]);
        assert!(matched(&idx, "third", "x.y").is_empty());
    }

    #[test]
    fn remove_prunes_and_is_exact() {
        let mut idx = SubscriptionIndex::default();
        idx.insert("md", &p("sz000651.kline.*"), 1);
        idx.insert("md", &p("sz000651.kline.*"), 2);
        idx.insert("md", &p("sz000651.>"), 1);
        assert!(idx.remove("md", &p("sz000651.kline.*"), 1));
        assert!(!idx.remove("md", &p("sz000651.kline.*"), 1), "already removed");
        assert_eq!(matched(&idx, "md", "sz000651.kline.1m"), vec![1, 2]);
        assert!(idx.remove("md", &p("sz000651.>"), 1));
        assert!(idx.remove("md", &p("sz000651.kline.*"), 2));
        assert!(idx.is_empty());
        assert!(idx.namespaces.is_empty(), "empty tries are pruned");
    }

    #[test]
    fn overlapping_patterns_report_each_match() {
        let mut idx = SubscriptionIndex::default();
        idx.insert("md", &p("sz000651.>"), 7);
        idx.insert("md", &p("*.kline.1m"), 7);
        let mut out = Vec::new();
        idx.matches("md", "sz000651.kline.1m", &mut out);
        assert_eq!(out, vec![7, 7], "caller deduplicates");
    }
}
