//! Engine counters, the broker-side latency histogram and the once-a-second
//! snapshot published to the async side (SSE, metrics, minute roll-up).

use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;

/// Log-linear histogram of microseconds: 8 sub-buckets per power of two,
/// so any percentile is within 12.5 % of the true value, in 512 bytes.
#[derive(Debug, Clone)]
pub struct Histogram {
    buckets: [u64; 64 * 8],
    count: u64,
    max: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram { buckets: [0; 512], count: 0, max: 0 }
    }
}

impl Histogram {
    fn index(v: u64) -> usize {
        if v < 8 {
            return v as usize;
        }
        let log = 63 - v.leading_zeros() as usize; // >= 3
        let sub = ((v >> (log - 3)) & 7) as usize;
        (log - 2) * 8 + sub
    }

    /// Smallest value of a bucket (the reported value).
    fn lower_bound(i: usize) -> u64 {
        if i < 8 {
            return i as u64;
        }
        let log = i / 8 + 2;
        let sub = (i % 8) as u64;
        (8 + sub) << (log - 3)
    }

    pub fn record(&mut self, v: u64) {
        self.record_n(v, 1);
    }

    /// Records `v` for `n` samples at once (every publish of one batch).
    pub fn record_n(&mut self, v: u64, n: u64) {
        if n == 0 {
            return;
        }
        self.buckets[Self::index(v)] += n;
        self.count += n;
        self.max = self.max.max(v);
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    /// Value at quantile `q` in [0, 1]; 0 when empty.
    pub fn quantile(&self, q: f64) -> u64 {
        if self.count == 0 {
            return 0;
        }
        let rank = ((q * self.count as f64).ceil() as u64).clamp(1, self.count);
        let mut seen = 0;
        for (i, n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return Self::lower_bound(i).min(self.max);
            }
        }
        self.max
    }

    pub fn clear(&mut self) {
        *self = Histogram::default();
    }
}

/// The clock of the frame being handled: read once per received frame,
/// not per message. A protocol-6 batch carries hundreds of publishes that
/// arrived together; three clock reads for each of them cost a quarter of
/// the engine thread's time in a 1→1 burst (perf, `pulsemq-bench --drive
/// sdk-noack`: `__vdso_clock_gettime` 2.9 % of all samples against 12.4 %
/// for the whole engine thread, ~43 ns a read on the 2-vCPU VM).
#[derive(Debug, Clone, Copy)]
pub struct FrameClock {
    /// When handling of the frame began (the broker-side latency's start).
    pub at: Instant,
    /// The frame's receive time, µs since the Unix epoch: the broker time
    /// stamped on every message it carries.
    pub broker_time_us: u64,
    /// Publishes of this frame accepted so far.
    pub accepted: u64,
}

impl FrameClock {
    pub fn start() -> FrameClock {
        FrameClock { at: Instant::now(), broker_time_us: now_us(), accepted: 0 }
    }

    /// Records the frame's handling time once for each publish it carried:
    /// a message of a batch waits for the ones before it, so the batch's
    /// time is what each of them spent in the engine, at most.
    pub fn finish(&self, latency: &mut Histogram) {
        if self.accepted > 0 {
            latency.record_n(self.at.elapsed().as_micros() as u64, self.accepted);
        }
    }
}

/// How much a cumulative counter grew between two readings. A counter
/// that went backwards was reset (a restart, a topic forgotten and seen
/// again): everything it holds is new.
pub fn counter_delta(now: u64, before: u64) -> u64 {
    if now >= before {
        now - before
    } else {
        now
    }
}

/// µs since the Unix epoch.
pub fn now_us() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_micros() as u64).unwrap_or(0)
}

/// Monotonic totals since start-up: the admin API's DTO, so the engine's
/// counters and what the API shows cannot drift apart.
pub use pulsemq_shared::dto::StatTotals as Totals;

/// (namespace, topic) with the engine's shared names: a map keyed by it
/// allocates no string per snapshot.
pub type TopicKey = (Arc<str>, Arc<str>);

/// Per-topic figures in a snapshot. The names are shared with the
/// engine's topic registry, so taking a snapshot allocates no string.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TopicFigures {
    pub namespace: Arc<str>,
    pub topic: Arc<str>,
    pub msgs: u64,
    pub bytes: u64,
    pub drops: u64,
    pub seq: u64,
    pub last_publish_ms: i64,
}

/// What the engine publishes every second.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct StatsSnapshot {
    /// Unix ms when taken.
    pub at_ms: i64,
    pub uptime_s: u64,
    pub totals: Totals,
    /// Per-second rates over the last interval.
    pub msg_rate: f64,
    pub byte_rate: f64,
    pub delivery_rate: f64,
    pub drop_rate: f64,
    pub connections: usize,
    pub online_users: usize,
    pub subscriptions: usize,
    pub topics_known: usize,
    /// Broker processing time of a PUB (receive → last delivery handed to
    /// ZeroMQ), µs, over the last interval.
    pub latency_p50_us: u64,
    pub latency_p90_us: u64,
    pub latency_p99_us: u64,
    pub latency_p999_us: u64,
    /// Shared, so that a reader's clone of the snapshot copies no topic.
    pub topics: Arc<Vec<TopicFigures>>,
}

/// What the engine sends every second: the snapshot (its `topics` left
/// empty) and what changed among the topics since the previous one.
#[derive(Debug)]
pub struct StatsUpdate {
    pub snapshot: StatsSnapshot,
    pub topics: super::topics::TopicDelta,
}

/// Keeps every topic's figures on the async side, from the engine's deltas,
/// and fills in the snapshot's `topics` for its readers. The engine thread
/// pays for the topics that moved; this side pays for the whole list, off
/// the hot path (issue 21 §5).
#[derive(Debug, Default)]
pub struct TopicMirror {
    table: std::collections::HashMap<TopicKey, TopicFigures>,
}

impl TopicMirror {
    /// Applies one update and returns the complete snapshot.
    pub fn apply(&mut self, update: StatsUpdate) -> StatsSnapshot {
        let StatsUpdate { mut snapshot, topics } = update;
        if topics.full {
            self.table.clear();
        }
        // Forgotten first: a topic forgotten and used again is in both lists.
        for key in &topics.forgotten {
            self.table.remove(key);
        }
        for f in topics.changed {
            self.table.insert((f.namespace.clone(), f.topic.clone()), f);
        }
        snapshot.topics = Arc::new(self.table.values().cloned().collect());
        snapshot
    }
}

/// Runs the mirror until the engine stops: deltas in, snapshots out.
pub fn spawn_mirror(
    mut updates: tokio::sync::mpsc::Receiver<StatsUpdate>,
    out: tokio::sync::watch::Sender<StatsSnapshot>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut mirror = TopicMirror::default();
        while let Some(u) = updates.recv().await {
            out.send_replace(mirror.apply(u));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_within_bucket_precision() {
        let mut h = Histogram::default();
        for v in 1..=10_000u64 {
            h.record(v);
        }
        for (q, want) in [(0.5, 5000.0), (0.9, 9000.0), (0.99, 9900.0)] {
            let got = h.quantile(q) as f64;
            assert!((got - want).abs() / want < 0.13, "q{q}: {got} vs {want}");
        }
        assert_eq!(h.quantile(1.0), 10_000u64.min(h.quantile(1.0)));
        assert_eq!(Histogram::default().quantile(0.5), 0);
    }

    #[test]
    fn bucket_bounds_are_monotonic() {
        let mut last = 0;
        for i in 0..400 {
            let b = Histogram::lower_bound(i);
            assert!(b >= last, "{i}");
            assert_eq!(Histogram::index(b), i, "{i}");
            last = b;
        }
    }

    #[test]
    fn a_frame_counts_each_accepted_publish_once() {
        let mut h = Histogram::default();
        let mut clock = FrameClock::start();
        clock.finish(&mut h);
        assert_eq!(h.count(), 0, "a frame without publishes records nothing");
        clock.accepted = 300;
        clock.finish(&mut h);
        assert_eq!(h.count(), 300);
        h.record_n(5_000, 100);
        assert_eq!(h.count(), 400);
        // 300 samples near 0 µs, 100 at 5 ms: the median stays low, P90 is the batch.
        assert!(h.quantile(0.5) < 1_000, "{}", h.quantile(0.5));
        assert!(h.quantile(0.9) >= 4_000, "{}", h.quantile(0.9));
        assert!(clock.broker_time_us > 1_700_000_000_000_000, "µs since the epoch");
    }

    #[test]
    fn the_mirror_merges_deltas_and_starts_afresh_on_a_full_one() {
        use super::super::topics::TopicDelta;
        let fig = |t: &str, msgs: u64| TopicFigures {
            namespace: "md".into(),
            topic: t.into(),
            msgs,
            bytes: 0,
            drops: 0,
            seq: msgs,
            last_publish_ms: 0,
        };
        let update = |full, changed, forgotten: Vec<&str>| StatsUpdate {
            snapshot: StatsSnapshot { connections: 3, ..Default::default() },
            topics: TopicDelta {
                full,
                changed,
                forgotten: forgotten.into_iter().map(|t| ("md".into(), t.into())).collect(),
            },
        };
        let mut m = TopicMirror::default();
        let s = m.apply(update(false, vec![fig("a", 1), fig("b", 1)], vec![]));
        assert_eq!((s.topics.len(), s.connections), (2, 3));
        let s = m.apply(update(false, vec![fig("a", 5)], vec!["b"]));
        assert_eq!(s.topics.iter().map(|t| (&*t.topic, t.msgs)).collect::<Vec<_>>(), [("a", 5)]);
        let s = m.apply(update(false, vec![fig("b", 1)], vec!["b"]));
        assert_eq!(s.topics.len(), 2, "forgotten, then seen again");
        let s = m.apply(update(true, vec![fig("c", 9)], vec![]));
        assert_eq!(s.topics.iter().map(|t| &*t.topic).collect::<Vec<_>>(), ["c"], "a full delta replaces");
    }
}
