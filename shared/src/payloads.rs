//! JSON bodies carried in the payload frame of control messages.
//!
//! ACK payloads are JSON objects whose first key is `status`, as in the
//! original protocol; field names are part of the wire contract.

use serde::{Deserialize, Serialize};

use crate::error::ErrorCode;

pub const AUTH_OK: &str = "AUTH_OK";
pub const ATTACH_OK: &str = "ATTACH_OK";
pub const PUB_OK: &str = "PUB_OK";
pub const SUB_OK: &str = "SUB_OK";
pub const UNSUB_OK: &str = "UNSUB_OK";
pub const QUERY_OK: &str = "QUERY_OK";
pub const BYE_OK: &str = "BYE_OK";

/// AUTH request body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthRequest {
    pub username: String,
    pub token: String,
}

/// AUTH_OK reply body (protocol 5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthOk {
    pub status: String,
    pub user_id: i64,
    /// Hex session id, presented again in ATTACH on the delivery port.
    pub session: String,
    pub protocol: u8,
    /// Seconds between client PINGs the broker expects.
    pub ping_interval: u64,
}

/// ATTACH request body (delivery port).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachRequest {
    pub session: String,
    pub token: String,
}

/// Optional SUB body.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubOptions {
    /// Replay the last-value cache of every matching topic before live data.
    #[serde(default)]
    pub snapshot: bool,
}

/// ERROR reply body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error_code: u8,
    pub error_message: String,
}

impl ErrorBody {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ErrorBody { error_code: code.as_u8(), error_message: message.into() }
    }

    pub fn code(&self) -> Option<ErrorCode> {
        ErrorCode::from_u8(self.error_code)
    }
}

/// QUERY request body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum QueryRequest {
    /// Namespaces the session may see, with their topics.
    Namespaces,
    /// Topics of one namespace.
    Topics { namespace: String },
    /// The session user's type and roles. `topic` is accepted for
    /// compatibility with the original client and ignored.
    Permission {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        topic: Option<String>,
    },
}

/// One entry of the `namespaces` query.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamespaceInfo {
    pub name: String,
    pub topics: Vec<String>,
    pub topic_count: usize,
}

/// Reply `data` of the `permission` query.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PermissionInfo {
    #[serde(rename = "type")]
    pub user_type: String,
    /// Namespace → `"SUB"` / `"PUB"` / `"ADMIN"` (upper case, as in protocol 4).
    pub namespaces: std::collections::BTreeMap<String, String>,
}
