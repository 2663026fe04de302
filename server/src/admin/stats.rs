//! `/api/stats/*`: live figures from the engine's snapshot, and the minute
//! history persisted by the roll-up job (for the dashboard's charts).

use axum::extract::State;
use axum::Json;
use pulsemq_shared::dto::{ErrorBody, LegacySystemBlock, SystemMinute, SystemStats, TopicMinute, TopicStats};
use pulsemq_shared::Pattern;
use serde::Deserialize;

use super::auth::AdminUser;
use super::error::{ApiError, ApiQuery, ApiResult};
use super::AdminState;
use crate::control::ConnectionInfo;
use crate::engine::stats::{StatsSnapshot, TopicFigures};
use crate::store::{stats, timestamp};

/// The snapshot as the API shows it (also each SSE event).
pub fn system_stats(s: &StatsSnapshot) -> SystemStats {
    let t = &s.totals;
    SystemStats {
        at_ms: s.at_ms,
        uptime_seconds: s.uptime_s,
        msg_rate: s.msg_rate,
        byte_rate: s.byte_rate,
        delivery_rate: s.delivery_rate,
        drop_rate: s.drop_rate,
        connections: s.connections as u64,
        online_users: s.online_users as u64,
        subscriptions: s.subscriptions as u64,
        topics_known: s.topics_known as u64,
        latency_p50_us: s.latency_p50_us,
        latency_p90_us: s.latency_p90_us,
        latency_p99_us: s.latency_p99_us,
        latency_p999_us: s.latency_p999_us,
        totals: *t,
        system: LegacySystemBlock {
            auth_total: t.auth_ok + t.auth_fail,
            auth_fail: t.auth_fail,
            perm_denied: t.perm_denied,
            connections: s.connections as u64,
        },
    }
}

/// How many sessions have at least one subscription matching
/// `namespace`/`topic` (subscriptions are listed as `namespace:pattern`).
pub fn subscribers(conns: &[(i64, Vec<(String, Pattern)>)], namespace: &str, topic: &str) -> u64 {
    conns.iter().filter(|(_, subs)| subs.iter().any(|(ns, p)| ns == namespace && p.matches(topic))).count() as u64
}

/// Parses every session's subscriptions once, for [`subscribers`].
pub fn parsed_subscriptions(conns: &[ConnectionInfo]) -> Vec<(i64, Vec<(String, Pattern)>)> {
    conns
        .iter()
        .map(|c| {
            let subs = c
                .subscriptions
                .iter()
                .filter_map(|s| s.split_once(':'))
                .filter_map(|(ns, p)| Pattern::parse(p).ok().map(|p| (ns.to_owned(), p)))
                .collect();
            (c.user_id, subs)
        })
        .collect()
}

/// One topic's live figures (its rates from [`super::rates`]).
pub fn topic_stats(st: &AdminState, t: &TopicFigures, subs: &[(i64, Vec<(String, Pattern)>)]) -> TopicStats {
    let (msg_rate, byte_rate) = st.rates.get(&t.namespace, &t.topic);
    TopicStats {
        namespace: t.namespace.to_string(),
        topic: t.topic.to_string(),
        msg_rate,
        byte_rate,
        msgs: t.msgs,
        bytes: t.bytes,
        drops: t.drops,
        subscribers: subscribers(subs, &t.namespace, &t.topic),
        seq: t.seq,
        last_publish_ms: t.last_publish_ms,
    }
}

#[utoipa::path(get, path = "/api/stats/system", tag = "stats",
    responses((status = 200, body = SystemStats), (status = 401, body = ErrorBody)))]
pub async fn system(State(st): State<AdminState>, _u: AdminUser) -> Json<SystemStats> {
    Json(system_stats(&st.stats.borrow()))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct TopicsQuery {
    /// Only this namespace.
    pub namespace: Option<String>,
}

#[utoipa::path(get, path = "/api/stats/topics", tag = "stats", params(TopicsQuery),
    responses((status = 200, body = Vec<TopicStats>), (status = 401, body = ErrorBody)))]
pub async fn topics(
    State(st): State<AdminState>,
    _u: AdminUser,
    ApiQuery(q): ApiQuery<TopicsQuery>,
) -> ApiResult<Json<Vec<TopicStats>>> {
    let snap = st.stats.borrow().clone();
    let conns = super::connections::fetch(&st).await?;
    let subs = parsed_subscriptions(&conns);
    let mut out: Vec<TopicStats> = snap
        .topics
        .iter()
        .filter(|t| q.namespace.as_deref().is_none_or(|n| n == &*t.namespace))
        .map(|t| topic_stats(&st, t, &subs))
        .collect();
    out.sort_by(|a, b| (&a.namespace, &a.topic).cmp(&(&b.namespace, &b.topic)));
    Ok(Json(out))
}

/// Longest history served: 7 days, the default minute retention.
const MAX_MINUTES: i64 = 7 * 24 * 60;

fn since(minutes: Option<i64>) -> ApiResult<i64> {
    let m = minutes.unwrap_or(60);
    if !(1..=MAX_MINUTES).contains(&m) {
        return Err(ApiError::bad(format!("minutes must be between 1 and {MAX_MINUTES}")));
    }
    Ok(stats::minute_of(timestamp::now_unix()) - m * 60)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct HistoryQuery {
    /// How far back, in minutes (default 60).
    pub minutes: Option<i64>,
}

#[utoipa::path(get, path = "/api/stats/history", tag = "stats", params(HistoryQuery),
    responses((status = 200, description = "Per-minute system figures, oldest first", body = Vec<SystemMinute>),
              (status = 400, body = ErrorBody)))]
pub async fn history(
    State(st): State<AdminState>,
    _u: AdminUser,
    ApiQuery(q): ApiQuery<HistoryQuery>,
) -> ApiResult<Json<Vec<SystemMinute>>> {
    Ok(Json(stats::system_minutes(&st.store, since(q.minutes)?).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct TopicHistoryQuery {
    pub namespace: Option<String>,
    pub topic: Option<String>,
    /// How far back, in minutes (default 60).
    pub minutes: Option<i64>,
}

#[utoipa::path(get, path = "/api/stats/topics/history", tag = "stats", params(TopicHistoryQuery),
    responses((status = 200, description = "Per-minute topic figures, oldest first", body = Vec<TopicMinute>),
              (status = 400, body = ErrorBody)))]
pub async fn topic_history(
    State(st): State<AdminState>,
    _u: AdminUser,
    ApiQuery(q): ApiQuery<TopicHistoryQuery>,
) -> ApiResult<Json<Vec<TopicMinute>>> {
    Ok(Json(stats::topic_minutes(&st.store, q.namespace.as_deref(), q.topic.as_deref(), since(q.minutes)?).await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscribers_match_patterns_per_namespace() {
        let conn = |subs: &[&str]| ConnectionInfo {
            session: "s".into(),
            user_id: 1,
            username: "u".into(),
            peer_address: "p".into(),
            connected_since: 0,
            protocol: 5,
            attached: true,
            subscriptions: subs.iter().map(|s| s.to_string()).collect(),
            msgs_in: 0,
            bytes_in: 0,
            msgs_out: 0,
            bytes_out: 0,
            drops: 0,
            slow: false,
            gaps: 0,
            pending_bytes: 0,
            last_activity_ms: 0,
        };
        let conns = [conn(&["md:*.kline.1m", "md:a.>"]), conn(&["md:b.trade"]), conn(&["other:a.kline.1m"])];
        let subs = parsed_subscriptions(&conns);
        assert_eq!(subscribers(&subs, "md", "a.kline.1m"), 1);
        assert_eq!(subscribers(&subs, "md", "b.trade"), 1);
        assert_eq!(subscribers(&subs, "md", "c.trade"), 0);
        assert_eq!(subscribers(&subs, "other", "a.kline.1m"), 1);
    }
}
