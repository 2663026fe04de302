//! `/api/monitor/*` and `/api/alarms`: the drill-down behind the console's
//! connection and topic pages, the slow-consumer list and the alarm
//! history (see [`crate::monitor`]). Read-only, for every admin account.

use axum::extract::State;
use axum::Json;
use pulsemq_shared::dto::{AlarmsView, ConnectionDetail, ErrorBody, SlowConsumer, TopicDetail, TopicSubscriber};
use pulsemq_shared::Pattern;
use serde::Deserialize;

use super::auth::AdminUser;
use super::error::{ApiError, ApiPath, ApiQuery, ApiResult};
use super::stats::{parsed_subscriptions, topic_stats};
use super::AdminState;
use crate::store::alarms;

#[utoipa::path(get, path = "/api/monitor/connections/{session}", tag = "monitor",
    params(("session" = String, Path, description = "The session id shown by /api/connections")),
    responses((status = 200, body = ConnectionDetail),
              (status = 404, description = "No such session now or within monitoring.recent_minutes", body = ErrorBody)))]
pub async fn connection(
    State(st): State<AdminState>,
    _u: AdminUser,
    ApiPath(session): ApiPath<String>,
) -> ApiResult<Json<ConnectionDetail>> {
    let live = super::connections::fetch(&st).await?.into_iter().find(|c| c.session == session);
    let known = st.monitor.connection(&session);
    match (live, known) {
        // The live figures are fresher than the last sample.
        (Some(c), Some(d)) => Ok(Json(ConnectionDetail { connection: c, online: true, ..d })),
        // Connected since the last sample: no chart yet.
        (Some(c), None) => Ok(Json(ConnectionDetail {
            connection: c,
            online: true,
            samples: vec![],
            interval_sec: st.monitor.interval_sec,
        })),
        (None, Some(d)) => Ok(Json(ConnectionDetail { online: false, ..d })),
        (None, None) => Err(ApiError::not_found("session", pulsemq_shared::names::shown(&session))),
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct TopicQuery {
    pub namespace: String,
    pub topic: String,
}

#[utoipa::path(get, path = "/api/monitor/topic", tag = "monitor", params(TopicQuery),
    responses((status = 200, body = TopicDetail), (status = 404, description = "The broker knows no such topic", body = ErrorBody)))]
pub async fn topic(
    State(st): State<AdminState>,
    _u: AdminUser,
    ApiQuery(q): ApiQuery<TopicQuery>,
) -> ApiResult<Json<TopicDetail>> {
    let snap = st.stats.borrow().topics.clone();
    let Some(figures) = snap.iter().find(|t| *t.namespace == *q.namespace && *t.topic == *q.topic) else {
        return Err(ApiError::not_found(
            "topic",
            pulsemq_shared::names::shown(&format!("{}/{}", q.namespace, q.topic)),
        ));
    };
    let conns = super::connections::fetch(&st).await?;
    let stats = topic_stats(&st, figures, &parsed_subscriptions(&conns));
    let subscribers = conns
        .into_iter()
        .filter_map(|c| {
            let patterns: Vec<String> = c
                .subscriptions
                .iter()
                .filter_map(|s| s.split_once(':'))
                .filter(|(ns, p)| *ns == q.namespace && Pattern::parse(p).is_ok_and(|p| p.matches(&q.topic)))
                .map(|(_, p)| p.to_owned())
                .collect();
            (!patterns.is_empty()).then_some(TopicSubscriber {
                session: c.session,
                username: c.username,
                peer_address: c.peer_address,
                patterns,
                pending_bytes: c.pending_bytes,
                drops: c.drops,
                slow: c.slow,
            })
        })
        .collect();
    Ok(Json(TopicDetail {
        stats,
        subscribers,
        samples: st.monitor.topic(&q.namespace, &q.topic),
        interval_sec: st.monitor.interval_sec,
    }))
}

#[utoipa::path(get, path = "/api/monitor/slow-consumers", tag = "monitor",
    responses((status = 200, description = "Sessions that dropped within alarms.window_sec or hold at least alarms.slow_consumer_bytes; worst first",
               body = Vec<SlowConsumer>)))]
pub async fn slow_consumers(State(st): State<AdminState>, _u: AdminUser) -> Json<Vec<SlowConsumer>> {
    Json(st.monitor.slow_consumers())
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AlarmsQuery {
    /// History entries (newest first), 1–1000, default 100.
    pub limit: Option<i64>,
}

#[utoipa::path(get, path = "/api/alarms", tag = "monitor", params(AlarmsQuery),
    responses((status = 200, body = AlarmsView), (status = 400, body = ErrorBody)))]
pub async fn list(
    State(st): State<AdminState>,
    _u: AdminUser,
    ApiQuery(q): ApiQuery<AlarmsQuery>,
) -> ApiResult<Json<AlarmsView>> {
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad("limit must be between 1 and 1000"));
    }
    let history = alarms::recent(&st.store, limit).await?;
    let active = alarms::active(&st.store).await?;
    Ok(Json(AlarmsView { active, history, thresholds: st.monitor.thresholds.clone() }))
}
