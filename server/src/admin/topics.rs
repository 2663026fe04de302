//! `/api/topics`: list with filters, get, delete. A deleted topic is also
//! forgotten by the engine, so it disappears from QUERY answers and stats.

use axum::extract::State;
use axum::response::Response;
use axum::Json;
use pulsemq_shared::dto::{ErrorBody, StatusBody, Topic};
use serde::Deserialize;

use super::auth::AdminUser;
use super::error::{page, paged, ApiError, ApiPath, ApiQuery, ApiResult};
use super::AdminState;
use crate::control::Control;
use crate::store::audit::NewAudit;
use crate::store::topics::{self, TopicRow};

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Only this namespace (by name).
    pub namespace: Option<String>,
    /// Only topics whose name contains this text.
    pub q: Option<String>,
    /// Only topics with this prefix (e.g. `sz000651.`).
    pub prefix: Option<String>,
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

#[utoipa::path(get, path = "/api/topics", tag = "topics", params(ListQuery),
    responses((status = 200, description = "Topics; total in X-Total-Count", body = Vec<Topic>), (status = 400, body = ErrorBody)))]
pub async fn list(
    State(st): State<AdminState>,
    _u: AdminUser,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> ApiResult<Response> {
    let (limit, offset) = page(q.limit, q.offset, 1000, 10_000)?;
    let all: Vec<TopicRow> = topics::list(&st.store, q.namespace.as_deref())
        .await?
        .into_iter()
        .filter(|t| q.q.as_deref().is_none_or(|s| t.name.contains(s)))
        .filter(|t| q.prefix.as_deref().is_none_or(|p| t.name.starts_with(p)))
        .collect();
    let total = all.len() as i64;
    let items = all.into_iter().skip(offset as usize).take(limit as usize).collect();
    Ok(paged(items, total))
}

#[utoipa::path(get, path = "/api/topics/{id}", tag = "topics", params(("id" = i64, Path)),
    responses((status = 200, body = Topic), (status = 404, body = ErrorBody)))]
pub async fn get_one(State(st): State<AdminState>, _u: AdminUser, ApiPath(id): ApiPath<i64>) -> ApiResult<Json<Topic>> {
    let row = topics::get(&st.store, id).await?.ok_or_else(|| ApiError::not_found("topic", id))?;
    Ok(Json(row))
}

#[utoipa::path(delete, path = "/api/topics/{id}", tag = "topics", params(("id" = i64, Path)),
    responses((status = 200, body = StatusBody), (status = 404, body = ErrorBody)))]
pub async fn delete(
    State(st): State<AdminState>,
    user: AdminUser,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<StatusBody>> {
    let row = topics::delete(&st.store, id).await?.ok_or_else(|| ApiError::not_found("topic", id))?;
    st.engine.send(Control::ForgetTopic { namespace: row.namespace.clone(), topic: row.name.clone() })?;
    st.audit(NewAudit {
        op_type: "delete_topic",
        target_type: "topic",
        operator: &user.username,
        target: &row.name,
        namespace: Some(&row.namespace),
        ..Default::default()
    })
    .await;
    Ok(Json(StatusBody::new("deleted")))
}
