//! The `stats_*` tables: per-minute rows written by the roll-up job from the
//! engine's per-second snapshots, hourly roll-ups, and retention.
//!
//! Upserts follow the original's semantics, fixed: counters accumulate into
//! the minute's row (the job may flush a minute in several parts), gauges
//! (subscribers, connections, latency percentiles) are overwritten with the
//! latest value, and a topic's key includes its namespace.

use sqlx::SqliteConnection;

use super::Store;

/// Read and written straight from the admin API's DTO (shared with the console).
pub use pulsemq_shared::dto::TopicMinute;

/// One user's minute.
#[derive(Debug, Clone, Default, PartialEq, Eq, sqlx::FromRow, serde::Serialize)]
pub struct UserMinute {
    pub user_id: i64,
    pub minute_ts: i64,
    /// Counters.
    pub pub_count: i64,
    pub pub_bytes: i64,
    pub sub_count: i64,
    pub sub_bytes: i64,
    pub error_count: i64,
    /// Gauge.
    pub is_online: bool,
}

/// Read and written straight from the admin API's DTO (shared with the console).
pub use pulsemq_shared::dto::SystemMinute;

/// One topic's hour (from [`rollup_hour`]).
#[derive(Debug, Clone, Default, PartialEq, sqlx::FromRow, serde::Serialize)]
pub struct TopicHour {
    pub namespace: String,
    pub topic_name: String,
    pub hour_ts: i64,
    pub msg_count: i64,
    pub byte_count: i64,
    pub avg_sub_count: f64,
    pub avg_latency_p50: f64,
    pub avg_latency_p99: f64,
}

/// One user's hour (from [`rollup_hour`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, sqlx::FromRow, serde::Serialize)]
pub struct UserHour {
    pub user_id: i64,
    pub hour_ts: i64,
    pub pub_count: i64,
    pub pub_bytes: i64,
    pub sub_count: i64,
    pub sub_bytes: i64,
    pub online_minutes: i64,
}

/// Rows removed by [`delete_older_than`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Purged {
    pub minute_rows: u64,
    pub hour_rows: u64,
}

/// Start of the minute containing `unix_secs`.
pub fn minute_of(unix_secs: i64) -> i64 {
    unix_secs - unix_secs.rem_euclid(60)
}

/// Start of the hour containing `unix_secs`.
pub fn hour_of(unix_secs: i64) -> i64 {
    unix_secs - unix_secs.rem_euclid(3600)
}

/// Cutoffs for [`delete_older_than`] from the `monitoring` settings, which —
/// despite their names, kept from the original — are *days*: minute rows
/// are kept `minute_days` days (7 by default), hour rows `hour_days` days (30).
pub fn retention_cutoffs(now: i64, minute_days: u32, hour_days: u32) -> (i64, i64) {
    (now - i64::from(minute_days) * 86_400, now - i64::from(hour_days) * 86_400)
}

async fn upsert_topic_in(conn: &mut SqliteConnection, r: &TopicMinute) -> Result<(), sqlx::Error> {
    // CASE instead of MAX()/GREATEST(), whose spelling differs between SQLite and PostgreSQL.
    sqlx::query(
        "INSERT INTO stats_topic_minute (namespace, topic_name, minute_ts, msg_count, byte_count, sub_count, pub_count, \
         latency_p50, latency_p99, latency_max, drop_count, sub_churn) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
         ON CONFLICT (namespace, topic_name, minute_ts) DO UPDATE SET \
         msg_count = stats_topic_minute.msg_count + excluded.msg_count, \
         byte_count = stats_topic_minute.byte_count + excluded.byte_count, \
         sub_count = excluded.sub_count, \
         pub_count = CASE WHEN excluded.pub_count > stats_topic_minute.pub_count \
             THEN excluded.pub_count ELSE stats_topic_minute.pub_count END, \
         latency_p50 = excluded.latency_p50, \
         latency_p99 = excluded.latency_p99, \
         latency_max = CASE WHEN excluded.latency_max > stats_topic_minute.latency_max \
             THEN excluded.latency_max ELSE stats_topic_minute.latency_max END, \
         drop_count = stats_topic_minute.drop_count + excluded.drop_count, \
         sub_churn = stats_topic_minute.sub_churn + excluded.sub_churn",
    )
    .bind(&r.namespace)
    .bind(&r.topic_name)
    .bind(r.minute_ts)
    .bind(r.msg_count)
    .bind(r.byte_count)
    .bind(r.sub_count)
    .bind(r.pub_count)
    .bind(r.latency_p50)
    .bind(r.latency_p99)
    .bind(r.latency_max)
    .bind(r.drop_count)
    .bind(r.sub_churn)
    .execute(conn)
    .await?;
    Ok(())
}

async fn upsert_user_in(conn: &mut SqliteConnection, r: &UserMinute) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO stats_user_minute (user_id, minute_ts, pub_count, pub_bytes, sub_count, sub_bytes, error_count, is_online) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
         ON CONFLICT (user_id, minute_ts) DO UPDATE SET \
         pub_count = stats_user_minute.pub_count + excluded.pub_count, \
         pub_bytes = stats_user_minute.pub_bytes + excluded.pub_bytes, \
         sub_count = stats_user_minute.sub_count + excluded.sub_count, \
         sub_bytes = stats_user_minute.sub_bytes + excluded.sub_bytes, \
         error_count = stats_user_minute.error_count + excluded.error_count, \
         is_online = excluded.is_online",
    )
    .bind(r.user_id)
    .bind(r.minute_ts)
    .bind(r.pub_count)
    .bind(r.pub_bytes)
    .bind(r.sub_count)
    .bind(r.sub_bytes)
    .bind(r.error_count)
    .bind(r.is_online)
    .execute(conn)
    .await?;
    Ok(())
}

async fn upsert_system_in(conn: &mut SqliteConnection, r: &SystemMinute) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO stats_system_minute (minute_ts, msg_total, byte_total, online_users, active_connections, \
         auth_total, auth_fail, perm_denied, drops, latency_p50_us, latency_p99_us, memory_mb) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
         ON CONFLICT (minute_ts) DO UPDATE SET \
         msg_total = stats_system_minute.msg_total + excluded.msg_total, \
         byte_total = stats_system_minute.byte_total + excluded.byte_total, \
         online_users = excluded.online_users, \
         active_connections = excluded.active_connections, \
         auth_total = stats_system_minute.auth_total + excluded.auth_total, \
         auth_fail = stats_system_minute.auth_fail + excluded.auth_fail, \
         perm_denied = stats_system_minute.perm_denied + excluded.perm_denied, \
         drops = stats_system_minute.drops + excluded.drops, \
         latency_p50_us = excluded.latency_p50_us, \
         latency_p99_us = excluded.latency_p99_us, \
         memory_mb = excluded.memory_mb",
    )
    .bind(r.minute_ts)
    .bind(r.msg_total)
    .bind(r.byte_total)
    .bind(r.online_users)
    .bind(r.active_connections)
    .bind(r.auth_total)
    .bind(r.auth_fail)
    .bind(r.perm_denied)
    .bind(r.drops)
    .bind(r.latency_p50_us)
    .bind(r.latency_p99_us)
    .bind(r.memory_mb)
    .execute(conn)
    .await?;
    Ok(())
}

/// Writes one flush of the roll-up job in a single transaction, so a
/// minute's rows never appear half-written.
pub async fn upsert_minutes(
    store: &Store,
    topics: &[TopicMinute],
    users: &[UserMinute],
    system: Option<&SystemMinute>,
) -> crate::Result<()> {
    let mut tx = store.pool().begin().await?;
    for r in topics {
        upsert_topic_in(&mut tx, r).await?;
    }
    for r in users {
        upsert_user_in(&mut tx, r).await?;
    }
    if let Some(r) = system {
        upsert_system_in(&mut tx, r).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// System minutes from `since` (inclusive), oldest first: the dashboard's history.
pub async fn system_minutes(store: &Store, since: i64) -> crate::Result<Vec<SystemMinute>> {
    Ok(sqlx::query_as(
        "SELECT minute_ts, msg_total, byte_total, online_users, active_connections, auth_total, auth_fail, perm_denied, \
         drops, latency_p50_us, latency_p99_us, memory_mb \
         FROM stats_system_minute WHERE minute_ts >= $1 ORDER BY minute_ts",
    )
    .bind(since)
    .fetch_all(store.pool())
    .await?)
}

/// Topic minutes from `since`, optionally of one namespace and/or topic,
/// ordered by time then name.
pub async fn topic_minutes(
    store: &Store,
    namespace: Option<&str>,
    topic: Option<&str>,
    since: i64,
) -> crate::Result<Vec<TopicMinute>> {
    Ok(sqlx::query_as(
        "SELECT namespace, topic_name, minute_ts, msg_count, byte_count, sub_count, pub_count, latency_p50, latency_p99, \
         latency_max, drop_count, sub_churn FROM stats_topic_minute \
         WHERE minute_ts >= $1 AND ($2 IS NULL OR namespace = $2) AND ($3 IS NULL OR topic_name = $3) \
         ORDER BY minute_ts, namespace, topic_name",
    )
    .bind(since)
    .bind(namespace)
    .bind(topic)
    .fetch_all(store.pool())
    .await?)
}

/// User minutes from `since`, optionally of one user, ordered by time then user.
pub async fn user_minutes(store: &Store, user_id: Option<i64>, since: i64) -> crate::Result<Vec<UserMinute>> {
    Ok(sqlx::query_as(
        "SELECT user_id, minute_ts, pub_count, pub_bytes, sub_count, sub_bytes, error_count, is_online \
         FROM stats_user_minute WHERE minute_ts >= $1 AND ($2 IS NULL OR user_id = $2) ORDER BY minute_ts, user_id",
    )
    .bind(since)
    .bind(user_id)
    .fetch_all(store.pool())
    .await?)
}

/// Recomputes the hour starting at `hour_ts` from its minute rows
/// (overwriting, so running it twice, or again after late minutes, is safe).
/// The `WHERE` before `ON CONFLICT` is required: without one SQLite cannot
/// tell the upsert clause from a join constraint.
pub async fn rollup_hour(store: &Store, hour_ts: i64) -> crate::Result<()> {
    let mut tx = store.pool().begin().await?;
    sqlx::query(
        "INSERT INTO stats_topic_hour (namespace, topic_name, hour_ts, msg_count, byte_count, avg_sub_count, \
         avg_latency_p50, avg_latency_p99) \
         SELECT namespace, topic_name, $1, SUM(msg_count), SUM(byte_count), AVG(sub_count), AVG(latency_p50), AVG(latency_p99) \
         FROM stats_topic_minute WHERE minute_ts >= $1 AND minute_ts < $2 GROUP BY namespace, topic_name \
         ON CONFLICT (namespace, topic_name, hour_ts) DO UPDATE SET \
         msg_count = excluded.msg_count, byte_count = excluded.byte_count, avg_sub_count = excluded.avg_sub_count, \
         avg_latency_p50 = excluded.avg_latency_p50, avg_latency_p99 = excluded.avg_latency_p99",
    )
    .bind(hour_ts)
    .bind(hour_ts + 3600)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO stats_user_hour (user_id, hour_ts, pub_count, pub_bytes, sub_count, sub_bytes, online_minutes) \
         SELECT user_id, $1, SUM(pub_count), SUM(pub_bytes), SUM(sub_count), SUM(sub_bytes), SUM(is_online) \
         FROM stats_user_minute WHERE minute_ts >= $1 AND minute_ts < $2 GROUP BY user_id \
         ON CONFLICT (user_id, hour_ts) DO UPDATE SET \
         pub_count = excluded.pub_count, pub_bytes = excluded.pub_bytes, sub_count = excluded.sub_count, \
         sub_bytes = excluded.sub_bytes, online_minutes = excluded.online_minutes",
    )
    .bind(hour_ts)
    .bind(hour_ts + 3600)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Topic hours from `since`, optionally of one namespace, ordered by time then name.
pub async fn topic_hours(store: &Store, namespace: Option<&str>, since: i64) -> crate::Result<Vec<TopicHour>> {
    Ok(sqlx::query_as(
        "SELECT namespace, topic_name, hour_ts, msg_count, byte_count, avg_sub_count, avg_latency_p50, avg_latency_p99 \
         FROM stats_topic_hour WHERE hour_ts >= $1 AND ($2 IS NULL OR namespace = $2) \
         ORDER BY hour_ts, namespace, topic_name",
    )
    .bind(since)
    .bind(namespace)
    .fetch_all(store.pool())
    .await?)
}

/// User hours from `since`, optionally of one user, ordered by time then user.
pub async fn user_hours(store: &Store, user_id: Option<i64>, since: i64) -> crate::Result<Vec<UserHour>> {
    Ok(sqlx::query_as(
        "SELECT user_id, hour_ts, pub_count, pub_bytes, sub_count, sub_bytes, online_minutes \
         FROM stats_user_hour WHERE hour_ts >= $1 AND ($2 IS NULL OR user_id = $2) ORDER BY hour_ts, user_id",
    )
    .bind(since)
    .bind(user_id)
    .fetch_all(store.pool())
    .await?)
}

/// Deletes minute rows older than `minute_cutoff` and hour rows older than
/// `hour_cutoff` (Unix seconds; see [`retention_cutoffs`]).
pub async fn delete_older_than(store: &Store, minute_cutoff: i64, hour_cutoff: i64) -> crate::Result<Purged> {
    let mut tx = store.pool().begin().await?;
    let mut purged = Purged::default();
    for sql in [
        "DELETE FROM stats_topic_minute WHERE minute_ts < $1",
        "DELETE FROM stats_user_minute WHERE minute_ts < $1",
        "DELETE FROM stats_system_minute WHERE minute_ts < $1",
    ] {
        purged.minute_rows += sqlx::query(sql).bind(minute_cutoff).execute(&mut *tx).await?.rows_affected();
    }
    for sql in ["DELETE FROM stats_topic_hour WHERE hour_ts < $1", "DELETE FROM stats_user_hour WHERE hour_ts < $1"] {
        purged.hour_rows += sqlx::query(sql).bind(hour_cutoff).execute(&mut *tx).await?.rows_affected();
    }
    tx.commit().await?;
    Ok(purged)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topic(ns: &str, name: &str, ts: i64, msgs: i64) -> TopicMinute {
        TopicMinute {
            namespace: ns.into(),
            topic_name: name.into(),
            minute_ts: ts,
            msg_count: msgs,
            byte_count: msgs * 10,
            ..Default::default()
        }
    }

    #[test]
    fn minute_hour_and_cutoff_arithmetic() {
        assert_eq!(minute_of(125), 120);
        assert_eq!(hour_of(7_199), 3_600);
        assert_eq!(retention_cutoffs(100 * 86_400, 7, 30), (93 * 86_400, 70 * 86_400));
    }

    #[tokio::test]
    async fn topic_upsert_adds_counters_overwrites_gauges_and_keys_by_namespace() {
        let store = Store::open_memory().await.unwrap();
        let first = TopicMinute {
            sub_count: 5,
            pub_count: 2,
            latency_p50: 10.0,
            latency_max: 90.0,
            drop_count: 1,
            sub_churn: 3,
            ..topic("a", "t", 60, 4)
        };
        let second = TopicMinute {
            sub_count: 7,
            pub_count: 1,
            latency_p50: 20.0,
            latency_max: 50.0,
            drop_count: 2,
            sub_churn: 1,
            ..topic("a", "t", 60, 6)
        };
        let other_ns = topic("b", "t", 60, 100);
        upsert_minutes(&store, &[first, other_ns.clone()], &[], None).await.unwrap();
        upsert_minutes(&store, &[second], &[], None).await.unwrap();

        let rows = topic_minutes(&store, None, None, 0).await.unwrap();
        assert_eq!(rows.len(), 2);
        let a = &rows[0];
        assert_eq!(
            (a.msg_count, a.byte_count, a.sub_count, a.pub_count, a.drop_count, a.sub_churn),
            (10, 100, 7, 2, 3, 4)
        );
        assert_eq!((a.latency_p50, a.latency_max), (20.0, 90.0));
        assert_eq!(rows[1], other_ns);

        assert_eq!(topic_minutes(&store, Some("b"), None, 0).await.unwrap(), vec![other_ns]);
        assert_eq!(topic_minutes(&store, Some("a"), Some("t"), 0).await.unwrap().len(), 1);
        assert!(topic_minutes(&store, None, Some("x"), 0).await.unwrap().is_empty());
        assert!(topic_minutes(&store, None, None, 120).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn user_and_system_upserts() {
        let store = Store::open_memory().await.unwrap();
        let u1 = UserMinute {
            user_id: 1,
            minute_ts: 60,
            pub_count: 2,
            pub_bytes: 20,
            is_online: true,
            ..Default::default()
        };
        let u2 = UserMinute {
            user_id: 1,
            minute_ts: 60,
            pub_count: 3,
            pub_bytes: 30,
            error_count: 1,
            is_online: false,
            ..Default::default()
        };
        let s1 = SystemMinute {
            minute_ts: 60,
            msg_total: 5,
            auth_total: 2,
            auth_fail: 1,
            drops: 4,
            online_users: 3,
            active_connections: 4,
            latency_p50_us: 12.5,
            latency_p99_us: 80.0,
            ..Default::default()
        };
        let s2 = SystemMinute {
            minute_ts: 60,
            msg_total: 1,
            byte_total: 7,
            perm_denied: 2,
            drops: 1,
            online_users: 2,
            active_connections: 2,
            latency_p50_us: 11.0,
            latency_p99_us: 70.0,
            memory_mb: 42.0,
            ..Default::default()
        };
        upsert_minutes(&store, &[], &[u1], Some(&s1)).await.unwrap();
        upsert_minutes(&store, &[], &[u2], Some(&s2)).await.unwrap();

        let users = user_minutes(&store, Some(1), 0).await.unwrap();
        assert_eq!(
            users,
            vec![UserMinute {
                user_id: 1,
                minute_ts: 60,
                pub_count: 5,
                pub_bytes: 50,
                error_count: 1,
                is_online: false,
                ..Default::default()
            }]
        );
        assert!(user_minutes(&store, Some(2), 0).await.unwrap().is_empty());
        assert_eq!(user_minutes(&store, None, 0).await.unwrap().len(), 1);

        let sys = system_minutes(&store, 0).await.unwrap();
        assert_eq!(
            sys,
            vec![SystemMinute {
                minute_ts: 60,
                msg_total: 6,
                byte_total: 7,
                online_users: 2,
                active_connections: 2,
                auth_total: 2,
                auth_fail: 1,
                perm_denied: 2,
                drops: 5,
                latency_p50_us: 11.0,
                latency_p99_us: 70.0,
                memory_mb: 42.0,
            }]
        );
        assert!(system_minutes(&store, 61).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn hourly_rollup_sums_and_averages_and_can_rerun() {
        let store = Store::open_memory().await.unwrap();
        let h = 7_200;
        let t = |ts, msgs, subs, p50| TopicMinute { sub_count: subs, latency_p50: p50, ..topic("a", "t", ts, msgs) };
        let topics = [t(h, 1, 2, 10.0), t(h + 60, 3, 4, 30.0), t(h + 3_600, 100, 0, 0.0)];
        let u = |ts, n, online| UserMinute {
            user_id: 9,
            minute_ts: ts,
            pub_count: n,
            is_online: online,
            ..Default::default()
        };
        upsert_minutes(&store, &topics, &[u(h, 1, true), u(h + 60, 2, true), u(h + 120, 4, false)], None)
            .await
            .unwrap();

        rollup_hour(&store, h).await.unwrap();
        rollup_hour(&store, h).await.unwrap();
        let th = topic_hours(&store, None, 0).await.unwrap();
        assert_eq!(
            th,
            vec![TopicHour {
                namespace: "a".into(),
                topic_name: "t".into(),
                hour_ts: h,
                msg_count: 4,
                byte_count: 40,
                avg_sub_count: 3.0,
                avg_latency_p50: 20.0,
                avg_latency_p99: 0.0
            }]
        );
        assert!(topic_hours(&store, Some("b"), 0).await.unwrap().is_empty());
        let uh = user_hours(&store, Some(9), 0).await.unwrap();
        assert_eq!(
            uh,
            vec![UserHour { user_id: 9, hour_ts: h, pub_count: 7, online_minutes: 2, ..Default::default() }]
        );
        assert!(user_hours(&store, None, h + 1).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn retention_deletes_only_old_rows() {
        let store = Store::open_memory().await.unwrap();
        let u = |ts| UserMinute { user_id: 1, minute_ts: ts, ..Default::default() };
        let s = |ts| SystemMinute { minute_ts: ts, ..Default::default() };
        upsert_minutes(&store, &[topic("a", "t", 60, 1), topic("a", "t", 6_000, 1)], &[u(60), u(6_000)], Some(&s(60)))
            .await
            .unwrap();
        upsert_minutes(&store, &[], &[], Some(&s(6_000))).await.unwrap();
        rollup_hour(&store, 0).await.unwrap();
        rollup_hour(&store, 3_600).await.unwrap();

        let purged = delete_older_than(&store, 3_000, 3_600).await.unwrap();
        assert_eq!(purged, Purged { minute_rows: 3, hour_rows: 2 });
        assert_eq!(topic_minutes(&store, None, None, 0).await.unwrap().len(), 1);
        assert_eq!(user_minutes(&store, None, 0).await.unwrap().len(), 1);
        assert_eq!(system_minutes(&store, 0).await.unwrap().len(), 1);
        assert_eq!(topic_hours(&store, None, 0).await.unwrap().len(), 1);
        assert_eq!(user_hours(&store, None, 0).await.unwrap().len(), 1);
        assert_eq!(delete_older_than(&store, 3_000, 3_600).await.unwrap(), Purged::default());
    }
}
