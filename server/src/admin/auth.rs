//! Console login: bcrypt passwords, HS256 JWTs, the HttpOnly cookie, and the
//! [`AdminUser`] extractor every protected handler takes.
//!
//! Security rules (design.md §4), and why:
//! - the signing secret is per installation (or configured), never a
//!   built-in constant, so nobody can mint tokens from the source code;
//! - a token is only a claim: every request re-reads the user, so a deleted,
//!   deactivated or demoted account loses access at once, not at expiry;
//! - only `super_admin` and `admin_only` accounts may use the console;
//! - the token travels as `Authorization: Bearer` (scripts) or as the
//!   HttpOnly `SameSite=Strict` `token` cookie (the console, and
//!   EventSource, which cannot send headers). A cookie is sent by the
//!   browser on its own, so a state-changing request authenticated by the
//!   cookie must also carry `X-Requested-With`, which a cross-site form
//!   cannot set: CSRF protection on top of SameSite;
//! - failed logins are throttled per (IP, username) and audited, and an
//!   unknown username costs the same bcrypt time as a wrong password;
//! - a token carries its user's login generation (`gen`, kept in the
//!   database): logout and a password change move it on, which voids every
//!   console login of that account at once and survives a restart;
//! - the cookie is `Secure` whenever the request came over HTTPS (a TLS
//!   terminating proxy says so with `X-Forwarded-Proto: https`), so a
//!   browser never sends it back over plain HTTP.

use std::net::{IpAddr, SocketAddr};
use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, Method};
use axum::response::{IntoResponse, Response};
use axum::Json;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use pulsemq_shared::dto::{self, ChangePasswordRequest, LoginRequest, LoginResponse, SessionUser, StatusBody};
use serde::{Deserialize, Serialize};

use super::error::{ApiError, ApiJson, ApiResult};
use super::AdminState;
use crate::perms::UserType;
use crate::store::audit::NewAudit;
use crate::store::{timestamp, users};

/// Name of the session cookie (the original's).
pub const COOKIE: &str = "token";
/// Header required with cookie authentication on state-changing requests.
pub const CSRF_HEADER: &str = "x-requested-with";

/// JWT claims: the original's four plus `iat`, `jti` and `gen` (the user's
/// login generation when it was signed; required, so tokens from before
/// generations existed are refused and their holders log in again).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub user_id: i64,
    pub username: String,
    pub user_type: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
    pub gen: i64,
}

/// Signing material and lifetime of admin logins.
pub struct AuthKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    pub expiry_secs: u64,
}

impl AuthKeys {
    pub fn new(secret: &[u8], expiry_secs: u64) -> Self {
        AuthKeys { encoding: EncodingKey::from_secret(secret), decoding: DecodingKey::from_secret(secret), expiry_secs }
    }

    /// A signed token for `user` at login generation `gen`, valid from now
    /// for the configured lifetime.
    pub fn issue(&self, id: i64, username: &str, user_type: UserType, gen: i64) -> crate::Result<Claims> {
        let now = timestamp::now_unix();
        Ok(Claims {
            user_id: id,
            username: username.to_owned(),
            user_type: user_type.as_str().to_owned(),
            iat: now,
            exp: now + self.expiry_secs as i64,
            jti: crate::tokens::new_session_id(),
            gen,
        })
    }

    pub fn sign(&self, claims: &Claims) -> crate::Result<String> {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
            .map_err(|e| crate::Error::Other(format!("cannot sign JWT: {e}")))
    }

    /// Verifies signature (HS256 only: `alg: none` and others are refused)
    /// and expiry.
    pub fn verify(&self, token: &str) -> Result<Claims, jsonwebtoken::errors::Error> {
        let mut v = Validation::new(Algorithm::HS256);
        v.leeway = 5;
        v.set_required_spec_claims(&["exp"]);
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &v).map(|d| d.claims)
    }
}

/// The authenticated console user of a request, checked against the database.
#[derive(Debug, Clone)]
pub struct AdminUser {
    pub id: i64,
    pub username: String,
    pub user_type: UserType,
    pub claims: Claims,
}

impl AdminUser {
    /// Managing console accounts (`super_admin`, `admin_only`) is reserved to
    /// `super_admin`, so an `admin_only` cannot raise its own rights.
    pub fn require_super_admin(&self, what: &str) -> ApiResult<()> {
        if self.user_type == UserType::SuperAdmin {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!("only a super_admin may {what}")))
        }
    }
}

/// The client's address, when the server was started with connect info.
pub fn peer_ip(parts_ext: &axum::http::Extensions) -> Option<IpAddr> {
    parts_ext.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip())
}

fn cookie_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// Where the token came from.
enum Presented<'a> {
    Bearer(&'a str),
    Cookie(&'a str),
}

fn presented_token(headers: &HeaderMap) -> ApiResult<Option<Presented<'_>>> {
    if let Some(v) = headers.get(header::AUTHORIZATION) {
        let v = v.to_str().map_err(|_| ApiError::Unauthorized("malformed Authorization header".into()))?;
        return match v.strip_prefix("Bearer ").map(str::trim) {
            Some(t) if !t.is_empty() => Ok(Some(Presented::Bearer(t))),
            _ => Err(ApiError::Unauthorized("Authorization must be 'Bearer <token>'".into())),
        };
    }
    Ok(cookie_value(headers, COOKIE).filter(|t| !t.is_empty()).map(Presented::Cookie))
}

impl FromRequestParts<AdminState> for AdminUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AdminState) -> Result<Self, Self::Rejection> {
        let ip = peer_ip(&parts.extensions);
        let (token, via_cookie) = match presented_token(&parts.headers)? {
            Some(Presented::Bearer(t)) => (t, false),
            Some(Presented::Cookie(t)) => (t, true),
            None => return Err(ApiError::Unauthorized("not authenticated: log in first".into())),
        };
        let safe = matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
        if via_cookie && !safe && !parts.headers.contains_key(CSRF_HEADER) {
            return Err(ApiError::Forbidden(
                "cookie-authenticated requests that change state must send the X-Requested-With header".into(),
            ));
        }
        let claims = match state.auth.verify(token) {
            Ok(c) => c,
            Err(e) => {
                use jsonwebtoken::errors::ErrorKind;
                if matches!(e.kind(), ErrorKind::ExpiredSignature) {
                    return Err(ApiError::Unauthorized("token expired: log in again".into()));
                }
                // A bad signature or a malformed token is someone trying: audit it.
                audit_failure(state, ip, "", &format!("invalid admin token: {e}")).await;
                return Err(ApiError::Unauthorized("invalid token".into()));
            }
        };
        match session_user(state, claims).await? {
            Ok(user) => Ok(user),
            // Logged out or password changed: the normal end of a login, not an attack.
            Err((_, Refusal::LoggedOut)) => {
                Err(ApiError::Unauthorized("token was logged out or its password changed: log in again".into()))
            }
            Err((claims, Refusal::Other(reason))) => {
                audit_failure(state, ip, &claims.username, &format!("token refused: {reason}")).await;
                Err(ApiError::Unauthorized(format!("token refused: {reason}")))
            }
        }
    }
}

/// Why a verified token no longer stands for a console user.
pub enum Refusal {
    /// The user's login generation moved on (logout, password change).
    LoggedOut,
    Other(&'static str),
}

/// The console user `claims` stand for right now, read from the database:
/// a deleted, replaced, deactivated or demoted account, or a login voided
/// by logout or a password change, is refused. Used by every request and
/// by open SSE streams.
pub async fn session_user(state: &AdminState, claims: Claims) -> ApiResult<Result<AdminUser, (Claims, Refusal)>> {
    let user = users::credentials_by_id(&state.store, claims.user_id).await?;
    let refusal = match &user {
        None => Refusal::Other("user no longer exists"),
        Some(u) if u.username != claims.username => Refusal::Other("user was replaced"),
        Some(u) if u.admin_token_gen != claims.gen => Refusal::LoggedOut,
        Some(u) if !u.is_active => Refusal::Other("user is deactivated"),
        Some(u) => match UserType::parse(&u.user_type).filter(|t| t.is_console()) {
            Some(user_type) => {
                return Ok(Ok(AdminUser { id: u.id, username: u.username.clone(), user_type, claims }));
            }
            None => Refusal::Other("user may not use the admin console"),
        },
    };
    Ok(Err((claims, refusal)))
}

/// Audits a refused login or token; the store caps and cuts these rows
/// ([`crate::store::failure_audit`]), since anyone can cause them.
async fn audit_failure(state: &AdminState, ip: Option<IpAddr>, username: &str, reason: &str) {
    let operator = ip.map(|i| i.to_string()).unwrap_or_else(|| "unknown".into());
    let entry = NewAudit {
        op_type: "auth_failure",
        target_type: "admin_user",
        operator: &operator,
        target: username,
        new_value: Some(reason),
        ..Default::default()
    };
    if let Err(e) = crate::store::audit::insert_failure(&state.store, &entry).await {
        tracing::error!(operator, "cannot write auth_failure audit entry: {e}");
    }
}

/// A bcrypt hash of nothing anyone knows, verified against when the
/// username is unknown so that the answer takes as long as for a wrong password.
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        bcrypt::hash(crate::tokens::new_password(), bcrypt::DEFAULT_COST).unwrap_or_else(|_| {
            // Unreachable with a valid cost; any non-hash makes verify fail.
            String::new()
        })
    })
}

/// bcrypt verification off the async workers (it is slow on purpose).
pub async fn verify_password(password: String, hash: Option<String>) -> ApiResult<bool> {
    tokio::task::spawn_blocking(move || {
        let h = hash.as_deref().unwrap_or_else(|| dummy_hash());
        hash.is_some() & bcrypt::verify(password, h).unwrap_or(false)
    })
    .await
    .map_err(|e| ApiError::Internal(crate::Error::Other(format!("password check task failed: {e}"))))
}

/// bcrypt hashing off the async workers.
pub async fn hash_password(password: String) -> ApiResult<String> {
    tokio::task::spawn_blocking(move || bcrypt::hash(password, bcrypt::DEFAULT_COST))
        .await
        .map_err(|e| ApiError::Internal(crate::Error::Other(format!("password hash task failed: {e}"))))?
        .map_err(|e| ApiError::Internal(crate::Error::Other(format!("cannot hash password: {e}"))))
}

/// Whether the browser reached us over HTTPS: directly (a TLS listener
/// sets the URI scheme) or through a TLS-terminating proxy that says so in
/// `X-Forwarded-Proto` or `Forwarded`. Trusting the header costs nothing:
/// a client that lies only makes its own cookie stricter.
fn over_https(headers: &HeaderMap, uri: &axum::http::Uri) -> bool {
    let forwarded_proto = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .is_some_and(|p| p.trim().eq_ignore_ascii_case("https"));
    let forwarded = headers
        .get(header::FORWARDED)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split([';', ',']).any(|kv| kv.trim().eq_ignore_ascii_case("proto=https")));
    uri.scheme_str() == Some("https") || forwarded_proto || forwarded
}

fn session_cookie(token: &str, max_age: u64, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    let v = format!("{COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/; Max-Age={max_age}{secure}");
    HeaderValue::from_str(&v).unwrap_or_else(|_| HeaderValue::from_static("token=; Path=/; Max-Age=0"))
}

/// `POST /login`: password login for console accounts.
#[utoipa::path(post, path = "/login", tag = "auth", request_body = LoginRequest,
    responses(
        (status = 200, description = "Logged in; also sets the HttpOnly `token` cookie", body = LoginResponse),
        (status = 400, description = "Malformed body or empty fields", body = dto::ErrorBody),
        (status = 401, description = "Wrong username or password", body = dto::ErrorBody),
        (status = 403, description = "Account deactivated or not a console account", body = dto::ErrorBody),
        (status = 429, description = "Too many failed attempts from this address for this user", body = dto::ErrorBody),
    ), security(()))]
pub async fn login(State(st): State<AdminState>, req: axum::extract::Request) -> ApiResult<Response> {
    let ip = peer_ip(req.extensions());
    let secure = over_https(req.headers(), req.uri());
    let ApiJson(body) =
        <ApiJson<LoginRequest> as axum::extract::FromRequest<AdminState>>::from_request(req, &st).await?;
    let username = body.username.trim().to_owned();
    if username.is_empty() || body.password.is_empty() {
        return Err(ApiError::bad("username and password must not be empty"));
    }
    if let Err(wait) = st.throttle.attempt(ip, &username, Instant::now()) {
        audit_failure(&st, ip, &username, "login throttled").await;
        return Err(ApiError::TooManyRequests {
            message: format!("too many failed logins; try again in {wait} s"),
            retry_after: wait,
        });
    }
    let creds = users::credentials_by_name(&st.store, &username).await?;
    let hash = creds.as_ref().and_then(|c| c.password_hash.clone());
    let ok = verify_password(body.password, hash).await?;
    let Some(creds) = creds.filter(|_| ok) else {
        // Already counted by `attempt`.
        audit_failure(&st, ip, &username, "wrong username or password").await;
        return Err(ApiError::Unauthorized("invalid username or password".into()));
    };
    st.throttle.success(ip, &username);
    let user_type = UserType::parse(&creds.user_type);
    if !creds.is_active {
        audit_failure(&st, ip, &username, "login of a deactivated account").await;
        return Err(ApiError::Forbidden("this account is deactivated".into()));
    }
    let Some(user_type) = user_type.filter(|t| t.is_console()) else {
        audit_failure(&st, ip, &username, "login of an account without console access").await;
        return Err(ApiError::Forbidden("this account may not use the admin console".into()));
    };
    let claims = st.auth.issue(creds.id, &creds.username, user_type, creds.admin_token_gen)?;
    let token = st.auth.sign(&claims)?;
    let operator = ip.map(|i| i.to_string()).unwrap_or_default();
    st.audit(NewAudit {
        op_type: "login",
        target_type: "admin_user",
        operator: &creds.username,
        target: &creds.username,
        new_value: Some(&operator),
        ..Default::default()
    })
    .await;
    let body = LoginResponse {
        token: token.clone(),
        user: SessionUser { id: creds.id, username: creds.username, user_type: user_type.as_str().into() },
        expires_at: claims.exp,
    };
    let mut resp = Json(body).into_response();
    resp.headers_mut().insert(header::SET_COOKIE, session_cookie(&token, st.auth.expiry_secs, secure));
    Ok(resp)
}

/// `POST /logout`: clears the cookie and ends the presented token.
#[utoipa::path(post, path = "/logout", tag = "auth",
    responses((status = 200, description = "Cookie cleared; every console login of this account (this token and any \
        other browser or script) no longer works, also after a broker restart", body = StatusBody),
        (status = 500, description = "The logout could not be stored; the token still works", body = dto::ErrorBody)),
    security(()))]
pub async fn logout(State(st): State<AdminState>, headers: HeaderMap, uri: axum::http::Uri) -> ApiResult<Response> {
    let token = match presented_token(&headers) {
        Ok(Some(Presented::Bearer(t) | Presented::Cookie(t))) => Some(t),
        _ => None,
    };
    let current = match token.and_then(|t| st.auth.verify(t).ok()) {
        Some(claims) => session_user(&st, claims).await?.ok(),
        None => None,
    };
    if let Some(user) = current {
        users::end_admin_logins(&st.store, user.id).await?;
        let claims = user.claims;
        st.audit(NewAudit {
            op_type: "logout",
            target_type: "admin_user",
            operator: &claims.username,
            target: &claims.username,
            ..Default::default()
        })
        .await;
    }
    let mut resp = Json(StatusBody::new("logged_out")).into_response();
    resp.headers_mut().insert(header::SET_COOKIE, session_cookie("", 0, over_https(&headers, &uri)));
    Ok(resp)
}

/// `GET /api/me`: who is logged in (the console calls it after a reload).
#[utoipa::path(get, path = "/api/me", tag = "auth",
    responses((status = 200, body = SessionUser), (status = 401, body = dto::ErrorBody)))]
pub async fn me(user: AdminUser) -> Json<SessionUser> {
    Json(SessionUser { id: user.id, username: user.username, user_type: user.user_type.as_str().into() })
}

/// `PUT /api/me/password`: change one's own password (old one required).
/// Every other login of the account ends; this one goes on with the fresh
/// cookie of the answer (a script using a Bearer token logs in again).
#[utoipa::path(put, path = "/api/me/password", tag = "auth", request_body = ChangePasswordRequest,
    responses(
        (status = 200, description = "Changed; every earlier token of this account is void, the new cookie is set",
         body = StatusBody),
        (status = 400, description = "New password too short or too long", body = dto::ErrorBody),
        (status = 401, description = "Old password wrong", body = dto::ErrorBody),
        (status = 429, body = dto::ErrorBody),
    ))]
pub async fn change_password(
    State(st): State<AdminState>,
    user: AdminUser,
    req: axum::extract::Request,
) -> ApiResult<Response> {
    let ip = peer_ip(req.extensions());
    let secure = over_https(req.headers(), req.uri());
    let ApiJson(body) =
        <ApiJson<ChangePasswordRequest> as axum::extract::FromRequest<AdminState>>::from_request(req, &st).await?;
    dto::validate_password(&body.new_password).map_err(ApiError::BadRequest)?;
    if let Err(wait) = st.throttle.attempt(ip, &user.username, Instant::now()) {
        return Err(ApiError::TooManyRequests {
            message: format!("too many failed attempts; try again in {wait} s"),
            retry_after: wait,
        });
    }
    let creds =
        users::credentials_by_id(&st.store, user.id).await?.ok_or_else(|| ApiError::not_found("user", user.id))?;
    if !verify_password(body.old_password, creds.password_hash).await? {
        // Already counted by `attempt`.
        audit_failure(&st, ip, &user.username, "password change with a wrong old password").await;
        return Err(ApiError::Unauthorized("old password is wrong".into()));
    }
    st.throttle.success(ip, &user.username);
    let hash = hash_password(body.new_password).await?;
    let gen = users::set_password_hash(&st.store, user.id, Some(&hash))
        .await?
        .ok_or_else(|| ApiError::not_found("user", user.id))?;
    st.audit(NewAudit {
        op_type: "change_password",
        target_type: "user",
        operator: &user.username,
        target: &user.username,
        ..Default::default()
    })
    .await;
    let claims = st.auth.issue(user.id, &user.username, user.user_type, gen)?;
    let mut resp = Json(StatusBody::new("updated")).into_response();
    resp.headers_mut().insert(header::SET_COOKIE, session_cookie(&st.auth.sign(&claims)?, st.auth.expiry_secs, secure));
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_roundtrip_and_reject_other_keys_and_expiry() {
        let keys = AuthKeys::new(b"0123456789abcdef0123456789abcdef", 3600);
        let c = keys.issue(7, "root", UserType::SuperAdmin, 0).unwrap();
        let t = keys.sign(&c).unwrap();
        assert_eq!(keys.verify(&t).unwrap(), c);

        let other = AuthKeys::new(b"another-secret-of-at-least-32-bytes!", 3600);
        assert!(other.verify(&t).is_err());

        let mut old = c.clone();
        old.exp = timestamp::now_unix() - 3600;
        assert!(keys.verify(&keys.sign(&old).unwrap()).is_err());
        assert!(keys.verify("not.a.jwt").is_err());
    }

    #[test]
    fn cookie_parsing() {
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, HeaderValue::from_static("a=1; token=abc; b=2"));
        assert_eq!(cookie_value(&h, "token"), Some("abc"));
        assert!(matches!(presented_token(&h), Ok(Some(Presented::Cookie("abc")))));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer xyz"));
        assert!(matches!(presented_token(&h), Ok(Some(Presented::Bearer("xyz")))));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic xyz"));
        assert!(presented_token(&h).is_err());
    }

    #[test]
    fn https_is_recognised_directly_and_behind_a_proxy() {
        let plain: axum::http::Uri = "/login".parse().unwrap();
        let mut h = HeaderMap::new();
        assert!(!over_https(&h, &plain));
        assert!(over_https(&h, &"https://broker/login".parse().unwrap()));
        h.insert("x-forwarded-proto", HeaderValue::from_static("HTTPS, http"));
        assert!(over_https(&h, &plain));
        h.insert("x-forwarded-proto", HeaderValue::from_static("http"));
        assert!(!over_https(&h, &plain));
        h.insert(header::FORWARDED, HeaderValue::from_static("for=1.2.3.4;proto=https"));
        assert!(over_https(&h, &plain));
        assert!(session_cookie("t", 60, true).to_str().unwrap().ends_with("; Secure"));
        assert!(!session_cookie("t", 60, false).to_str().unwrap().contains("Secure"));
    }
}
