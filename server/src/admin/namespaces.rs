//! `/api/namespaces`: list, create, get, update the description, delete.
//!
//! Names are validated by `pulsemq_shared::validate_namespace`, the very
//! function the broker applies on the wire, so a namespace created here is
//! always one clients can use.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use pulsemq_shared::dto::{CreateNamespace, ErrorBody, Namespace, StatusBody, UpdateNamespace};

use super::auth::AdminUser;
use super::error::{ApiError, ApiJson, ApiPath, ApiResult};
use super::AdminState;
use crate::control::Control;
use crate::store::audit::NewAudit;
use crate::store::namespaces::{self, DeleteNamespace, NamespaceRow};
use crate::store::Created;

/// The namespace or a 404.
pub async fn existing(st: &AdminState, id: i64) -> ApiResult<NamespaceRow> {
    namespaces::get(&st.store, id).await?.ok_or_else(|| ApiError::not_found("namespace", id))
}

#[utoipa::path(get, path = "/api/namespaces", tag = "namespaces",
    responses((status = 200, body = Vec<Namespace>), (status = 401, body = ErrorBody)))]
pub async fn list(State(st): State<AdminState>, _u: AdminUser) -> ApiResult<Json<Vec<Namespace>>> {
    Ok(Json(namespaces::list(&st.store).await?))
}

#[utoipa::path(post, path = "/api/namespaces", tag = "namespaces", request_body = CreateNamespace,
    responses(
        (status = 201, body = Namespace),
        (status = 400, description = "Invalid name", body = ErrorBody),
        (status = 409, description = "Name taken", body = ErrorBody),
    ))]
pub async fn create(
    State(st): State<AdminState>,
    user: AdminUser,
    ApiJson(body): ApiJson<CreateNamespace>,
) -> ApiResult<(StatusCode, Json<Namespace>)> {
    pulsemq_shared::validate_namespace(&body.name).map_err(|e| ApiError::bad(e.to_string()))?;
    let description = body.description.unwrap_or_default();
    let row = match namespaces::create(&st.store, &body.name, &description, &user.username).await? {
        Created::New(r) => r,
        Created::AlreadyExists => return Err(ApiError::Conflict(format!("namespace '{}' already exists", body.name))),
    };
    st.reload_permissions().await?;
    st.audit(NewAudit {
        op_type: "create_namespace",
        target_type: "namespace",
        operator: &user.username,
        target: &row.name,
        namespace: Some(&row.name),
        new_value: Some(&description),
        ..Default::default()
    })
    .await;
    Ok((StatusCode::CREATED, Json(row)))
}

#[utoipa::path(get, path = "/api/namespaces/{id}", tag = "namespaces", params(("id" = i64, Path)),
    responses((status = 200, body = Namespace), (status = 404, body = ErrorBody)))]
pub async fn get_one(
    State(st): State<AdminState>,
    _u: AdminUser,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<Namespace>> {
    Ok(Json(existing(&st, id).await?))
}

#[utoipa::path(put, path = "/api/namespaces/{id}", tag = "namespaces", params(("id" = i64, Path)),
    request_body = UpdateNamespace,
    responses((status = 200, body = Namespace), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn update(
    State(st): State<AdminState>,
    user: AdminUser,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<UpdateNamespace>,
) -> ApiResult<Json<Namespace>> {
    let old = existing(&st, id).await?;
    let row = namespaces::update_description(&st.store, id, &body.description)
        .await?
        .ok_or_else(|| ApiError::not_found("namespace", id))?;
    st.audit(NewAudit {
        op_type: "update_namespace",
        target_type: "namespace",
        operator: &user.username,
        target: &row.name,
        namespace: Some(&row.name),
        old_value: Some(&old.description),
        new_value: Some(&row.description),
    })
    .await;
    Ok(Json(row))
}

#[utoipa::path(delete, path = "/api/namespaces/{id}", tag = "namespaces", params(("id" = i64, Path)),
    responses(
        (status = 200, body = StatusBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "The namespace still has topics", body = ErrorBody),
    ))]
pub async fn delete(
    State(st): State<AdminState>,
    user: AdminUser,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<StatusBody>> {
    let row = match namespaces::delete(&st.store, id).await? {
        DeleteNamespace::Deleted(r) => r,
        DeleteNamespace::NotFound => return Err(ApiError::not_found("namespace", id)),
        DeleteNamespace::HasTopics(n) => {
            return Err(ApiError::Conflict(format!("namespace {id} still has {n} topic(s); delete its topics first")))
        }
    };
    st.engine.send(Control::ForgetNamespace { namespace: row.name.clone() })?;
    st.reload_permissions().await?;
    st.audit(NewAudit {
        op_type: "delete_namespace",
        target_type: "namespace",
        operator: &user.username,
        target: &row.name,
        namespace: Some(&row.name),
        old_value: Some(&row.description),
        ..Default::default()
    })
    .await;
    Ok(Json(StatusBody::new("deleted")))
}
