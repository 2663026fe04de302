//! The last minutes of every session and active topic, sampled every
//! `monitoring.sample_interval_sec` from the engine's session list and
//! statistics snapshot: the drill-down charts, the slow-consumer list and
//! the alarm windows all read from here.
//!
//! Pure (no I/O, no clock): [`Recent::sample`] is handed what was read and
//! when, so the tests drive it with made-up figures.

use std::collections::{HashMap, VecDeque};

use pulsemq_shared::dto::{Connection, ConnectionSample, SlowConsumer, TopicSample};

use crate::admin::stats::{parsed_subscriptions, subscribers};
use crate::engine::stats::{counter_delta, StatsSnapshot, TopicKey, Totals};

/// Topics followed at once. A topic is followed from its first message or
/// drop in the window until a whole window passed without either; with
/// 100 000 live topics, following all would cost ~100 MB of samples, so
/// beyond this many the newest ones get no chart (their totals and
/// per-minute history are still in `/api/stats/topics*`).
pub const MAX_TRACKED_TOPICS: usize = 2_000;

/// One session's recent past.
#[derive(Debug, Clone)]
pub struct SessionTrack {
    /// As last read from the engine.
    pub last: Connection,
    pub online: bool,
    /// Oldest first, at most the window's worth.
    pub samples: VecDeque<ConnectionSample>,
    seen_ms: i64,
}

/// One topic's recent past.
#[derive(Debug, Clone, Default)]
pub struct TopicTrack {
    pub samples: VecDeque<TopicSample>,
    active_ms: i64,
}

/// What the whole broker's counters grew by in one interval (the alarms'
/// figures).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SystemDelta {
    pub at_ms: i64,
    pub drops: u64,
    pub connection_limit_hits: u64,
    pub auth_failures: u64,
}

#[derive(Debug)]
pub struct Recent {
    pub interval_ms: i64,
    pub span_ms: i64,
    pub sessions: HashMap<String, SessionTrack>,
    pub topics: HashMap<TopicKey, TopicTrack>,
    /// Every topic's (msgs, bytes, drops) at the previous sample.
    topic_prev: HashMap<TopicKey, (u64, u64, u64)>,
    pub system: VecDeque<SystemDelta>,
    prev_totals: Option<Totals>,
    /// When the latest sample was taken (0: none yet).
    pub at_ms: i64,
}

fn push_capped<T>(q: &mut VecDeque<T>, v: T, cap: usize) {
    if q.len() == cap {
        q.pop_front();
    }
    q.push_back(v);
}

impl Recent {
    pub fn new(interval_sec: u64, recent_minutes: u64) -> Recent {
        Recent {
            interval_ms: interval_sec as i64 * 1000,
            span_ms: recent_minutes as i64 * 60_000,
            sessions: HashMap::new(),
            topics: HashMap::new(),
            topic_prev: HashMap::new(),
            system: VecDeque::new(),
            prev_totals: None,
            at_ms: 0,
        }
    }

    /// Samples kept per series.
    fn cap(&self) -> usize {
        (self.span_ms / self.interval_ms.max(1)) as usize + 1
    }

    /// Books one reading of the engine, taken at `at_ms`.
    pub fn sample(&mut self, at_ms: i64, snap: &StatsSnapshot, conns: Vec<Connection>) {
        let first = self.at_ms == 0;
        let dt =
            if first { self.interval_ms as f64 / 1000.0 } else { ((at_ms - self.at_ms) as f64 / 1000.0).max(1e-3) };
        let cap = self.cap();
        let rate = |now: u64, before: u64| counter_delta(now, before) as f64 / dt;

        let parsed = parsed_subscriptions(&conns);
        for s in self.sessions.values_mut() {
            s.online = false;
        }
        for c in conns {
            let track = self.sessions.entry(c.session.clone()).or_insert_with(|| SessionTrack {
                // A new session's counters started at zero when it connected.
                last: Connection { msgs_in: 0, bytes_in: 0, msgs_out: 0, bytes_out: 0, drops: 0, gaps: 0, ..c.clone() },
                online: true,
                samples: VecDeque::new(),
                seen_ms: at_ms,
            });
            let p = &track.last;
            let sample = ConnectionSample {
                at_ms,
                msg_rate_in: rate(c.msgs_in, p.msgs_in),
                byte_rate_in: rate(c.bytes_in, p.bytes_in),
                msg_rate_out: rate(c.msgs_out, p.msgs_out),
                byte_rate_out: rate(c.bytes_out, p.bytes_out),
                pending_bytes: c.pending_bytes,
                drops: counter_delta(c.drops, p.drops),
                gaps: counter_delta(c.gaps, p.gaps),
            };
            push_capped(&mut track.samples, sample, cap);
            track.last = c;
            track.online = true;
            track.seen_ms = at_ms;
        }
        let span = self.span_ms;
        self.sessions.retain(|_, s| s.online || at_ms - s.seen_ms <= span);

        let mut next = HashMap::with_capacity(snap.topics.len());
        for f in snap.topics.iter() {
            let key = (f.namespace.clone(), f.topic.clone());
            // Unknown at the previous sample: the topic was born since.
            let (pm, pb, pd) =
                if first { (f.msgs, f.bytes, f.drops) } else { self.topic_prev.get(&key).copied().unwrap_or_default() };
            let drops = counter_delta(f.drops, pd);
            let active = counter_delta(f.msgs, pm) > 0 || drops > 0;
            if active && self.topics.len() < MAX_TRACKED_TOPICS && !self.topics.contains_key(&key) {
                self.topics.insert(key.clone(), TopicTrack::default());
            }
            if let Some(t) = self.topics.get_mut(&key) {
                let sample = TopicSample {
                    at_ms,
                    msg_rate: rate(f.msgs, pm),
                    byte_rate: rate(f.bytes, pb),
                    drops,
                    subscribers: subscribers(&parsed, &f.namespace, &f.topic),
                };
                push_capped(&mut t.samples, sample, cap);
                if active {
                    t.active_ms = at_ms;
                }
            }
            next.insert(key, (f.msgs, f.bytes, f.drops));
        }
        self.topics.retain(|k, t| at_ms - t.active_ms <= span && next.contains_key(k));
        self.topic_prev = next;

        let t = snap.totals;
        if let Some(p) = self.prev_totals {
            let d = SystemDelta {
                at_ms,
                drops: counter_delta(t.drops, p.drops),
                connection_limit_hits: counter_delta(t.connection_limit_hits, p.connection_limit_hits),
                auth_failures: counter_delta(t.auth_fail, p.auth_fail),
            };
            push_capped(&mut self.system, d, cap);
        }
        self.prev_totals = Some(t);
        self.at_ms = at_ms;
    }

    /// The broker's growth over the last `window_ms` (samples newer than
    /// the latest sample minus the window).
    pub fn window_sum(&self, window_ms: i64) -> SystemDelta {
        let from = self.at_ms - window_ms;
        self.system.iter().filter(|d| d.at_ms > from).fold(
            SystemDelta { at_ms: self.at_ms, ..Default::default() },
            |a, d| SystemDelta {
                at_ms: a.at_ms,
                drops: a.drops + d.drops,
                connection_limit_hits: a.connection_limit_hits + d.connection_limit_hits,
                auth_failures: a.auth_failures + d.auth_failures,
            },
        )
    }

    /// (drops, gaps) of one session over the last `window_ms`.
    pub fn session_window(&self, track: &SessionTrack, window_ms: i64) -> (u64, u64) {
        let from = self.at_ms - window_ms;
        track.samples.iter().filter(|s| s.at_ms > from).fold((0, 0), |(d, g), s| (d + s.drops, g + s.gaps))
    }

    /// Online sessions that dropped in the window or hold at least
    /// `slow_bytes` undelivered (0: the byte rule is off); the worst first.
    pub fn slow_consumers(&self, window_ms: i64, slow_bytes: u64) -> Vec<SlowConsumer> {
        let mut out: Vec<SlowConsumer> = self
            .sessions
            .values()
            .filter(|t| t.online)
            .filter_map(|t| {
                let (recent_drops, recent_gaps) = self.session_window(t, window_ms);
                let c = &t.last;
                let heavy = slow_bytes > 0 && c.pending_bytes >= slow_bytes;
                (recent_drops > 0 || heavy).then(|| SlowConsumer {
                    session: c.session.clone(),
                    user_id: c.user_id,
                    username: c.username.clone(),
                    peer_address: c.peer_address.clone(),
                    subscriptions: c.subscriptions.clone(),
                    pending_bytes: c.pending_bytes,
                    recent_drops,
                    recent_gaps,
                    drops: c.drops,
                    msg_rate_out: t.samples.back().map_or(0.0, |s| s.msg_rate_out),
                })
            })
            .collect();
        out.sort_by(|a, b| {
            (b.recent_drops, b.pending_bytes, &a.session).cmp(&(a.recent_drops, a.pending_bytes, &b.session))
        });
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::stats::TopicFigures;
    use std::sync::Arc;

    fn conn(session: &str, msgs_out: u64, drops: u64, gaps: u64, pending: u64) -> Connection {
        Connection {
            session: session.into(),
            user_id: 1,
            username: "alice".into(),
            peer_address: "127.0.0.1".into(),
            connected_since: 0,
            protocol: 6,
            attached: true,
            subscriptions: vec!["md:a.>".into()],
            msgs_in: 0,
            bytes_in: 0,
            msgs_out,
            bytes_out: msgs_out * 100,
            drops,
            slow: drops > 0,
            gaps,
            pending_bytes: pending,
            last_activity_ms: 0,
        }
    }

    fn snap(msgs: u64, drops: u64, auth_fail: u64) -> StatsSnapshot {
        let mut s = StatsSnapshot::default();
        s.totals.drops = drops;
        s.totals.auth_fail = auth_fail;
        s.topics = Arc::new(vec![TopicFigures {
            namespace: "md".into(),
            topic: "a.b".into(),
            msgs,
            bytes: msgs * 100,
            drops,
            seq: msgs,
            last_publish_ms: 0,
        }]);
        s
    }

    #[test]
    fn rates_are_per_second_over_the_interval_and_windows_sum() {
        let mut r = Recent::new(5, 1); // 13 samples a series
        r.sample(5_000, &snap(0, 0, 0), vec![conn("s1", 0, 0, 0, 0)]);
        r.sample(10_000, &snap(500, 0, 3), vec![conn("s1", 500, 0, 0, 0)]);
        r.sample(15_000, &snap(1000, 40, 3), vec![conn("s1", 900, 40, 2, 1 << 20)]);
        let s = &r.sessions["s1"];
        let last = s.samples.back().unwrap();
        assert_eq!((last.msg_rate_out, last.drops, last.gaps, last.pending_bytes), (80.0, 40, 2, 1 << 20));
        assert_eq!(s.samples[1].msg_rate_out, 100.0);
        let t = &r.topics[&(Arc::from("md"), Arc::from("a.b"))];
        assert_eq!(t.samples.len(), 2, "followed from its first message");
        assert_eq!((t.samples[0].msg_rate, t.samples[0].subscribers), (100.0, 1));
        let w = r.window_sum(60_000);
        assert_eq!((w.drops, w.auth_failures), (40, 3));
        assert_eq!(r.window_sum(4_000).auth_failures, 0, "only the last interval");
        let slow = r.slow_consumers(60_000, 0);
        assert_eq!((slow.len(), slow[0].recent_drops, slow[0].recent_gaps), (1, 40, 2));
        // A quiet interval: the drops fall out of a short window.
        r.sample(20_000, &snap(1000, 40, 3), vec![conn("s1", 900, 40, 2, 1 << 20)]);
        assert!(r.slow_consumers(4_000, 2 << 20).is_empty(), "no drop in the window, under the byte rule");
        assert_eq!(r.slow_consumers(4_000, 1 << 20).len(), 1, "the byte rule alone");
    }

    #[test]
    fn series_are_capped_and_the_gone_are_forgotten_after_the_span() {
        let mut r = Recent::new(5, 1);
        for i in 1..=40 {
            let conns = if i <= 20 { vec![conn("s1", i, 0, 0, 0)] } else { vec![] };
            r.sample(i as i64 * 5_000, &snap(i, 0, 0), conns);
            if i == 20 {
                assert_eq!(r.sessions["s1"].samples.len(), 13, "one minute at 5 s");
            }
            if i == 21 {
                assert!(!r.sessions["s1"].online, "ended, still shown");
            }
        }
        assert!(r.sessions.is_empty(), "gone a whole span");
        assert_eq!(r.system.len(), 13);
    }

    #[test]
    fn a_quiet_topic_stops_being_followed() {
        let mut r = Recent::new(5, 1);
        r.sample(5_000, &snap(0, 0, 0), vec![]);
        r.sample(10_000, &snap(10, 0, 0), vec![]);
        assert_eq!(r.topics.len(), 1);
        for i in 3..=20 {
            r.sample(i * 5_000, &snap(10, 0, 0), vec![]);
        }
        assert!(r.topics.is_empty());
    }
}
