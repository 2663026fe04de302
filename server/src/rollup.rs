//! The statistics roll-up job: once a minute, the engine's cumulative
//! counters (from its per-second snapshot) are turned into per-minute deltas
//! and persisted in `stats_*_minute`; the current hour is then recomputed
//! into `stats_*_hour` (idempotent, so re-running it each minute keeps the
//! hour rows current and needs no separate hourly timer to get right).
//!
//! Deltas, not snapshots: the minute tables hold counters that the store
//! accumulates, so a restart (counters back to zero) or a topic forgotten
//! and seen again must never produce a negative or doubled count.

use std::collections::HashMap;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::warn;

use crate::control::{ConnectionInfo, Control, EngineHandle};
use crate::engine::stats::{StatsSnapshot, TopicKey, Totals};
use crate::store::stats::{self, SystemMinute, TopicMinute, UserMinute};
use crate::store::{timestamp, Store};

/// Cumulative figures at the previous flush.
#[derive(Default)]
pub struct Baseline {
    totals: Totals,
    topics: HashMap<TopicKey, (u64, u64, u64)>,
    /// Per session: (msgs_in, bytes_in, msgs_out, bytes_out).
    sessions: HashMap<String, (u64, u64, u64, u64)>,
}

fn delta(now: u64, before: u64) -> i64 {
    crate::engine::stats::counter_delta(now, before) as i64
}

/// Rows for the minute starting at `minute_ts`, and the new baseline.
pub fn minute_rows(
    minute_ts: i64,
    snap: &StatsSnapshot,
    conns: &[ConnectionInfo],
    base: &Baseline,
) -> (Vec<TopicMinute>, Vec<UserMinute>, SystemMinute, Baseline) {
    let t = &snap.totals;
    let b = &base.totals;
    let parsed = crate::admin::stats::parsed_subscriptions(conns);
    let mut next = Baseline { totals: *t, ..Default::default() };
    let mut topics = Vec::new();
    for f in snap.topics.iter() {
        let key = (f.namespace.clone(), f.topic.clone());
        let (pm, pb, pd) = base.topics.get(&key).copied().unwrap_or_default();
        let row = TopicMinute {
            namespace: f.namespace.to_string(),
            topic_name: f.topic.to_string(),
            minute_ts,
            msg_count: delta(f.msgs, pm),
            byte_count: delta(f.bytes, pb),
            sub_count: crate::admin::stats::subscribers(&parsed, &f.namespace, &f.topic) as i64,
            drop_count: delta(f.drops, pd),
            ..Default::default()
        };
        if row.msg_count > 0 || row.drop_count > 0 || row.sub_count > 0 {
            topics.push(row);
        }
        next.topics.insert(key, (f.msgs, f.bytes, f.drops));
    }
    let mut users: HashMap<i64, UserMinute> = HashMap::new();
    for c in conns {
        let (mi, bi, mo, bo) = base.sessions.get(&c.session).copied().unwrap_or_default();
        let u = users.entry(c.user_id).or_insert_with(|| UserMinute {
            user_id: c.user_id,
            minute_ts,
            is_online: true,
            ..Default::default()
        });
        u.pub_count += delta(c.msgs_in, mi);
        u.pub_bytes += delta(c.bytes_in, bi);
        u.sub_count += delta(c.msgs_out, mo);
        u.sub_bytes += delta(c.bytes_out, bo);
        next.sessions.insert(c.session.clone(), (c.msgs_in, c.bytes_in, c.msgs_out, c.bytes_out));
    }
    let system = SystemMinute {
        minute_ts,
        msg_total: delta(t.msgs_in, b.msgs_in),
        byte_total: delta(t.bytes_in, b.bytes_in),
        online_users: snap.online_users as i64,
        active_connections: snap.connections as i64,
        auth_total: delta(t.auth_ok + t.auth_fail, b.auth_ok + b.auth_fail),
        auth_fail: delta(t.auth_fail, b.auth_fail),
        perm_denied: delta(t.perm_denied, b.perm_denied),
        drops: delta(t.drops, b.drops),
        latency_p50_us: snap.latency_p50_us as f64,
        latency_p99_us: snap.latency_p99_us as f64,
        memory_mb: crate::admin::health::memory_mb(),
    };
    let mut users: Vec<_> = users.into_values().collect();
    users.sort_by_key(|u| u.user_id);
    (topics, users, system, next)
}

/// Runs the job until aborted; the first flush is at the next minute boundary.
pub fn spawn(store: Store, engine: EngineHandle, stats_rx: watch::Receiver<StatsSnapshot>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut base = Baseline::default();
        loop {
            let now = timestamp::now_unix();
            let next_minute = stats::minute_of(now) + 60;
            tokio::time::sleep(Duration::from_secs((next_minute - now).max(1) as u64)).await;
            let snap = stats_rx.borrow().clone();
            let conns = match engine.request(Control::Connections).await {
                Ok(c) => c,
                Err(_) => return, // engine stopped
            };
            // The minute that just ended.
            let minute_ts = stats::minute_of(timestamp::now_unix()) - 60;
            let (topics, users, system, next) = minute_rows(minute_ts, &snap, &conns, &base);
            match stats::upsert_minutes(&store, &topics, &users, Some(&system)).await {
                Ok(()) => base = next,
                Err(e) => warn!("statistics roll-up failed (will retry with the next minute): {e}"),
            }
            if let Err(e) = stats::rollup_hour(&store, stats::hour_of(minute_ts)).await {
                warn!("hourly statistics roll-up failed: {e}");
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::stats::TopicFigures;
    use std::sync::Arc;

    fn snap(msgs: u64) -> StatsSnapshot {
        let mut s = StatsSnapshot::default();
        s.totals.msgs_in = msgs;
        s.totals.auth_ok = 2;
        s.connections = 1;
        s.topics = Arc::new(vec![TopicFigures {
            namespace: "md".into(),
            topic: "a.b".into(),
            msgs,
            bytes: msgs * 10,
            drops: 0,
            seq: msgs,
            last_publish_ms: 1,
        }]);
        s
    }

    #[test]
    fn deltas_between_flushes_and_after_a_reset() {
        let (t, _, sys, base) = minute_rows(60, &snap(10), &[], &Baseline::default());
        assert_eq!((t[0].msg_count, t[0].byte_count, sys.msg_total, sys.auth_total), (10, 100, 10, 2));
        let (t, _, sys, base) = minute_rows(120, &snap(15), &[], &base);
        assert_eq!((t[0].msg_count, sys.msg_total, sys.auth_total), (5, 5, 0));
        // Counters went backwards (topic forgotten and re-seen): counted from zero.
        let (t, _, _, _) = minute_rows(180, &snap(3), &[], &base);
        assert_eq!(t[0].msg_count, 3);
    }

    #[tokio::test]
    async fn rows_persist() {
        let store = Store::open_memory().await.unwrap();
        let (t, u, s, _) = minute_rows(600, &snap(4), &[], &Baseline::default());
        stats::upsert_minutes(&store, &t, &u, Some(&s)).await.unwrap();
        stats::rollup_hour(&store, 0).await.unwrap();
        let rows = stats::system_minutes(&store, 0).await.unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].msg_total, 4);
    }
}
