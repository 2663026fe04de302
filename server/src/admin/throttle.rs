//! Login throttling per (client IP, username).
//!
//! Keyed on both so that one attacker guessing one account is slowed down
//! without locking the real owner out from another address, and one address
//! trying many accounts is slowed per account. After [`FREE_FAILURES`]
//! failures in a row each further failure doubles the wait, from
//! [`FIRST_BLOCK`] up to [`MAX_BLOCK`]; a success clears the record, and a
//! record idle for [`FORGET_AFTER`] is forgotten. In memory only: a restart
//! resets it, which is acceptable since a restart is itself slow and audited.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub const FREE_FAILURES: u32 = 5;
pub const FIRST_BLOCK: Duration = Duration::from_secs(30);
pub const MAX_BLOCK: Duration = Duration::from_secs(15 * 60);
pub const FORGET_AFTER: Duration = Duration::from_secs(60 * 60);
/// Bound on remembered keys, so a spray of usernames cannot grow memory
/// without limit; past it, idle records are pruned first.
const MAX_KEYS: usize = 100_000;

type Key = (Option<IpAddr>, String);

#[derive(Debug, Clone, Copy)]
struct Record {
    failures: u32,
    last_failure: Instant,
    blocked_until: Option<Instant>,
}

#[derive(Debug, Default)]
pub struct LoginThrottle {
    records: Mutex<HashMap<Key, Record>>,
}

fn key(ip: Option<IpAddr>, username: &str) -> Key {
    (ip, username.to_lowercase())
}

impl LoginThrottle {
    /// `Err(seconds to wait)` while this key is blocked.
    pub fn check(&self, ip: Option<IpAddr>, username: &str, now: Instant) -> Result<(), u64> {
        let records = self.records.lock().unwrap_or_else(|p| p.into_inner());
        match records.get(&key(ip, username)).and_then(|r| r.blocked_until) {
            Some(until) if until > now => Err((until - now).as_secs().max(1)),
            _ => Ok(()),
        }
    }

    /// Starts a password check: `Err(seconds to wait)` while blocked, else
    /// the attempt is counted as a failure *before* the (slow) password
    /// check runs, under the same lock as the block test — so N guesses sent
    /// in parallel cannot all pass the test before any is recorded (issue
    /// 21). A correct password then clears the record ([`Self::success`]).
    pub fn attempt(&self, ip: Option<IpAddr>, username: &str, now: Instant) -> Result<(), u64> {
        let mut records = self.records.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(until) = records.get(&key(ip, username)).and_then(|r| r.blocked_until) {
            if until > now {
                return Err((until - now).as_secs().max(1));
            }
        }
        Self::record_failure(&mut records, ip, username, now);
        Ok(())
    }

    /// Records a failure; returns how long the key is now blocked, if at all.
    pub fn failure(&self, ip: Option<IpAddr>, username: &str, now: Instant) -> Option<Duration> {
        let mut records = self.records.lock().unwrap_or_else(|p| p.into_inner());
        Self::record_failure(&mut records, ip, username, now)
    }

    fn record_failure(
        records: &mut HashMap<Key, Record>,
        ip: Option<IpAddr>,
        username: &str,
        now: Instant,
    ) -> Option<Duration> {
        if records.len() >= MAX_KEYS {
            records.retain(|_, r| now.duration_since(r.last_failure) < FORGET_AFTER);
        }
        let r =
            records.entry(key(ip, username)).or_insert(Record { failures: 0, last_failure: now, blocked_until: None });
        if now.duration_since(r.last_failure) >= FORGET_AFTER {
            r.failures = 0;
        }
        r.failures += 1;
        r.last_failure = now;
        if r.failures < FREE_FAILURES {
            return None;
        }
        let doublings = (r.failures - FREE_FAILURES).min(10);
        let block = (FIRST_BLOCK * 2u32.pow(doublings)).min(MAX_BLOCK);
        r.blocked_until = Some(now + block);
        Some(block)
    }

    pub fn success(&self, ip: Option<IpAddr>, username: &str) {
        let mut records = self.records.lock().unwrap_or_else(|p| p.into_inner());
        records.remove(&key(ip, username));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_after_repeated_failures_and_backs_off() {
        let t = LoginThrottle::default();
        let ip = Some("10.0.0.1".parse().unwrap());
        let now = Instant::now();
        for _ in 1..FREE_FAILURES {
            assert_eq!(t.failure(ip, "admin", now), None);
            assert!(t.check(ip, "admin", now).is_ok());
        }
        assert_eq!(t.failure(ip, "Admin", now), Some(FIRST_BLOCK));
        assert!(t.check(ip, "admin", now).is_err());
        // Another address or another account is not affected.
        assert!(t.check(Some("10.0.0.2".parse().unwrap()), "admin", now).is_ok());
        assert!(t.check(ip, "other", now).is_ok());
        // The block expires; the next failure blocks twice as long.
        let later = now + FIRST_BLOCK + Duration::from_secs(1);
        assert!(t.check(ip, "admin", later).is_ok());
        assert_eq!(t.failure(ip, "admin", later), Some(FIRST_BLOCK * 2));
        t.success(ip, "admin");
        assert!(t.check(ip, "admin", later).is_ok());
        assert_eq!(t.failure(ip, "admin", later), None);
    }

    #[test]
    fn block_is_capped() {
        let t = LoginThrottle::default();
        let now = Instant::now();
        let mut last = None;
        for _ in 0..40 {
            last = t.failure(None, "u", now);
        }
        assert_eq!(last, Some(MAX_BLOCK));
    }
}
