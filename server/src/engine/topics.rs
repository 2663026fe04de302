//! The topic registry: per-topic sequence numbers, counters and the
//! last-value cache, plus which topics the database already knows.

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
}

/// namespace → topic → state.
#[derive(Debug, Default)]
pub struct TopicRegistry {
    pub namespaces: FastMap<String, FastMap<String, TopicState>>,
    count: usize,
}

impl TopicRegistry {
    /// Registers topics known from the database.
    pub fn load(&mut self, known: impl IntoIterator<Item = (String, String)>) {
        for (ns, topic) in known {
            let entry = self.namespaces.entry(ns).or_default().entry(topic).or_default();
            if !entry.persisted {
                entry.persisted = true;
                self.count += 1;
            }
        }
    }

    /// The state of a topic, created on first use (not persisted yet).
    pub fn get_or_create(&mut self, namespace: &str, topic: &str) -> &mut TopicState {
        // Look up by &str first so the hot path allocates nothing.
        if !self.namespaces.contains_key(namespace) {
            self.namespaces.insert(namespace.to_owned(), FastMap::default());
        }
        let topics = self.namespaces.get_mut(namespace).expect("inserted above");
        if !topics.contains_key(topic) {
            topics.insert(topic.to_owned(), TopicState::default());
            self.count += 1;
        }
        topics.get_mut(topic).expect("inserted above")
    }

    pub fn topics_of(&self, namespace: &str) -> Vec<String> {
        let mut v: Vec<String> =
            self.namespaces.get(namespace).map(|t| t.keys().cloned().collect()).unwrap_or_default();
        v.sort();
        v
    }

    pub fn forget(&mut self, namespace: &str, topic: &str) {
        if let Some(t) = self.namespaces.get_mut(namespace) {
            if t.remove(topic).is_some() {
                self.count -= 1;
            }
            if t.is_empty() {
                self.namespaces.remove(namespace);
            }
        }
    }

    pub fn forget_namespace(&mut self, namespace: &str) {
        if let Some(t) = self.namespaces.remove(namespace) {
            self.count -= t.len();
        }
    }

    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
}
