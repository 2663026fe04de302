//! `/api/namespaces`: list, create, get, update (description, topic limit), delete.
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
use crate::store::namespaces::{self, DeleteNamespace, NamespaceChange, NamespaceRow};
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
    let max_topics = body.max_topics.map(topic_limit).transpose()?.flatten();
    let row = match namespaces::create(&st.store, &body.name, &description, &user.username, max_topics).await? {
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

/// A requested `max_topics`: ≥ 1 sets the namespace's own limit, 0 returns
/// to the broker's `limits.max_topics_per_namespace` (`None`).
fn topic_limit(n: i64) -> ApiResult<Option<i64>> {
    match n {
        0 => Ok(None),
        1.. => Ok(Some(n)),
        _ => Err(ApiError::bad(format!("max_topics must be 0 (the broker's default) or at least 1, not {n}"))),
    }
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
    if body.description.is_none() && body.max_topics.is_none() {
        return Err(ApiError::bad("nothing to update: give description and/or max_topics"));
    }
    let change = NamespaceChange {
        description: body.description.as_deref(),
        max_topics: body.max_topics.map(topic_limit).transpose()?,
    };
    let old = existing(&st, id).await?;
    let row = namespaces::update(&st.store, id, &change).await?.ok_or_else(|| ApiError::not_found("namespace", id))?;
    if row.max_topics != old.max_topics {
        // The engine checks new topics against the snapshot's limit.
        st.reload_permissions().await?;
    }
    let shown = |n: &Namespace| format!("description={:?}, max_topics={:?}", n.description, n.max_topics);
    st.audit(NewAudit {
        op_type: "update_namespace",
        target_type: "namespace",
        operator: &user.username,
        target: &row.name,
        namespace: Some(&row.name),
        old_value: Some(&shown(&old)),
        new_value: Some(&shown(&row)),
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
