//! `GET /health`: liveness for load balancers and scripts; no auth. Figures
//! come from the engine's latest stats snapshot, so a stuck engine shows
//! as a frozen uptime.

use axum::extract::State;
use axum::Json;
use pulsemq_shared::dto::Health;

use super::AdminState;

/// Resident memory of this process in MiB (Linux `/proc/self/statm`); 0 elsewhere.
pub fn memory_mb() -> f64 {
    let pages = std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1).and_then(|v| v.parse::<u64>().ok()))
        .unwrap_or(0);
    (pages * 4096) as f64 / (1024.0 * 1024.0)
}

#[utoipa::path(get, path = "/health", tag = "health", security(()),
    responses((status = 200, description = "The broker is up", body = Health)))]
pub async fn health(State(st): State<AdminState>) -> Json<Health> {
    // Three numbers read under the borrow: no copy of the snapshot, whose
    // per-topic list grows with every topic (this route needs no login).
    let (uptime_seconds, connections, msg_rate) = {
        let s = st.stats.borrow();
        (s.uptime_s, s.connections as u64, s.msg_rate)
    };
    Json(Health {
        status: "ok".into(),
        version: crate::VERSION.into(),
        uptime_seconds,
        connections,
        msg_rate,
        memory_mb: (memory_mb() * 10.0).round() / 10.0,
    })
}
