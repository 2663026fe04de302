//! `/api/users`: list, create (the MQ token is returned once), get, update
//! type / active flag, delete, reset token.
//!
//! Rules the original lacked: no hash ever leaves the broker (the store's
//! public row has no hash column at all); console accounts (`super_admin`,
//! `admin_only`) are created with a password given in the request; the last
//! active `super_admin` cannot be deleted, deactivated or demoted; every
//! change reaches the engine before the reply (a deactivated or deleted
//! user's sessions are already closed).
//!
//! Who may manage whom: an `admin_only` operator hands out MQ access
//! namespace by namespace, so it may create, change, delete and reset the
//! token of `mq_normal` accounts, whose reach is bounded by the namespace
//! permissions it also manages. Every account that is, or would become,
//! anything else (`mq_super`: every namespace; `admin_only`, `super_admin`:
//! the console) is managed by a `super_admin` only. Otherwise an `admin_only`
//! could mint itself an `mq_super` token and read everything.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use pulsemq_shared::dto::{self, CreateUser, CreatedUser, ErrorBody, StatusBody, TokenBody, UpdateUser, User};
use serde::Deserialize;

use super::auth::{hash_password, AdminUser};
use super::error::{page, paged, ApiError, ApiJson, ApiPath, ApiQuery, ApiResult};
use super::AdminState;
use crate::control::Control;
use crate::perms::UserType;
use crate::store::audit::NewAudit;
use crate::store::users::{self, NewUser, UserFilter, UserRow};
use crate::store::Created;
use crate::tokens;

fn parse_type(s: &str) -> ApiResult<UserType> {
    UserType::parse(s).ok_or_else(|| {
        ApiError::bad(format!("unknown user_type '{s}': use super_admin, mq_super, mq_normal or admin_only"))
    })
}

/// 403 unless `user` may manage accounts of every type in `types` (the
/// account's type before and after the change): see the module comment.
fn may_manage(user: &AdminUser, types: &[UserType], what: &str) -> ApiResult<()> {
    match types.iter().find(|t| **t != UserType::MqNormal) {
        Some(t) => user.require_super_admin(&format!("{what} {} accounts", t.as_str())),
        None => Ok(()),
    }
}

/// Accounts that may open MQ sessions, and therefore get a token.
fn has_mq_access(t: UserType) -> bool {
    !matches!(t, UserType::AdminOnly)
}

/// The user with this id, or 404 (as [`super::namespaces::existing`] for namespaces).
pub async fn existing_row(st: &AdminState, id: i64) -> ApiResult<UserRow> {
    users::get(&st.store, id).await?.ok_or_else(|| ApiError::not_found("user", id))
}

async fn existing(st: &AdminState, id: i64) -> ApiResult<(UserRow, UserType)> {
    let row = existing_row(st, id).await?;
    let t = parse_type(&row.user_type)?;
    Ok((row, t))
}

/// Refuses a change that would leave no active `super_admin`.
async fn keep_one_super_admin(st: &AdminState, row: &UserRow, t: UserType, what: &str) -> ApiResult<()> {
    if t == UserType::SuperAdmin && row.is_active && users::count_super_admins(&st.store).await? <= 1 {
        return Err(ApiError::Conflict(format!("cannot {what} '{}': it is the last active super_admin", row.username)));
    }
    Ok(())
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    pub user_type: Option<String>,
    pub is_active: Option<bool>,
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

#[utoipa::path(get, path = "/api/users", tag = "users", params(ListQuery),
    responses((status = 200, description = "Users; total in X-Total-Count", body = Vec<User>), (status = 400, body = ErrorBody)))]
pub async fn list(
    State(st): State<AdminState>,
    _u: AdminUser,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> ApiResult<Response> {
    let (limit, offset) = page(q.limit, q.offset, 1000, 10_000)?;
    let filter = UserFilter {
        user_type: q.user_type.as_deref().map(parse_type).transpose()?,
        is_active: q.is_active,
        limit: Some(limit),
        offset,
    };
    let total = users::count(&st.store, &filter).await?;
    let rows = users::list(&st.store, &filter).await?;
    Ok(paged(rows, total))
}

#[utoipa::path(get, path = "/api/users/{id}", tag = "users", params(("id" = i64, Path)),
    responses((status = 200, body = User), (status = 404, body = ErrorBody)))]
pub async fn get_one(State(st): State<AdminState>, _u: AdminUser, ApiPath(id): ApiPath<i64>) -> ApiResult<Json<User>> {
    Ok(Json(existing(&st, id).await?.0))
}

#[utoipa::path(post, path = "/api/users", tag = "users", request_body = CreateUser,
    responses(
        (status = 201, description = "Created; `token` is shown only here", body = CreatedUser),
        (status = 400, description = "Invalid username, type or password", body = ErrorBody),
        (status = 403, description = "Only a super_admin may create accounts other than mq_normal", body = ErrorBody),
        (status = 409, description = "Username taken", body = ErrorBody),
    ))]
pub async fn create(
    State(st): State<AdminState>,
    user: AdminUser,
    ApiJson(body): ApiJson<CreateUser>,
) -> ApiResult<(StatusCode, Json<CreatedUser>)> {
    dto::validate_username(&body.username).map_err(ApiError::BadRequest)?;
    let user_type = parse_type(body.user_type.as_deref().unwrap_or("mq_normal"))?;
    may_manage(&user, &[user_type], "create")?;
    let password_hash = match (user_type.is_console(), body.password) {
        (true, Some(pw)) => {
            dto::validate_password(&pw).map_err(ApiError::BadRequest)?;
            Some(hash_password(pw).await?)
        }
        (true, None) => {
            return Err(ApiError::bad(format!("a password is required for {} accounts", user_type.as_str())))
        }
        (false, Some(_)) => {
            return Err(ApiError::bad(format!(
                "{} accounts cannot log in to the console; omit the password",
                user_type.as_str()
            )))
        }
        (false, None) => None,
    };
    let token = has_mq_access(user_type).then(tokens::new_token);
    let token_hash = token.as_deref().map(tokens::hash_token);
    let new = NewUser {
        username: &body.username,
        user_type,
        password_hash: password_hash.as_deref(),
        token_hash: token_hash.as_ref(),
    };
    let row = match users::create(&st.store, &new).await? {
        Created::New(r) => r,
        Created::AlreadyExists => return Err(ApiError::Conflict(format!("username '{}' is taken", body.username))),
    };
    // The new user must be able to AUTH right away.
    st.reload_permissions().await?;
    st.audit(NewAudit {
        op_type: "create_user",
        target_type: "user",
        operator: &user.username,
        target: &row.username,
        new_value: Some(user_type.as_str()),
        ..Default::default()
    })
    .await;
    let created =
        CreatedUser { id: row.id, username: row.username, user_type: row.user_type, is_active: row.is_active, token };
    Ok((StatusCode::CREATED, Json(created)))
}

fn describe(t: &str, active: bool) -> String {
    format!("user_type={t}, is_active={active}")
}

#[utoipa::path(put, path = "/api/users/{id}", tag = "users", params(("id" = i64, Path)), request_body = UpdateUser,
    responses(
        (status = 200, body = User),
        (status = 400, description = "Nothing to change, unknown field or type", body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "Would leave no active super_admin", body = ErrorBody),
    ))]
pub async fn update(
    State(st): State<AdminState>,
    user: AdminUser,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<UpdateUser>,
) -> ApiResult<Json<User>> {
    if body.user_type.is_none() && body.is_active.is_none() {
        return Err(ApiError::bad("nothing to update: give user_type and/or is_active"));
    }
    let new_type = body.user_type.as_deref().map(parse_type).transpose()?;
    let (old, old_type) = existing(&st, id).await?;
    may_manage(&user, &[old_type, new_type.unwrap_or(old_type)], "change")?;
    let demoted = new_type.is_some_and(|t| t != UserType::SuperAdmin);
    if demoted || body.is_active == Some(false) {
        keep_one_super_admin(&st, &old, old_type, "demote or deactivate").await?;
    }
    if let Some(t) = new_type {
        users::set_user_type(&st.store, id, t).await?;
    }
    if let Some(a) = body.is_active {
        users::set_active(&st.store, id, a).await?;
    }
    st.reload_permissions().await?;
    let (row, _) = existing(&st, id).await?;
    st.audit(NewAudit {
        op_type: "update_user",
        target_type: "user",
        operator: &user.username,
        target: &row.username,
        old_value: Some(&describe(&old.user_type, old.is_active)),
        new_value: Some(&describe(&row.user_type, row.is_active)),
        ..Default::default()
    })
    .await;
    Ok(Json(row))
}

#[utoipa::path(delete, path = "/api/users/{id}", tag = "users", params(("id" = i64, Path)),
    responses(
        (status = 200, body = StatusBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "The last active super_admin", body = ErrorBody),
    ))]
pub async fn delete(
    State(st): State<AdminState>,
    user: AdminUser,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<StatusBody>> {
    let (old, old_type) = existing(&st, id).await?;
    may_manage(&user, &[old_type], "delete")?;
    keep_one_super_admin(&st, &old, old_type, "delete").await?;
    users::delete(&st.store, id).await?.ok_or_else(|| ApiError::not_found("user", id))?;
    // The engine ends the sessions of users missing from the new snapshot.
    st.reload_permissions().await?;
    st.audit(NewAudit {
        op_type: "delete_user",
        target_type: "user",
        operator: &user.username,
        target: &old.username,
        old_value: Some(&describe(&old.user_type, old.is_active)),
        ..Default::default()
    })
    .await;
    Ok(Json(StatusBody::new("deleted")))
}

#[utoipa::path(post, path = "/api/users/{id}/reset-token", tag = "users", params(("id" = i64, Path)),
    responses(
        (status = 200, description = "New token, shown only here; the user's sessions are closed", body = TokenBody),
        (status = 400, description = "admin_only accounts have no MQ token", body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
    ))]
pub async fn reset_token(
    State(st): State<AdminState>,
    user: AdminUser,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<TokenBody>> {
    let (row, t) = existing(&st, id).await?;
    if !has_mq_access(t) {
        return Err(ApiError::bad("admin_only accounts cannot use MQ and have no token"));
    }
    may_manage(&user, &[t], "reset the token of")?;
    let token = tokens::new_token();
    if !users::set_token_hash(&st.store, id, Some(&tokens::hash_token(&token))).await? {
        return Err(ApiError::not_found("user", id));
    }
    st.reload_permissions().await?;
    // A reset usually means the old token leaked: end what it opened.
    st.engine.request(|tx| Control::KickUser { user_id: id, reply: Some(tx) }).await?;
    st.audit(NewAudit {
        op_type: "reset_token",
        target_type: "user",
        operator: &user.username,
        target: &row.username,
        ..Default::default()
    })
    .await;
    Ok(Json(TokenBody { token }))
}
