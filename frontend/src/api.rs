//! The admin API as the console uses it: same-origin `fetch` with the
//! HttpOnly session cookie, JSON bodies from `pulsemq_shared::dto`.
//!
//! Every request carries `X-Requested-With` (the API refuses a
//! cookie-authenticated state change without it). A 401 on any call but
//! login / change-password means the session ended (expired, logged out
//! elsewhere, account deactivated): the app drops back to the login page.

use gloo_net::http::{Request, RequestBuilder, Response};
use pulsemq_shared::dto::ErrorBody;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// Header the API requires with cookie-authenticated state changes.
const CSRF_HEADER: &str = "X-Requested-With";
const CSRF_VALUE: &str = "pulsemq-console";

/// A failed call: HTTP status (0 when the broker could not be reached) and
/// the API's `{"error": ...}` text.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: u16,
    pub message: String,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.status == 0 {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{} (HTTP {})", self.message, self.status)
        }
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

fn network(e: gloo_net::Error) -> ApiError {
    ApiError { status: 0, message: format!("cannot reach the broker: {e}") }
}

/// Whether a 401 from `path` means "log in again" (a wrong password on the
/// login or change-password form does not).
fn expires_session(path: &str) -> bool {
    path != "/login" && path != "/api/me/password"
}

async fn check(path: &str, resp: Response) -> ApiResult<Response> {
    let status = resp.status();
    if (200..300).contains(&status) {
        return Ok(resp);
    }
    let message = match resp.json::<ErrorBody>().await {
        Ok(b) => b.error,
        Err(_) => resp.status_text(),
    };
    if status == 401 && expires_session(path) {
        crate::session_expired();
    }
    Err(ApiError { status, message })
}

fn with_headers(b: RequestBuilder) -> RequestBuilder {
    b.header(CSRF_HEADER, CSRF_VALUE).header("Accept", "application/json")
}

async fn json_body<T: DeserializeOwned>(resp: Response) -> ApiResult<T> {
    resp.json::<T>().await.map_err(|e| ApiError { status: 0, message: format!("unexpected answer: {e}") })
}

pub async fn get<T: DeserializeOwned>(path: &str) -> ApiResult<T> {
    let resp = with_headers(Request::get(path)).send().await.map_err(network)?;
    json_body(check(path, resp).await?).await
}

/// A paginated list: the items and `X-Total-Count`.
pub async fn get_page<T: DeserializeOwned>(path: &str) -> ApiResult<(Vec<T>, u64)> {
    let resp = with_headers(Request::get(path)).send().await.map_err(network)?;
    let resp = check(path, resp).await?;
    let total = resp.headers().get("x-total-count").and_then(|v| v.parse().ok());
    let items: Vec<T> = json_body(resp).await?;
    let total = total.unwrap_or(items.len() as u64);
    Ok((items, total))
}

async fn send<B: Serialize, T: DeserializeOwned>(b: RequestBuilder, path: &str, body: Option<&B>) -> ApiResult<T> {
    let b = with_headers(b);
    let resp = match body {
        Some(body) => b.json(body).map_err(network)?.send().await,
        None => b.send().await,
    }
    .map_err(network)?;
    json_body(check(path, resp).await?).await
}

pub async fn post<B: Serialize, T: DeserializeOwned>(path: &str, body: &B) -> ApiResult<T> {
    send(Request::post(path), path, Some(body)).await
}

pub async fn put<B: Serialize, T: DeserializeOwned>(path: &str, body: &B) -> ApiResult<T> {
    send(Request::put(path), path, Some(body)).await
}

pub async fn delete<T: DeserializeOwned>(path: &str) -> ApiResult<T> {
    send::<(), T>(Request::delete(path), path, None).await
}

/// `POST` without a body (`/logout`, `/api/users/{id}/reset-token`).
pub async fn post_empty<T: DeserializeOwned>(path: &str) -> ApiResult<T> {
    send::<(), T>(Request::post(path), path, None).await
}

/// Percent-encodes a query value.
pub fn enc(s: &str) -> String {
    js_sys::encode_uri_component(s).into()
}
