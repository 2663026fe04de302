//! Drill-down, slow consumers and alarms (`/api/monitor/*`, `/api/alarms`):
//! what an operator opens when a chart on the dashboard looks wrong.
//!
//! Samples are taken by the broker every `monitoring.sample_interval_sec`
//! and kept for `monitoring.recent_minutes`, in memory: they answer "what
//! happened to this subscriber in the last minutes", the minute tables in
//! the database answer "what happened last week".

use serde::{Deserialize, Serialize};

#[cfg(feature = "openapi")]
use utoipa::ToSchema;

use super::{Connection, TopicStats};

/// One sample of a session: rates over the interval that ended at `at_ms`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ConnectionSample {
    pub at_ms: i64,
    /// Messages / bytes per second the session published.
    pub msg_rate_in: f64,
    pub byte_rate_in: f64,
    /// Messages / bytes per second delivered to it.
    pub msg_rate_out: f64,
    pub byte_rate_out: f64,
    /// Bytes waiting for it at the end of the interval (see [`Connection::pending_bytes`]).
    pub pending_bytes: u64,
    /// Messages dropped for it during the interval.
    pub drops: u64,
    /// Drop runs that began during the interval (each a gap it will see).
    pub gaps: u64,
}

/// `GET /api/monitor/connections/{session}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ConnectionDetail {
    /// The session as last seen (live figures while it is online).
    pub connection: Connection,
    /// False once the session ended; its samples stay for the window.
    pub online: bool,
    /// Oldest first.
    pub samples: Vec<ConnectionSample>,
    /// Seconds between two samples.
    pub interval_sec: u64,
}

/// One sample of a topic.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct TopicSample {
    pub at_ms: i64,
    pub msg_rate: f64,
    pub byte_rate: f64,
    /// Deliveries of this topic dropped during the interval.
    pub drops: u64,
    /// Live sessions with a matching subscription.
    pub subscribers: u64,
}

/// A session subscribed to a topic (topic drill-down).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct TopicSubscriber {
    pub session: String,
    pub username: String,
    pub peer_address: String,
    /// The session's patterns that match the topic.
    pub patterns: Vec<String>,
    pub pending_bytes: u64,
    pub drops: u64,
    pub slow: bool,
}

/// `GET /api/monitor/topic?namespace=&topic=`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct TopicDetail {
    pub stats: TopicStats,
    pub subscribers: Vec<TopicSubscriber>,
    /// Oldest first; empty when the topic had no traffic in the window.
    pub samples: Vec<TopicSample>,
    pub interval_sec: u64,
}

/// A session that is falling behind: it dropped messages in the window, or
/// holds at least `alarms.slow_consumer_bytes` undelivered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct SlowConsumer {
    pub session: String,
    pub user_id: i64,
    pub username: String,
    pub peer_address: String,
    pub subscriptions: Vec<String>,
    pub pending_bytes: u64,
    /// Drops / gaps within the alarm window.
    pub recent_drops: u64,
    pub recent_gaps: u64,
    /// Since the session began.
    pub drops: u64,
    /// Delivered messages per second over the last interval.
    pub msg_rate_out: f64,
}

/// What an alarm watches.
pub const ALARM_KINDS: [&str; 4] = ["drops", "connection_limit", "auth_failures", "slow_consumers"];

/// One alarm: raised when its figure over the window reached the threshold,
/// cleared when a whole window passed below it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[cfg_attr(feature = "sqlx", derive(sqlx::FromRow))]
pub struct Alarm {
    pub id: i64,
    /// One of [`ALARM_KINDS`].
    pub kind: String,
    /// What it is about, e.g. the sessions that dropped most.
    pub detail: String,
    /// The highest figure seen while it was active, per window.
    pub peak: f64,
    pub threshold: f64,
    /// Unix ms.
    pub raised_ms: i64,
    /// Unix ms; `None` while active.
    pub cleared_ms: Option<i64>,
}

/// The thresholds in force (`alarms` in the configuration).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct AlarmThresholds {
    pub window_sec: u64,
    pub drops: u64,
    pub connection_limit_hits: u64,
    pub auth_failures: u64,
    pub slow_consumer_bytes: u64,
}

/// `GET /api/alarms`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct AlarmsView {
    pub active: Vec<Alarm>,
    /// Newest first, cleared ones included.
    pub history: Vec<Alarm>,
    pub thresholds: AlarmThresholds,
}
