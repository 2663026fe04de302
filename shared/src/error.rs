//! Error codes carried in ERROR replies and the codec's own error type.

use serde::{Deserialize, Serialize};

/// Numeric error codes of the ERROR payload (`{"error_code", "error_message"}`).
///
/// The numbers are part of the wire contract shared with every SDK; they are
/// listed in design.md §3.2 and must never be renumbered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(into = "u8", try_from = "u8")]
pub enum ErrorCode {
    AuthFailed = 1,
    NotAuthenticated = 2,
    PermissionDenied = 3,
    InvalidName = 4,
    PayloadInvalid = 5,
    UnknownType = 6,
    ConnectionLimit = 7,
    SubscriptionLimit = 8,
    Malformed = 9,
    QueryError = 10,
    AttachFailed = 11,
    RateLimited = 12,
    /// A new topic would exceed `limits.max_topics_per_namespace` (or the
    /// namespace's own `max_topics`) or `limits.max_topics_per_user`.
    TopicLimit = 13,
    Internal = 255,
}

impl ErrorCode {
    /// Every code, in numeric order (for tables, docs and tests).
    pub const ALL: [ErrorCode; 14] = [
        ErrorCode::AuthFailed,
        ErrorCode::NotAuthenticated,
        ErrorCode::PermissionDenied,
        ErrorCode::InvalidName,
        ErrorCode::PayloadInvalid,
        ErrorCode::UnknownType,
        ErrorCode::ConnectionLimit,
        ErrorCode::SubscriptionLimit,
        ErrorCode::Malformed,
        ErrorCode::QueryError,
        ErrorCode::AttachFailed,
        ErrorCode::RateLimited,
        ErrorCode::TopicLimit,
        ErrorCode::Internal,
    ];

    pub fn as_u8(self) -> u8 {
        self as u8
    }

    pub fn from_u8(v: u8) -> Option<Self> {
        Self::ALL.iter().copied().find(|c| c.as_u8() == v)
    }
}

impl From<ErrorCode> for u8 {
    fn from(c: ErrorCode) -> u8 {
        c.as_u8()
    }
}

impl TryFrom<u8> for ErrorCode {
    type Error = String;
    fn try_from(v: u8) -> Result<Self, String> {
        ErrorCode::from_u8(v).ok_or_else(|| format!("unknown error code {v}"))
    }
}

/// Why a multipart message could not be decoded or a name is not acceptable.
///
/// Each variant maps to exactly one [`ErrorCode`] through [`ProtocolError::code`],
/// so the broker turns any decoding failure into an ERROR reply in one place.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    #[error("expected {expected} frames, got {got}")]
    FrameCount { expected: usize, got: usize },
    #[error("header must be exactly 20 bytes, got {0}")]
    HeaderLength(usize),
    #[error("unsupported protocol version {0} (this broker speaks 4, 5 and 6)")]
    Version(u8),
    #[error("unknown message type 0x{0:02x}")]
    UnknownType(u8),
    #[error("unknown data format 0x{0:02x}")]
    UnknownFormat(u8),
    #[error("payload_length says {declared} bytes but the payload frame has {actual}")]
    LengthMismatch { declared: u32, actual: usize },
    #[error("{field} is not valid UTF-8")]
    NotUtf8 { field: &'static str },
    #[error("invalid namespace '{0}': use 1-32 of [A-Za-z0-9_]")]
    Namespace(String),
    #[error("namespace 'system' is reserved")]
    ReservedNamespace,
    #[error("invalid topic '{0}': 1-3 levels separated by '.', each 1-32 of [A-Za-z0-9_]")]
    Topic(String),
    #[error(
        "invalid pattern '{0}': 1-3 levels of [A-Za-z0-9_]{{1,32}}, '*' for one level, '>' only as the last level"
    )]
    Pattern(String),
    #[error("{format} payload of {size} bytes exceeds the {limit}-byte limit")]
    TooLarge { format: &'static str, size: usize, limit: usize },
    #[error("unknown compression bits 0x{0:02x}")]
    Compression(u8),
    #[error("ext frame must be 16 bytes, got {0}")]
    ExtLength(usize),
    #[error("message ends inside its {field}")]
    Truncated { field: &'static str },
    #[error("{field} of {len} bytes cannot be encoded (at most 255)")]
    NameTooLong { field: &'static str, len: usize },
    #[error("a batch may not contain a batch")]
    NestedBatch,
    #[error("batch declares {0} messages, which its frame cannot hold")]
    BatchCount(u32),
}

impl ProtocolError {
    /// The wire error code this failure is reported with.
    pub fn code(&self) -> ErrorCode {
        match self {
            ProtocolError::FrameCount { .. }
            | ProtocolError::HeaderLength(_)
            | ProtocolError::Version(_)
            | ProtocolError::LengthMismatch { .. }
            | ProtocolError::ExtLength(_)
            | ProtocolError::Truncated { .. }
            | ProtocolError::NestedBatch
            | ProtocolError::BatchCount(_) => ErrorCode::Malformed,
            ProtocolError::UnknownType(_) => ErrorCode::UnknownType,
            ProtocolError::UnknownFormat(_) | ProtocolError::TooLarge { .. } | ProtocolError::Compression(_) => {
                ErrorCode::PayloadInvalid
            }
            ProtocolError::NotUtf8 { .. }
            | ProtocolError::Namespace(_)
            | ProtocolError::ReservedNamespace
            | ProtocolError::Topic(_)
            | ProtocolError::Pattern(_)
            | ProtocolError::NameTooLong { .. } => ErrorCode::InvalidName,
        }
    }
}
