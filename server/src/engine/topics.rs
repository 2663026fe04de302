//! The topic registry: per-topic sequence numbers, counters and the
//! last-value cache, plus which topics the database already knows.

use std::sync::Arc;

use super::FastMap;

/// Payloads up to this size are kept as the topic's last value (replayed to
/// `{"snapshot":true}` subscribers). Larger ones (DataFrame batches) are not
/// cached, so the broker's memory stays proportional to the topic count.
pub const LVC_MAX_PAYLOAD: usize = 64 * 1024;

/// The last message of a topic.
#[derive(Debug, Clone, Default)]
pub struct LastValue {
    pub format: u8,
    pub flags: u8,
    pub timestamp_ms: i64,
    pub publisher: String,
    pub payload: Vec<u8>,
    pub seq: u64,
    pub broker_time_us: u64,
}

#[derive(Debug, Default)]
pub struct TopicState {
    pub seq: u64,
    pub msgs: u64,
    pub bytes: u64,
    pub drops: u64,
    pub last_publish_ms: i64,
    pub last: Option<LastValue>,
    /// The database has a row for it (loaded at start, or the writer was
    /// handed a `TopicSeen` event). False means: tell the writer again.
    pub persisted: bool,
    /// Who created it (counted against `limits.max_topics_per_user`).
    pub creator: String,
}

/// How many topics a new one may join.
#[derive(Debug, Clone, Copy)]
pub struct TopicLimits {
    /// Topics in the namespace.
    pub per_namespace: usize,
    /// Topics created by the publishing user; 0 = no limit.
    pub per_user: usize,
}

/// A new topic was refused; the message says which limit and what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicLimitHit(pub String);

/// namespace → topic → state. The names are `Arc<str>`, shared with every
/// statistics snapshot (taking one allocates no string); lookups take `&str`.
#[derive(Debug, Default)]
pub struct TopicRegistry {
    pub namespaces: FastMap<Arc<str>, FastMap<Arc<str>, TopicState>>,
    count: usize,
    /// Topics per creator, for the per-user limit.
    by_creator: FastMap<String, usize>,
}

impl TopicRegistry {
    /// Registers topics known from the database: (namespace, topic, creator).
    /// They count against the limits, but are never refused.
    pub fn load(&mut self, known: impl IntoIterator<Item = (String, String, String)>) {
        for (ns, topic, creator) in known {
            let entry = self.namespaces.entry(Arc::from(ns)).or_default().entry(Arc::from(topic)).or_default();
            if !entry.persisted {
                entry.persisted = true;
                self.count += 1;
                *self.by_creator.entry(creator.clone()).or_default() += 1;
                entry.creator = creator;
            }
        }
    }

    /// The state of a topic, created on first use (not persisted yet) if
    /// the namespace and `creator` are below the limits, which are only
    /// worked out (`limits()`) when a topic is new: the hot path of an
    /// existing topic costs two lookups and allocates nothing.
    pub fn get_or_create(
        &mut self,
        namespace: &str,
        topic: &str,
        creator: &str,
        limits: impl FnOnce() -> TopicLimits,
    ) -> Result<&mut TopicState, TopicLimitHit> {
        let exists = self.namespaces.get(namespace).is_some_and(|t| t.contains_key(topic));
        if !exists {
            let limits = limits();
            let in_namespace = self.namespaces.get(namespace).map_or(0, |t| t.len());
            if in_namespace >= limits.per_namespace {
                return Err(TopicLimitHit(format!(
                    "namespace '{namespace}' has reached its limit of {} topics: delete unused topics or raise its \
                     max_topics (admin API) or limits.max_topics_per_namespace",
                    limits.per_namespace
                )));
            }
            let mine = self.by_creator.get(creator).copied().unwrap_or(0);
            if limits.per_user > 0 && mine >= limits.per_user {
                return Err(TopicLimitHit(format!(
                    "user '{creator}' has created {mine} topics, the limit (limits.max_topics_per_user): delete \
                     unused topics or raise the limit"
                )));
            }
            // Only now may a namespace entry appear: a refused publish leaves nothing behind.
            let state = TopicState { creator: creator.to_owned(), ..TopicState::default() };
            self.namespaces.entry(Arc::from(namespace)).or_default().insert(Arc::from(topic), state);
            self.count += 1;
            *self.by_creator.entry(creator.to_owned()).or_default() += 1;
        }
        Ok(self.get_mut(namespace, topic).expect("present or inserted above"))
    }

    /// An existing topic's state.
    pub fn get_mut(&mut self, namespace: &str, topic: &str) -> Option<&mut TopicState> {
        self.namespaces.get_mut(namespace).and_then(|t| t.get_mut(topic))
    }

    fn uncount(&mut self, creator: &str) {
        if let Some(n) = self.by_creator.get_mut(creator) {
            *n -= 1;
            if *n == 0 {
                self.by_creator.remove(creator);
            }
        }
    }

    pub fn topics_of(&self, namespace: &str) -> Vec<String> {
        let mut v: Vec<String> =
            self.namespaces.get(namespace).map(|t| t.keys().map(|k| k.to_string()).collect()).unwrap_or_default();
        v.sort();
        v
    }

    pub fn forget(&mut self, namespace: &str, topic: &str) {
        let Some(t) = self.namespaces.get_mut(namespace) else { return };
        let removed = t.remove(topic);
        if t.is_empty() {
            self.namespaces.remove(namespace);
        }
        if let Some(st) = removed {
            self.count -= 1;
            self.uncount(&st.creator);
        }
    }

    pub fn forget_namespace(&mut self, namespace: &str) {
        if let Some(t) = self.namespaces.remove(namespace) {
            self.count -= t.len();
            for st in t.values() {
                self.uncount(&st.creator);
            }
        }
    }

    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: TopicLimits = TopicLimits { per_namespace: 2, per_user: 3 };

    impl TopicRegistry {
        fn get_or_create_t(
            &mut self,
            ns: &str,
            topic: &str,
            creator: &str,
            limits: TopicLimits,
        ) -> Result<&mut TopicState, TopicLimitHit> {
            self.get_or_create(ns, topic, creator, || limits)
        }
    }

    #[test]
    fn new_topics_stop_at_the_namespace_and_user_limits_and_deleting_makes_room() {
        let mut r = TopicRegistry::default();
        r.load([("md".into(), "a".into(), "feed".into())]);
        assert!(r.get_or_create_t("md", "b", "feed", LIMITS).is_ok());
        // The namespace is full; an existing topic still works.
        let hit = r.get_or_create_t("md", "c", "feed", LIMITS).unwrap_err();
        assert!(hit.0.contains("namespace 'md'") && hit.0.contains("2 topics"), "{hit:?}");
        assert!(r.get_or_create_t("md", "a", "feed", LIMITS).is_ok());
        // The user's third topic elsewhere is fine, the fourth is not.
        assert!(r.get_or_create_t("fx", "x", "feed", LIMITS).is_ok());
        let hit = r.get_or_create_t("fx", "y", "feed", LIMITS).unwrap_err();
        assert!(hit.0.contains("user 'feed'"), "{hit:?}");
        assert!(r.get_or_create_t("fx", "y", "other", LIMITS).is_ok());
        // Forgetting frees both allowances.
        r.forget("md", "a");
        assert!(r.get_or_create_t("md", "c", "feed", LIMITS).is_ok());
        r.forget_namespace("fx");
        assert!(r.get_or_create_t("fx", "z", "feed", LIMITS).is_ok());
        assert_eq!(r.len(), 3);
        let unlimited = TopicLimits { per_namespace: usize::MAX, per_user: 0 };
        assert!(r.get_or_create_t("fx", "w", "feed", unlimited).is_ok());
        // A refused topic in a new namespace leaves no namespace entry behind.
        let tight = TopicLimits { per_namespace: 10, per_user: 1 };
        assert!(r.get_or_create_t("new_ns", "t", "feed", tight).is_err());
        assert!(!r.namespaces.contains_key("new_ns"));
    }
}
