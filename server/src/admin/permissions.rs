//! Namespace permissions: grant, change role, revoke, list per namespace and
//! per user. Each change is pushed to the engine before the reply, so a
//! revoked subscriber has lost its subscriptions when the client sees 200.

use axum::extract::State;
use axum::Json;
use pulsemq_shared::dto::{ChangeRole, ErrorBody, GrantPermission, Permission, PermissionChanged};

use super::auth::AdminUser;
use super::error::{ApiError, ApiJson, ApiPath, ApiResult};
use super::AdminState;
use crate::perms::Role;
use crate::store::audit::NewAudit;
use crate::store::permissions::{self, Grant, PermissionRow};

fn parse_role(s: &str) -> ApiResult<Role> {
    Role::parse(s).ok_or_else(|| ApiError::bad(format!("unknown role '{s}': use sub, pub or admin")))
}

fn changed(status: &str, p: PermissionRow) -> Json<PermissionChanged> {
    Json(PermissionChanged { status: status.into(), permission: p })
}

#[utoipa::path(get, path = "/api/namespaces/{id}/permissions", tag = "permissions", params(("id" = i64, Path)),
    responses((status = 200, body = Vec<Permission>), (status = 404, body = ErrorBody)))]
pub async fn list_for_namespace(
    State(st): State<AdminState>,
    _u: AdminUser,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<Vec<Permission>>> {
    super::namespaces::existing(&st, id).await?;
    Ok(Json(permissions::list_for_namespace(&st.store, id).await?))
}

#[utoipa::path(get, path = "/api/users/{id}/permissions", tag = "permissions", params(("id" = i64, Path)),
    responses((status = 200, body = Vec<Permission>), (status = 404, body = ErrorBody)))]
pub async fn list_for_user(
    State(st): State<AdminState>,
    _u: AdminUser,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<Vec<Permission>>> {
    super::users::existing_row(&st, id).await?;
    Ok(Json(permissions::list_for_user(&st.store, id).await?))
}

#[utoipa::path(post, path = "/api/namespaces/{id}/permissions", tag = "permissions", params(("id" = i64, Path)),
    request_body = GrantPermission,
    responses(
        (status = 200, description = "Granted and in force", body = PermissionChanged),
        (status = 400, description = "Unknown role", body = ErrorBody),
        (status = 404, description = "Unknown namespace or user", body = ErrorBody),
        (status = 409, description = "Already granted (change it with PUT)", body = ErrorBody),
    ))]
pub async fn grant(
    State(st): State<AdminState>,
    user: AdminUser,
    ApiPath(ns_id): ApiPath<i64>,
    ApiJson(body): ApiJson<GrantPermission>,
) -> ApiResult<Json<PermissionChanged>> {
    let role = parse_role(body.role.as_deref().unwrap_or("sub"))?;
    let ns = super::namespaces::existing(&st, ns_id).await?;
    super::users::existing_row(&st, body.user_id).await?;
    let row = match permissions::grant(&st.store, body.user_id, ns_id, role, &user.username).await? {
        Grant::Granted(r) => r,
        Grant::AlreadyGranted => {
            return Err(ApiError::Conflict(format!(
                "user {} already has a role in namespace '{}'; change it with PUT",
                body.user_id, ns.name
            )))
        }
        // Deleted between the checks above and the insert.
        Grant::UnknownUserOrNamespace => return Err(ApiError::NotFound("user or namespace not found".into())),
    };
    st.reload_permissions().await?;
    st.audit(NewAudit {
        op_type: "grant",
        target_type: "namespace_permission",
        operator: &user.username,
        target: &row.username,
        namespace: Some(&row.namespace),
        new_value: Some(&row.role),
        ..Default::default()
    })
    .await;
    Ok(changed("granted", row))
}

#[utoipa::path(put, path = "/api/namespaces/{id}/permissions/{user_id}", tag = "permissions",
    params(("id" = i64, Path), ("user_id" = i64, Path)), request_body = ChangeRole,
    responses((status = 200, body = PermissionChanged), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn change_role(
    State(st): State<AdminState>,
    user: AdminUser,
    ApiPath((ns_id, user_id)): ApiPath<(i64, i64)>,
    ApiJson(body): ApiJson<ChangeRole>,
) -> ApiResult<Json<PermissionChanged>> {
    let role = parse_role(&body.role)?;
    let old = permissions::change_role(&st.store, user_id, ns_id, role, &user.username)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("user {user_id} has no role in namespace {ns_id}")))?;
    st.reload_permissions().await?;
    let now = permissions::get(&st.store, user_id, ns_id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("user {user_id} has no role in namespace {ns_id}")))?;
    st.audit(NewAudit {
        op_type: "change_role",
        target_type: "namespace_permission",
        operator: &user.username,
        target: &now.username,
        namespace: Some(&now.namespace),
        old_value: Some(&old.role),
        new_value: Some(&now.role),
    })
    .await;
    Ok(changed("updated", now))
}

#[utoipa::path(delete, path = "/api/namespaces/{id}/permissions/{user_id}", tag = "permissions",
    params(("id" = i64, Path), ("user_id" = i64, Path)),
    responses((status = 200, description = "Revoked and in force", body = PermissionChanged), (status = 404, body = ErrorBody)))]
pub async fn revoke(
    State(st): State<AdminState>,
    user: AdminUser,
    ApiPath((ns_id, user_id)): ApiPath<(i64, i64)>,
) -> ApiResult<Json<PermissionChanged>> {
    let old = permissions::revoke(&st.store, user_id, ns_id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("user {user_id} has no role in namespace {ns_id}")))?;
    st.reload_permissions().await?;
    st.audit(NewAudit {
        op_type: "revoke",
        target_type: "namespace_permission",
        operator: &user.username,
        target: &old.username,
        namespace: Some(&old.namespace),
        old_value: Some(&old.role),
        ..Default::default()
    })
    .await;
    Ok(changed("revoked", old))
}
