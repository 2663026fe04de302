//! `GET /metrics`: Prometheus text exposition (format 0.0.4) of the
//! engine's latest snapshot.
//!
//! Unauthenticated, as scrapers expect, and therefore aggregate only: no
//! topic, namespace or user names, which would leak what the broker carries
//! (and whose cardinality would hurt Prometheus anyway). Per-topic figures
//! are at the authenticated `/api/stats/topics`.

use std::fmt::Write;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use super::AdminState;
use crate::engine::stats::StatsSnapshot;

fn metric(out: &mut String, name: &str, kind: &str, help: &str, value: impl std::fmt::Display) {
    let _ = writeln!(out, "# HELP pulsemq_{name} {help}");
    let _ = writeln!(out, "# TYPE pulsemq_{name} {kind}");
    let _ = writeln!(out, "pulsemq_{name} {value}");
}

/// Renders a snapshot; separate from the handler so it is testable.
pub fn render(s: &StatsSnapshot, memory_mb: f64, alarms_active: usize) -> String {
    let t = &s.totals;
    let mut o = String::with_capacity(4096);
    metric(&mut o, "uptime_seconds", "gauge", "Seconds since the broker started.", s.uptime_s);
    metric(&mut o, "messages_in_total", "counter", "Messages published.", t.msgs_in);
    metric(&mut o, "bytes_in_total", "counter", "Payload bytes published.", t.bytes_in);
    metric(&mut o, "messages_out_total", "counter", "Messages delivered to subscribers.", t.msgs_out);
    metric(&mut o, "bytes_out_total", "counter", "Payload bytes delivered.", t.bytes_out);
    metric(&mut o, "drops_total", "counter", "Deliveries dropped because a subscriber's pipe was full.", t.drops);
    metric(&mut o, "auth_success_total", "counter", "Successful MQ authentications.", t.auth_ok);
    metric(&mut o, "auth_failures_total", "counter", "Failed MQ authentications.", t.auth_fail);
    metric(&mut o, "auth_throttled_total", "counter", "MQ authentications refused by throttling.", t.auth_throttled);
    metric(&mut o, "permission_denied_total", "counter", "Requests refused for lack of a role.", t.perm_denied);
    metric(&mut o, "errors_sent_total", "counter", "ERROR replies sent.", t.errors_sent);
    metric(&mut o, "sessions_expired_total", "counter", "Sessions ended by heartbeat timeout.", t.sessions_expired);
    metric(
        &mut o,
        "topic_limit_hits_total",
        "counter",
        "Publishes refused because they would create a topic beyond a topic limit.",
        t.topic_limit_hits,
    );
    metric(
        &mut o,
        "connection_limit_hits_total",
        "counter",
        "AUTHs refused because the user had limits.max_connections_per_user sessions.",
        t.connection_limit_hits,
    );
    metric(&mut o, "alarms_active", "gauge", "Alarms up now (GET /api/alarms names them).", alarms_active);
    metric(
        &mut o,
        "store_events_dropped_total",
        "counter",
        "Engine events lost because the storage writer lagged.",
        t.events_dropped,
    );
    metric(
        &mut o,
        "replies_dropped_total",
        "counter",
        "Replies not delivered: the client's pipe was full (it does not read its replies) or it was gone.",
        t.replies_dropped,
    );
    metric(&mut o, "connections", "gauge", "Live MQ sessions.", s.connections);
    metric(&mut o, "online_users", "gauge", "Distinct users with a live session.", s.online_users);
    metric(&mut o, "subscriptions", "gauge", "Live subscriptions.", s.subscriptions);
    metric(&mut o, "topics", "gauge", "Topics known to the engine.", s.topics_known);
    metric(&mut o, "message_rate", "gauge", "Messages published per second (last second).", s.msg_rate);
    metric(&mut o, "delivery_rate", "gauge", "Messages delivered per second (last second).", s.delivery_rate);
    metric(&mut o, "memory_resident_megabytes", "gauge", "Resident memory of the broker process.", memory_mb);
    let _ = writeln!(
        o,
        "# HELP pulsemq_publish_latency_microseconds Broker processing time of a PUB over the last second."
    );
    let _ = writeln!(o, "# TYPE pulsemq_publish_latency_microseconds gauge");
    for (q, v) in
        [("0.5", s.latency_p50_us), ("0.9", s.latency_p90_us), ("0.99", s.latency_p99_us), ("0.999", s.latency_p999_us)]
    {
        let _ = writeln!(o, "pulsemq_publish_latency_microseconds{{quantile=\"{q}\"}} {v}");
    }
    o
}

#[utoipa::path(get, path = "/metrics", tag = "health", security(()),
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain", body = String)))]
pub async fn metrics(State(st): State<AdminState>) -> impl IntoResponse {
    let body = render(&st.stats.borrow(), super::health::memory_mb(), st.monitor.active_count());
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_metric_once_with_help_and_type() {
        let mut s = StatsSnapshot::default();
        s.totals.msgs_in = 42;
        s.connections = 3;
        let text = render(&s, 12.5, 2);
        assert!(text.contains("pulsemq_alarms_active 2\n"));
        assert!(text.contains("pulsemq_messages_in_total 42\n"));
        assert!(text.contains("pulsemq_connections 3\n"));
        assert!(text.contains("pulsemq_publish_latency_microseconds{quantile=\"0.99\"} 0\n"));
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let (name, value) = line.rsplit_once(' ').unwrap();
            assert!(name.starts_with("pulsemq_"), "{line}");
            assert!(value.parse::<f64>().is_ok(), "{line}");
        }
    }
}
