//! One error type for every handler, and the extractors that route axum's
//! own rejections through it.
//!
//! Why wrap `Json`, `Path` and `Query`: axum's rejections answer in plain
//! text (and a missing `Content-Type` gives 415); the API promises a JSON
//! `{"error": "..."}` body with a 4xx for every bad input, so a client never
//! has to special-case a body shape, and a malformed request never reaches a
//! handler that could turn it into a 500.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use pulsemq_shared::dto::ErrorBody;
use serde::de::DeserializeOwned;

/// What a handler can fail with; each variant is one HTTP status.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the request is malformed or a value is invalid.
    #[error("{0}")]
    BadRequest(String),
    /// 401: no valid login.
    #[error("{0}")]
    Unauthorized(String),
    /// 403: logged in, but not allowed.
    #[error("{0}")]
    Forbidden(String),
    /// 404: no such resource.
    #[error("{0}")]
    NotFound(String),
    /// 409: the change conflicts with the current state.
    #[error("{0}")]
    Conflict(String),
    /// 429: too many failed logins; retry after that many seconds.
    #[error("{message}")]
    TooManyRequests { message: String, retry_after: u64 },
    /// 500: a bug or a broken database; the detail goes to the log only.
    #[error("internal error: {0}")]
    Internal(#[from] crate::Error),
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn bad(msg: impl Into<String>) -> Self {
        ApiError::BadRequest(msg.into())
    }

    pub fn not_found(what: &str, id: impl std::fmt::Display) -> Self {
        ApiError::NotFound(format!("{what} {id} not found"))
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        ApiError::Internal(e.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let message = match &self {
            ApiError::Internal(e) => {
                tracing::error!("admin API internal error: {e}");
                "internal error (see the broker log)".to_owned()
            }
            other => other.to_string(),
        };
        let mut resp = (status, axum::Json(ErrorBody { error: message })).into_response();
        if let ApiError::TooManyRequests { retry_after, .. } = self {
            if let Ok(v) = HeaderValue::from_str(&retry_after.to_string()) {
                resp.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        if status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        resp
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        match r {
            JsonRejection::MissingJsonContentType(_) => {
                ApiError::bad("expected a JSON body with Content-Type: application/json")
            }
            other => ApiError::bad(format!("invalid JSON body: {}", other.body_text())),
        }
    }
}

impl From<PathRejection> for ApiError {
    fn from(r: PathRejection) -> Self {
        ApiError::bad(format!("invalid path parameter: {}", r.body_text()))
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        ApiError::bad(format!("invalid query string: {}", r.body_text()))
    }
}

/// `axum::Json` whose rejection is an [`ApiError`].
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let axum::Json(v) = axum::Json::<T>::from_request(req, state).await?;
        Ok(ApiJson(v))
    }
}

/// `axum::extract::Path` whose rejection is an [`ApiError`] (a non-integer
/// id is a 400, never a 500).
pub struct ApiPath<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let axum::extract::Path(v) = axum::extract::Path::<T>::from_request_parts(parts, state).await?;
        Ok(ApiPath(v))
    }
}

/// `axum::extract::Query` whose rejection is an [`ApiError`].
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let axum::extract::Query(v) = axum::extract::Query::<T>::from_request_parts(parts, state).await?;
        Ok(ApiQuery(v))
    }
}

/// Pagination of list endpoints: `limit` (default and maximum per route)
/// and `offset`; negative values are refused rather than meaning "all".
pub fn page(limit: Option<i64>, offset: Option<i64>, default: i64, max: i64) -> ApiResult<(i64, i64)> {
    let limit = limit.unwrap_or(default);
    let offset = offset.unwrap_or(0);
    if !(1..=max).contains(&limit) {
        return Err(ApiError::bad(format!("limit must be between 1 and {max}")));
    }
    if offset < 0 {
        return Err(ApiError::bad("offset must not be negative"));
    }
    Ok((limit, offset))
}

/// Header carrying the total of a paginated list, so list bodies stay the
/// plain arrays the original API returned.
pub const TOTAL_COUNT: &str = "x-total-count";

/// A JSON list with its total in [`TOTAL_COUNT`].
pub fn paged<T: serde::Serialize>(items: Vec<T>, total: i64) -> Response {
    let mut resp = axum::Json(items).into_response();
    resp.headers_mut().insert(TOTAL_COUNT, HeaderValue::from(total.max(0) as u64));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses() {
        assert_eq!(ApiError::bad("x").status(), StatusCode::BAD_REQUEST);
        assert_eq!(ApiError::Conflict("x".into()).status(), StatusCode::CONFLICT);
        let e = ApiError::TooManyRequests { message: "slow down".into(), retry_after: 7 };
        let r = e.into_response();
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(r.headers()[header::RETRY_AFTER], "7");
    }

    #[test]
    fn pages() {
        assert_eq!(page(None, None, 100, 1000).unwrap(), (100, 0));
        assert!(page(Some(-1), None, 100, 1000).is_err());
        assert!(page(Some(1001), None, 100, 1000).is_err());
        assert!(page(Some(5), Some(-2), 100, 1000).is_err());
    }
}
