//! Admin API request and response bodies (JSON), shared by the broker's
//! axum handlers and the leptos console so both sides agree on every field
//! by construction.
//!
//! Field names follow the original product's admin API where it had one
//! (`original-0.2.0.md` §7.3), so its scripts keep working. Request types
//! reject unknown fields: the original silently accepted raw hash columns in
//! `PUT /api/users/{id}`, and a typo in a field name should be an error, not
//! a no-op. Everything here is plain serde; the OpenAPI schemas are derived
//! only when the broker enables the `openapi` feature, so the wasm console
//! pays nothing for them.

use serde::{Deserialize, Serialize};

mod monitor;
pub use monitor::*;

#[cfg(feature = "openapi")]
use utoipa::ToSchema;

/// Longest accepted username, in bytes.
pub const MAX_USERNAME_LEN: usize = 64;
/// Shortest accepted console password, in characters.
pub const MIN_PASSWORD_LEN: usize = 8;
/// bcrypt ignores everything after 72 bytes; refusing longer passwords
/// avoids the surprise of two different passwords both matching.
pub const MAX_PASSWORD_LEN: usize = 72;

/// Usernames travel in frame 3 of every delivery and in log lines:
/// `^[A-Za-z0-9_.-]{1,64}$` keeps them printable and unambiguous.
pub fn validate_username(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= MAX_USERNAME_LEN
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(format!("invalid username '{name}': 1-{MAX_USERNAME_LEN} characters from A-Z a-z 0-9 _ . -"))
    }
}

/// Console passwords: 8 to 72 bytes, not only whitespace.
pub fn validate_password(pw: &str) -> Result<(), String> {
    if pw.chars().count() < MIN_PASSWORD_LEN || pw.trim().is_empty() {
        return Err(format!("password must have at least {MIN_PASSWORD_LEN} characters"));
    }
    if pw.len() > MAX_PASSWORD_LEN {
        return Err(format!("password must be at most {MAX_PASSWORD_LEN} bytes"));
    }
    Ok(())
}

/// Every error body: `{"error": "..."}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ErrorBody {
    pub error: String,
}

/// Acknowledgement of an action without a richer result (`deleted`, `revoked`, …).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct StatusBody {
    pub status: String,
}

impl StatusBody {
    pub fn new(status: &str) -> Self {
        StatusBody { status: status.to_owned() }
    }
}

// ---------------------------------------------------------------- auth

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
}

/// The logged-in account as the console needs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct SessionUser {
    pub id: i64,
    pub username: String,
    pub user_type: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct LoginResponse {
    /// HS256 JWT, also set as the HttpOnly `token` cookie.
    pub token: String,
    pub user: SessionUser,
    /// Unix seconds at which the token expires.
    pub expires_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordRequest {
    pub old_password: String,
    pub new_password: String,
}

// ---------------------------------------------------------------- health

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Health {
    /// Always `ok` when the broker answers.
    pub status: String,
    pub version: String,
    pub uptime_seconds: u64,
    /// Live MQ sessions.
    pub connections: u64,
    /// Messages published per second over the last second.
    pub msg_rate: f64,
    /// Resident memory of the broker process.
    pub memory_mb: f64,
}

// ---------------------------------------------------------------- namespaces

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[cfg_attr(feature = "sqlx", derive(sqlx::FromRow))]
pub struct Namespace {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub created_by: String,
    pub is_active: bool,
    pub created_at: String,
    /// This namespace's topic limit; `null`: the broker's
    /// `limits.max_topics_per_namespace`.
    #[serde(default)]
    pub max_topics: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateNamespace {
    /// `^[A-Za-z0-9_]{1,32}$`, not `system`.
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    /// Topic limit of this namespace (≥ 1); absent: the broker's default.
    #[serde(default)]
    pub max_topics: Option<i64>,
}

/// At least one field. `max_topics: 0` returns to the broker's default.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateNamespace {
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub max_topics: Option<i64>,
}

// ---------------------------------------------------------------- permissions

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[cfg_attr(feature = "sqlx", derive(sqlx::FromRow))]
pub struct Permission {
    pub id: i64,
    pub user_id: i64,
    pub username: String,
    pub namespace_id: i64,
    pub namespace: String,
    /// `sub`, `pub` or `admin`.
    pub role: String,
    pub granted_by: String,
    pub granted_at: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct GrantPermission {
    pub user_id: i64,
    /// `sub` (default), `pub` or `admin`.
    #[serde(default)]
    pub role: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ChangeRole {
    pub role: String,
}

/// A grant, role change or revoke: `status` is `granted`, `updated` or `revoked`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct PermissionChanged {
    pub status: String,
    pub permission: Permission,
}

// ---------------------------------------------------------------- users

/// A user; never a hash, only whether a token / password is set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[cfg_attr(feature = "sqlx", derive(sqlx::FromRow))]
pub struct User {
    pub id: i64,
    pub username: String,
    /// `super_admin`, `mq_super`, `mq_normal` or `admin_only`.
    pub user_type: String,
    pub is_active: bool,
    pub has_token: bool,
    pub has_password: bool,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    pub username: String,
    /// Default `mq_normal`.
    #[serde(default)]
    pub user_type: Option<String>,
    /// Required for console accounts (`super_admin`, `admin_only`),
    /// refused for MQ-only accounts.
    #[serde(default)]
    pub password: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct CreatedUser {
    pub id: i64,
    pub username: String,
    pub user_type: String,
    pub is_active: bool,
    /// The MQ token (32 hex), shown this once; absent for `admin_only`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub token: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateUser {
    #[serde(default)]
    pub user_type: Option<String>,
    #[serde(default)]
    pub is_active: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct TokenBody {
    /// New MQ token (32 hex), shown this once.
    pub token: String,
}

// ---------------------------------------------------------------- topics

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[cfg_attr(feature = "sqlx", derive(sqlx::FromRow))]
pub struct Topic {
    pub id: i64,
    pub namespace_id: i64,
    pub namespace: String,
    pub name: String,
    pub created_by: String,
    pub created_at: String,
}

// ---------------------------------------------------------------- connections

/// One live MQ session (never its routing id).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Connection {
    pub session: String,
    pub user_id: i64,
    pub username: String,
    pub peer_address: String,
    /// Unix seconds.
    pub connected_since: i64,
    pub protocol: u8,
    /// A delivery socket is attached (the session can receive).
    pub attached: bool,
    /// `namespace:pattern` entries.
    pub subscriptions: Vec<String>,
    pub msgs_in: u64,
    pub bytes_in: u64,
    pub msgs_out: u64,
    pub bytes_out: u64,
    pub drops: u64,
    pub slow: bool,
    /// Runs of drops since the session began: each is a gap in the
    /// sequence numbers the subscriber sees.
    #[serde(default)]
    pub gaps: u64,
    /// Protocol 6: bytes waiting for the subscriber (parked in the broker
    /// plus handed to ZeroMQ and not yet confirmed read). Older protocols
    /// queue inside ZeroMQ, where the broker cannot count bytes: 0.
    #[serde(default)]
    pub pending_bytes: u64,
    /// Unix ms of the last message from the client or delivered to it.
    #[serde(default)]
    pub last_activity_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DisconnectUser {
    pub user_id: i64,
}

/// `POST /api/publish`: one test message from the console, published in the
/// logged-in account's name with its own MQ permissions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TestPublish {
    pub namespace: String,
    pub topic: String,
    /// `string` (UTF-8 text), `json` (text that must parse as JSON; sent as
    /// STRING) or `bytes` (`payload` in hex, spaces allowed; sent as BYTES).
    pub format: String,
    pub payload: String,
}

/// What a test publish became.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Published {
    pub namespace: String,
    pub topic: String,
    /// The topic sequence number it got (what subscribers see).
    pub seq: u64,
    /// Payload bytes on the wire.
    pub size: u64,
}

/// One message in the console's live message browser (`GET /api/browse/stream`,
/// a `message` event), decoded by its format for display.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct BrowsedMessage {
    pub namespace: String,
    pub topic: String,
    pub publisher: String,
    pub seq: u64,
    /// The publisher's clock, ms since the Unix epoch.
    pub timestamp_ms: i64,
    /// When the broker received it, µs since the Unix epoch.
    pub broker_time_us: u64,
    /// `bytes`, `string`, `df_msgpack` or `df_arrow`.
    pub format: String,
    /// `zlib`, `lz4` or `zstd` when it travelled compressed.
    pub compression: Option<String>,
    /// Payload bytes on the wire.
    pub size: u64,
    /// Only the first part of a large payload was looked at.
    pub truncated: bool,
    /// Messages this browser missed just before this one (it could not keep up).
    pub missed_before: u64,
    pub preview: Preview,
}

/// A payload made readable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Preview {
    /// STRING that is not JSON.
    Text { text: String },
    /// STRING holding JSON, pretty-printed.
    Json { text: String },
    /// DataFrame formats: column names and the first rows, as text.
    Table { columns: Vec<String>, rows: Vec<Vec<String>>, total_rows: u64 },
    /// BYTES: the first bytes in hex.
    Hex { hex: String },
    /// Why it could not be decoded.
    Unreadable { error: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Disconnected {
    /// `disconnected`.
    pub status: String,
    /// Sessions ended.
    pub sessions: u64,
}

// ---------------------------------------------------------------- stats

/// Counters since the broker started (the engine keeps exactly these).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct StatTotals {
    pub msgs_in: u64,
    pub bytes_in: u64,
    pub msgs_out: u64,
    pub bytes_out: u64,
    pub drops: u64,
    pub auth_ok: u64,
    pub auth_fail: u64,
    pub auth_throttled: u64,
    pub perm_denied: u64,
    pub errors_sent: u64,
    pub sessions_expired: u64,
    /// Storage events (new topics, failed AUTHs) the engine could not queue
    /// because the database writer was overloaded.
    #[serde(default)]
    pub events_dropped: u64,
    /// Replies (ACK, ERROR, PONG) that could not be handed to their peer:
    /// its pipe was full (a client that pipelines requests without reading
    /// the replies) or it was gone.
    #[serde(default)]
    pub replies_dropped: u64,
    /// Publishes refused because they would have created a topic beyond a
    /// topic limit (ERROR 13).
    #[serde(default)]
    pub topic_limit_hits: u64,
    /// AUTHs refused because the user had `limits.max_connections_per_user`
    /// sessions already (ERROR 7).
    #[serde(default)]
    pub connection_limit_hits: u64,
}

/// The original's `system` block, kept for its scripts (`auth_total`
/// counts each AUTH once, unlike the original).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct LegacySystemBlock {
    pub auth_total: u64,
    pub auth_fail: u64,
    pub perm_denied: u64,
    pub connections: u64,
}

/// Whole-broker figures; also the payload of each SSE event.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct SystemStats {
    /// Unix ms when the engine took the snapshot.
    pub at_ms: i64,
    pub uptime_seconds: u64,
    /// Per second, over the last second.
    pub msg_rate: f64,
    pub byte_rate: f64,
    pub delivery_rate: f64,
    pub drop_rate: f64,
    pub connections: u64,
    pub online_users: u64,
    pub subscriptions: u64,
    pub topics_known: u64,
    /// Broker processing time of a PUB (receive → last delivery queued), µs.
    pub latency_p50_us: u64,
    pub latency_p90_us: u64,
    pub latency_p99_us: u64,
    pub latency_p999_us: u64,
    pub totals: StatTotals,
    pub system: LegacySystemBlock,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct TopicStats {
    pub namespace: String,
    pub topic: String,
    /// Messages / bytes per second over the last second.
    pub msg_rate: f64,
    pub byte_rate: f64,
    /// Totals since start-up.
    pub msgs: u64,
    pub bytes: u64,
    pub drops: u64,
    /// Live sessions with a pattern matching this topic.
    pub subscribers: u64,
    /// Last sequence number assigned.
    pub seq: u64,
    /// Unix ms of the last publish, 0 if none since start-up.
    pub last_publish_ms: i64,
}

/// One minute of the whole broker (dashboard history). Counters are the
/// minute's increase; `online_users`, `active_connections`, latencies and
/// memory are gauges at the end of the minute.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[cfg_attr(feature = "sqlx", derive(sqlx::FromRow))]
pub struct SystemMinute {
    /// Start of the minute, Unix seconds.
    pub minute_ts: i64,
    pub msg_total: i64,
    pub byte_total: i64,
    pub online_users: i64,
    pub active_connections: i64,
    pub auth_total: i64,
    pub auth_fail: i64,
    pub perm_denied: i64,
    pub drops: i64,
    pub latency_p50_us: f64,
    pub latency_p99_us: f64,
    /// Resident memory of the broker process.
    pub memory_mb: f64,
}

/// One minute of one topic. Counters are the minute's increase;
/// `sub_count` and the latencies are gauges; `pub_count` and `latency_max`
/// keep the highest value reported.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[cfg_attr(feature = "sqlx", derive(sqlx::FromRow))]
pub struct TopicMinute {
    pub namespace: String,
    pub topic_name: String,
    /// Start of the minute, Unix seconds (a multiple of 60).
    pub minute_ts: i64,
    pub msg_count: i64,
    /// Payload bytes.
    pub byte_count: i64,
    /// Subscribers at the end of the minute.
    pub sub_count: i64,
    /// Distinct publishers seen in the minute.
    pub pub_count: i64,
    /// µs.
    pub latency_p50: f64,
    pub latency_p99: f64,
    pub latency_max: f64,
    pub drop_count: i64,
    /// SUB + UNSUB.
    pub sub_churn: i64,
}

// ---------------------------------------------------------------- audit

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[cfg_attr(feature = "sqlx", derive(sqlx::FromRow))]
pub struct AuditEntry {
    pub id: i64,
    pub op_type: String,
    pub target_type: String,
    pub operator: String,
    pub target: String,
    pub namespace: Option<String>,
    pub old_value: Option<String>,
    pub new_value: Option<String>,
    pub created_at: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames() {
        for ok in ["a", "publisher_01", "risk.engine-2", &"x".repeat(64)] {
            assert!(validate_username(ok).is_ok(), "{ok}");
        }
        for bad in ["", "a b", "名字", "a/b", &"x".repeat(65)] {
            assert!(validate_username(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn passwords() {
        assert!(validate_password("12345678").is_ok());
        assert!(validate_password("1234567").is_err());
        assert!(validate_password("        ").is_err());
        assert!(validate_password(&"p".repeat(73)).is_err());
    }

    #[test]
    fn requests_reject_unknown_fields() {
        let r: Result<UpdateUser, _> = serde_json::from_str(r#"{"password_hash":"x"}"#);
        assert!(r.is_err());
        let ok: CreateNamespace = serde_json::from_str(r#"{"name":"n"}"#).unwrap();
        assert_eq!(ok.description, None);
    }
}
