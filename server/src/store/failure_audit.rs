//! How many `auth_failure` rows the audit log takes.
//!
//! Every failed login, MQ AUTH or ATTACH and every refused admin token is
//! audited, and each can be sent by anyone who reaches a port. Unbounded,
//! that is a way to fill the disk (and the console's audit page) from
//! outside. So failure rows are admitted per fixed one-minute window: at most
//! [`PER_SOURCE_PER_MINUTE`] from one address and [`TOTAL_PER_MINUTE`] in
//! all. What is left out is counted, and the next admitted row says how many
//! were left out before it; the broker's MQ counter (`/metrics`
//! `auth_failures_total`) still counts every MQ failure. Names and reasons in the
//! rows are cut to what errors show ([`pulsemq_shared::names::shown`]).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failure rows one address may add per minute.
pub const PER_SOURCE_PER_MINUTE: u32 = 10;
/// Failure rows all addresses together may add per minute.
pub const TOTAL_PER_MINUTE: u32 = 300;
const WINDOW: Duration = Duration::from_secs(60);

/// The admission state; one per [`super::Store`], shared by the admin API
/// and the MQ engine's store writer.
#[derive(Debug, Default)]
pub struct FailureLimiter {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    window: Option<Window>,
    /// Failures left out since the last written row (kept across windows).
    left_out: u64,
}

#[derive(Debug)]
struct Window {
    started: Instant,
    total: u32,
    /// Only sources admitted in this window: at most [`TOTAL_PER_MINUTE`] keys.
    per_source: HashMap<String, u32>,
}

/// The verdict on one failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Write the row; `left_out` failures were not recorded since the last
    /// written one.
    Write { left_out: u64 },
    /// Over a limit: counted, not written.
    LeaveOut,
}

/// `10.0.0.9:5555` and `10.0.0.9` are one source: a new connection must
/// not buy a new allowance.
fn source_of(peer: &str) -> String {
    match peer.parse::<SocketAddr>() {
        Ok(addr) => addr.ip().to_string(),
        Err(_) => peer.to_owned(),
    }
}

impl FailureLimiter {
    /// Decides on one failure from `peer` at `now`.
    pub fn admit(&self, peer: &str, now: Instant) -> Admission {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let State { window, left_out } = &mut *state;
        let w = match window {
            Some(w) if now.duration_since(w.started) < WINDOW => w,
            _ => window.insert(Window { started: now, total: 0, per_source: HashMap::new() }),
        };
        let source = source_of(peer);
        let from_source = w.per_source.get(&source).copied().unwrap_or(0);
        if w.total >= TOTAL_PER_MINUTE || from_source >= PER_SOURCE_PER_MINUTE {
            *left_out += 1;
            return Admission::LeaveOut;
        }
        w.total += 1;
        w.per_source.insert(source, from_source + 1);
        Admission::Write { left_out: std::mem::take(left_out) }
    }
}

/// The reason as written: cut like a name, with the left-out count.
pub fn reason_with(reason: &str, left_out: u64) -> String {
    let reason = pulsemq_shared::names::shown(reason);
    if left_out == 0 {
        reason
    } else {
        format!("{reason} (+{left_out} earlier failures not recorded: over the audit rate limit)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_source_is_capped_per_minute_and_the_next_row_says_how_many_were_left_out() {
        let l = FailureLimiter::default();
        let t0 = Instant::now();
        for i in 0..PER_SOURCE_PER_MINUTE {
            // A new port is the same source.
            assert_eq!(l.admit(&format!("10.0.0.9:{}", 5000 + i), t0), Admission::Write { left_out: 0 });
        }
        assert_eq!(l.admit("10.0.0.9", t0), Admission::LeaveOut);
        assert_eq!(l.admit("10.0.0.9:1", t0 + Duration::from_secs(59)), Admission::LeaveOut);
        // Another address still gets in, and carries the count.
        assert_eq!(l.admit("10.0.0.10", t0), Admission::Write { left_out: 2 });
        // A new window restores the allowance.
        assert_eq!(l.admit("10.0.0.9", t0 + WINDOW), Admission::Write { left_out: 0 });
    }

    #[test]
    fn all_sources_together_are_capped() {
        let l = FailureLimiter::default();
        let t0 = Instant::now();
        let written = (0..2 * TOTAL_PER_MINUTE)
            .filter(|i| matches!(l.admit(&format!("10.1.{}.{}", i / 256, i % 256), t0), Admission::Write { .. }))
            .count();
        assert_eq!(written, TOTAL_PER_MINUTE as usize);
        assert_eq!(l.admit("[::1]:80", t0 + WINDOW), Admission::Write { left_out: TOTAL_PER_MINUTE as u64 });
    }

    #[test]
    fn reasons_are_cut_and_carry_the_count() {
        assert_eq!(reason_with("bad token", 0), "bad token");
        assert!(reason_with("bad token", 3).contains("+3 earlier failures"));
        assert!(reason_with(&"x".repeat(70_000), 0).len() < 100);
    }
}
