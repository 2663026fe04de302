//! The one error type of the client, mapped from the broker's error codes.

use std::time::Duration;

use pulsemq_shared::payloads::ErrorBody;
use pulsemq_shared::{ErrorCode, ProtocolError};

/// Result alias used by every fallible client call.
pub type Result<T, E = ClientError> = std::result::Result<T, E>;

/// Everything that can go wrong when talking to a PulseMQ broker.
///
/// Broker ERROR replies are mapped by their code (design.md §3.2); checks the
/// client makes before sending (names, sizes) produce the same variants as
/// the broker would, so callers handle one shape whichever side noticed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    /// Wrong username or token (code 1).
    #[error("authentication failed: {0}")]
    AuthFailed(String),
    /// The broker does not know this session (code 2), e.g. it restarted.
    #[error("not authenticated: {0}")]
    NotAuthenticated(String),
    /// The user's role does not allow this in that namespace (code 3).
    #[error("permission denied: {0}")]
    PermissionDenied(String),
    /// Namespace, topic or pattern breaks the naming rules (code 4, or checked locally).
    #[error("invalid name: {0}")]
    InvalidName(String),
    /// The payload exceeds its format's limit (checked before sending).
    #[error("{format} payload of {size} bytes exceeds the {limit}-byte limit")]
    TooLarge {
        /// Format name (`bytes`, `string`, `df_msgpack`, `df_arrow`).
        format: &'static str,
        /// Size of the payload on the wire.
        size: usize,
        /// The format's limit.
        limit: usize,
    },
    /// The broker rejected the payload: too large or wrong format (code 5),
    /// or a STRING payload that is not UTF-8 (checked locally).
    #[error("invalid payload: {0}")]
    InvalidPayload(String),
    /// `max_connections_per_user` reached (code 7).
    #[error("connection limit reached: {0}")]
    ConnectionLimit(String),
    /// `max_subscriptions_per_conn` reached (code 8).
    #[error("subscription limit reached: {0}")]
    SubscriptionLimit(String),
    /// ATTACH on the delivery port was refused (code 11).
    #[error("attach failed: {0}")]
    AttachFailed(String),
    /// The broker throttles this peer (code 12), e.g. after repeated auth failures.
    #[error("rate limited: {0}")]
    RateLimited(String),
    /// A publish would create a topic beyond the namespace's or the user's
    /// topic limit (code 13); publishing to existing topics still works.
    #[error("topic limit reached: {0}")]
    TopicLimit(String),
    /// Any other broker error code (unknown type, malformed, query error, internal, …).
    #[error("broker error {code}: {message}")]
    Broker {
        /// The numeric `error_code` of the ERROR payload.
        code: u8,
        /// The broker's `error_message`.
        message: String,
    },
    /// No reply within the configured timeout.
    #[error("no reply within {0:?}")]
    Timeout(Duration),
    /// The client is closed, or its I/O thread has stopped (closed by the
    /// application, or reconnection gave up).
    #[error("client is disconnected")]
    Disconnected,
    /// The connection dropped while this request was in flight and no reply
    /// came: the broker may or may not have processed it (a publish may
    /// have been delivered). The client itself reconnects.
    #[error("connection lost while the request was in flight")]
    ConnectionLost,
    /// The broker sent something this client cannot understand.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// An operating-system call failed (e.g. the I/O thread could not start).
    #[error("I/O: {0}")]
    Io(String),
    /// A ZeroMQ call failed (socket creation, connect).
    #[error("zeromq: {0}")]
    Zmq(#[from] zmq::Error),
}

impl ClientError {
    /// Maps an ERROR payload to the matching variant.
    pub fn from_error_body(body: &ErrorBody) -> Self {
        let msg = body.error_message.clone();
        match body.code() {
            Some(ErrorCode::AuthFailed) => ClientError::AuthFailed(msg),
            Some(ErrorCode::NotAuthenticated) => ClientError::NotAuthenticated(msg),
            Some(ErrorCode::PermissionDenied) => ClientError::PermissionDenied(msg),
            Some(ErrorCode::InvalidName) => ClientError::InvalidName(msg),
            Some(ErrorCode::PayloadInvalid) => ClientError::InvalidPayload(msg),
            Some(ErrorCode::ConnectionLimit) => ClientError::ConnectionLimit(msg),
            Some(ErrorCode::SubscriptionLimit) => ClientError::SubscriptionLimit(msg),
            Some(ErrorCode::AttachFailed) => ClientError::AttachFailed(msg),
            Some(ErrorCode::RateLimited) => ClientError::RateLimited(msg),
            Some(ErrorCode::TopicLimit) => ClientError::TopicLimit(msg),
            _ => ClientError::Broker { code: body.error_code, message: msg },
        }
    }

    /// The broker error code this error corresponds to, when there is one.
    pub fn code(&self) -> Option<ErrorCode> {
        Some(match self {
            ClientError::AuthFailed(_) => ErrorCode::AuthFailed,
            ClientError::NotAuthenticated(_) => ErrorCode::NotAuthenticated,
            ClientError::PermissionDenied(_) => ErrorCode::PermissionDenied,
            ClientError::InvalidName(_) => ErrorCode::InvalidName,
            ClientError::TooLarge { .. } | ClientError::InvalidPayload(_) => ErrorCode::PayloadInvalid,
            ClientError::ConnectionLimit(_) => ErrorCode::ConnectionLimit,
            ClientError::SubscriptionLimit(_) => ErrorCode::SubscriptionLimit,
            ClientError::AttachFailed(_) => ErrorCode::AttachFailed,
            ClientError::RateLimited(_) => ErrorCode::RateLimited,
            ClientError::TopicLimit(_) => ErrorCode::TopicLimit,
            ClientError::Broker { code, .. } => return ErrorCode::from_u8(*code),
            _ => return None,
        })
    }
}

impl From<ProtocolError> for ClientError {
    fn from(e: ProtocolError) -> Self {
        match e {
            ProtocolError::TooLarge { format, size, limit } => ClientError::TooLarge { format, size, limit },
            ProtocolError::Namespace(_)
            | ProtocolError::ReservedNamespace
            | ProtocolError::Topic(_)
            | ProtocolError::Pattern(_) => ClientError::InvalidName(e.to_string()),
            other => ClientError::Protocol(other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_maps_back_to_itself() {
        for code in ErrorCode::ALL {
            let e = ClientError::from_error_body(&ErrorBody::new(code, "x"));
            assert_eq!(e.code(), Some(code), "{e:?}");
        }
        let unknown = ClientError::from_error_body(&ErrorBody { error_code: 77, error_message: "?".into() });
        assert_eq!(unknown, ClientError::Broker { code: 77, message: "?".into() });
    }

    #[test]
    fn local_checks_use_the_broker_variants() {
        let e: ClientError = pulsemq_shared::Format::String.check_size(9000).unwrap_err().into();
        assert!(matches!(e, ClientError::TooLarge { limit: 8192, .. }));
        let e: ClientError = pulsemq_shared::validate_topic("a..b").unwrap_err().into();
        assert!(matches!(e, ClientError::InvalidName(_)));
    }
}
