//! `/api/connections`: live MQ sessions as the engine sees them, and
//! disconnect-user. Routing ids never leave the engine (they are the
//! session's secret, design.md §3).

use axum::extract::State;
use axum::Json;
use pulsemq_shared::dto::{Connection, DisconnectUser, Disconnected, ErrorBody};
use serde::Deserialize;

use super::auth::AdminUser;
use super::error::{ApiJson, ApiQuery, ApiResult};
use super::AdminState;
use crate::control::{ConnectionInfo, Control};
use crate::store::audit::NewAudit;

/// Asks the engine for its live sessions.
pub async fn fetch(st: &AdminState) -> ApiResult<Vec<ConnectionInfo>> {
    Ok(st.engine.request(Control::Connections).await?)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Only this user's sessions.
    pub user_id: Option<i64>,
}

#[utoipa::path(get, path = "/api/connections", tag = "connections", params(ListQuery),
    responses((status = 200, body = Vec<Connection>), (status = 401, body = ErrorBody)))]
pub async fn list(
    State(st): State<AdminState>,
    _u: AdminUser,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> ApiResult<Json<Vec<Connection>>> {
    let list = fetch(&st).await?;
    Ok(Json(list.into_iter().filter(|c| q.user_id.is_none_or(|u| c.user_id == u)).collect()))
}

#[utoipa::path(post, path = "/api/connections/disconnect-user", tag = "connections", request_body = DisconnectUser,
    responses(
        (status = 200, description = "The user's sessions are closed (they may reconnect while the user is active)", body = Disconnected),
        (status = 404, body = ErrorBody),
    ))]
pub async fn disconnect_user(
    State(st): State<AdminState>,
    user: AdminUser,
    ApiJson(body): ApiJson<DisconnectUser>,
) -> ApiResult<Json<Disconnected>> {
    let target = super::users::existing_row(&st, body.user_id).await?;
    let n = st.engine.request(|tx| Control::KickUser { user_id: body.user_id, reply: Some(tx) }).await?;
    st.audit(NewAudit {
        op_type: "disconnect_user",
        target_type: "user",
        operator: &user.username,
        target: &target.username,
        new_value: Some(&format!("{n} session(s) closed")),
        ..Default::default()
    })
    .await;
    Ok(Json(Disconnected { status: "disconnected".into(), sessions: n as u64 }))
}
