//! Per-topic rates. The engine publishes cumulative per-topic counters once
//! a second; rates need two consecutive snapshots, so a small task keeps the
//! previous one and the latest per-topic (msg/s, bytes/s).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use tokio::sync::watch;

use crate::engine::stats::StatsSnapshot;

use crate::engine::stats::TopicKey as Key;

/// (msg/s, bytes/s) per (namespace, topic), over the last interval.
#[derive(Clone, Default)]
pub struct TopicRates(Arc<RwLock<HashMap<Key, (f64, f64)>>>);

impl TopicRates {
    /// Starts following `stats`; the task ends when the engine stops.
    pub fn spawn(mut stats: watch::Receiver<StatsSnapshot>) -> Self {
        let rates = TopicRates::default();
        let out = rates.clone();
        tokio::spawn(async move {
            let mut prev: HashMap<Key, (u64, u64)> = HashMap::new();
            let mut prev_at = 0i64;
            while stats.changed().await.is_ok() {
                let snap = stats.borrow_and_update().clone();
                let dt = ((snap.at_ms - prev_at) as f64 / 1000.0).max(1e-3);
                let mut now = HashMap::with_capacity(snap.topics.len());
                let mut cur = HashMap::with_capacity(snap.topics.len());
                for t in snap.topics.iter() {
                    let key = (t.namespace.clone(), t.topic.clone());
                    let (pm, pb) = prev.get(&key).copied().unwrap_or((t.msgs, t.bytes));
                    // A topic forgotten and seen again restarts from zero.
                    let rate = if prev_at == 0 || t.msgs < pm {
                        (0.0, 0.0)
                    } else {
                        ((t.msgs - pm) as f64 / dt, t.bytes.saturating_sub(pb) as f64 / dt)
                    };
                    now.insert(key.clone(), rate);
                    cur.insert(key, (t.msgs, t.bytes));
                }
                prev = cur;
                prev_at = snap.at_ms;
                *out.0.write().unwrap_or_else(|p| p.into_inner()) = now;
            }
        });
        rates
    }

    pub fn get(&self, namespace: &str, topic: &str) -> (f64, f64) {
        self.0
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&(Arc::from(namespace), Arc::from(topic)))
            .copied()
            .unwrap_or((0.0, 0.0))
    }
}
