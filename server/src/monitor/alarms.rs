//! When an alarm is raised, updated and cleared: pure rules over the
//! figures [`super::recent::Recent`] keeps, applied by [`super::spawn`]'s
//! task, which writes each transition to the `alarms` table.
//!
//! An alarm watches a figure summed over `alarms.window_sec`: raised when
//! it reaches the threshold, its peak updated while it climbs, cleared once
//! the window's sum is back under the threshold (so a burst of drops keeps
//! its alarm up for one window after the last drop, and no alarm flaps on
//! and off within a burst).

use std::collections::HashMap;

use pulsemq_shared::dto::AlarmThresholds;

use super::recent::Recent;

/// One alarm's figure at a sample.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    pub kind: &'static str,
    pub value: f64,
    /// 0: this alarm is off.
    pub threshold: u64,
    pub detail: String,
}

/// What to do with the alarm table.
#[derive(Debug, Clone, PartialEq)]
pub enum Transition {
    Raise(Reading),
    /// The active alarm `id` climbed to a new peak.
    Peak {
        id: i64,
        reading: Reading,
    },
    Clear {
        id: i64,
        kind: &'static str,
    },
}

/// An alarm that is up: its row and its peak so far.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Active {
    pub id: i64,
    pub peak: f64,
}

/// Most sessions named in an alarm's detail.
const NAMED: usize = 3;

/// Every alarm's figure over the window ending at the latest sample.
pub fn readings(recent: &Recent, t: &AlarmThresholds) -> Vec<Reading> {
    let window_ms = t.window_sec as i64 * 1000;
    let sum = recent.window_sum(window_ms);
    let slow = recent.slow_consumers(window_ms, t.slow_consumer_bytes);
    let name = |c: &pulsemq_shared::dto::SlowConsumer| format!("{} ({}, {})", c.username, c.peer_address, c.session);
    let mut droppers: Vec<_> = slow.iter().filter(|c| c.recent_drops > 0).collect();
    droppers.sort_by_key(|c| std::cmp::Reverse(c.recent_drops));
    let dropped: Vec<String> =
        droppers.iter().take(NAMED).map(|c| format!("{}: {} dropped", name(c), c.recent_drops)).collect();
    let heavy: Vec<String> = slow
        .iter()
        .filter(|c| t.slow_consumer_bytes > 0 && c.pending_bytes >= t.slow_consumer_bytes)
        .take(NAMED)
        .map(|c| format!("{}: {} bytes waiting", name(c), c.pending_bytes))
        .collect();
    let secs = t.window_sec;
    vec![
        Reading {
            kind: "drops",
            value: sum.drops as f64,
            threshold: t.drops,
            detail: format!("{} deliveries dropped in {secs} s; {}", sum.drops, none_or(&dropped)),
        },
        Reading {
            kind: "connection_limit",
            value: sum.connection_limit_hits as f64,
            threshold: t.connection_limit_hits,
            detail: format!(
                "{} AUTHs refused in {secs} s: the user already had limits.max_connections_per_user sessions",
                sum.connection_limit_hits
            ),
        },
        Reading {
            kind: "auth_failures",
            value: sum.auth_failures as f64,
            threshold: t.auth_failures,
            detail: format!(
                "{} failed MQ AUTHs in {secs} s; the audit log (auth_failure) names the addresses",
                sum.auth_failures
            ),
        },
        Reading {
            kind: "slow_consumers",
            value: heavy.len() as f64,
            // The byte rule is the threshold; one such session raises it.
            threshold: u64::from(t.slow_consumer_bytes > 0),
            detail: format!(
                "subscribers holding at least {} bytes undelivered: {}",
                t.slow_consumer_bytes,
                none_or(&heavy)
            ),
        },
    ]
}

fn none_or(names: &[String]) -> String {
    if names.is_empty() {
        "none named".into()
    } else {
        names.join("; ")
    }
}

/// The transitions that bring `active` in line with `readings`.
pub fn step(active: &HashMap<&'static str, Active>, readings: &[Reading]) -> Vec<Transition> {
    let mut out = Vec::new();
    for r in readings {
        let firing = r.threshold > 0 && r.value >= r.threshold as f64;
        match (active.get(r.kind), firing) {
            (None, true) => out.push(Transition::Raise(r.clone())),
            (Some(a), true) if r.value > a.peak => out.push(Transition::Peak { id: a.id, reading: r.clone() }),
            (Some(a), false) => out.push(Transition::Clear { id: a.id, kind: r.kind }),
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(kind: &'static str, value: f64, threshold: u64) -> Reading {
        Reading { kind, value, threshold, detail: String::new() }
    }

    #[test]
    fn raise_climb_hold_and_clear() {
        let mut active = HashMap::new();
        let t = step(&active, &[reading("drops", 5.0, 1), reading("auth_failures", 19.0, 20)]);
        assert_eq!(t, [Transition::Raise(reading("drops", 5.0, 1))], "under its threshold stays quiet");
        active.insert("drops", Active { id: 7, peak: 5.0 });
        assert_eq!(
            step(&active, &[reading("drops", 9.0, 1)]),
            [Transition::Peak { id: 7, reading: reading("drops", 9.0, 1) }]
        );
        assert!(step(&active, &[reading("drops", 3.0, 1)]).is_empty(), "still up, below its peak");
        assert_eq!(step(&active, &[reading("drops", 0.0, 1)]), [Transition::Clear { id: 7, kind: "drops" }]);
    }

    #[test]
    fn a_zero_threshold_is_off_and_clears_what_is_up() {
        assert!(step(&HashMap::new(), &[reading("drops", 1e6, 0)]).is_empty());
        let active = HashMap::from([("drops", Active { id: 1, peak: 3.0 })]);
        assert_eq!(step(&active, &[reading("drops", 1e6, 0)]), [Transition::Clear { id: 1, kind: "drops" }]);
    }
}
