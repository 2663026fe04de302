//! The reconnect schedule: exponential back-off with a cap and an attempt limit.

use std::time::Duration;

/// Delay before attempt `n + 1` after `n` failed attempts (n ≥ 1):
/// `initial × 2^(n-1)`, capped at `max`.
pub(crate) fn delay(initial: Duration, max: Duration, failed: u32) -> Duration {
    let shift = failed.saturating_sub(1).min(20);
    initial.saturating_mul(1u32 << shift).min(max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_second_doubling_to_thirty() {
        let s: Vec<u64> =
            (1..=10).map(|n| delay(Duration::from_secs(1), Duration::from_secs(30), n).as_secs()).collect();
        assert_eq!(s, [1, 2, 4, 8, 16, 30, 30, 30, 30, 30]);
        assert_eq!(delay(Duration::from_secs(1), Duration::from_secs(30), 1000), Duration::from_secs(30));
    }
}
