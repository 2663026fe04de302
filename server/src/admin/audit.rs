//! `GET /api/audit-logs`: the audit trail with filters and pagination
//! (newest first; the total is in `X-Total-Count`).

use axum::extract::State;
use axum::response::Response;
use pulsemq_shared::dto::{AuditEntry, ErrorBody};
use serde::Deserialize;

use super::auth::AdminUser;
use super::error::{page, paged, ApiQuery, ApiResult};
use super::AdminState;
use crate::store::audit::{self, AuditFilter};

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Exact match, e.g. `grant`, `revoke`, `auth_failure`, `create_user`.
    pub op_type: Option<String>,
    pub operator: Option<String>,
    pub target: Option<String>,
    pub namespace: Option<String>,
    /// Unix seconds, inclusive.
    pub since: Option<i64>,
    /// Unix seconds, exclusive.
    pub until: Option<i64>,
    /// 1..=1000, default 100.
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

#[utoipa::path(get, path = "/api/audit-logs", tag = "audit", params(AuditQuery),
    responses((status = 200, description = "Entries, newest first; total in X-Total-Count", body = Vec<AuditEntry>),
              (status = 400, body = ErrorBody)))]
pub async fn list(
    State(st): State<AdminState>,
    _u: AdminUser,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> ApiResult<Response> {
    let (limit, offset) = page(q.limit, q.offset, 100, 1000)?;
    let filter = AuditFilter {
        op_type: q.op_type,
        operator: q.operator,
        target: q.target,
        namespace: q.namespace,
        since: q.since,
        until: q.until,
        limit: Some(limit),
        offset,
    };
    let total = audit::count(&st.store, &filter).await?;
    let rows = audit::query(&st.store, &filter).await?;
    Ok(paged(rows, total))
}
