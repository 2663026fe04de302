//! Conversions between Unix seconds and the TEXT timestamps the schema stores
//! (`YYYY-MM-DD HH:MM:SS`, UTC, as `CURRENT_TIMESTAMP` writes them).
//!
//! Done in Rust rather than with SQLite's `datetime(?, 'unixepoch')` so the
//! queries stay portable, and without a date crate because this is the only
//! calendar arithmetic the broker needs. Text in this fixed-width format
//! sorts chronologically, so range filters are plain string comparisons.

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch, now.
pub fn now_unix() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

/// Formats Unix seconds as the schema's UTC text timestamp.
pub fn format_unix(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// Days since 1970-01-01 → proleptic Gregorian (year, month, day)
/// (Howard Hinnant's `civil_from_days` algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        assert_eq!(format_unix(0), "1970-01-01 00:00:00");
        assert_eq!(format_unix(951_782_400), "2000-02-29 00:00:00");
        assert_eq!(format_unix(1_700_000_000), "2023-11-14 22:13:20");
        assert_eq!(format_unix(-1), "1969-12-31 23:59:59");
    }

    #[tokio::test]
    async fn matches_sqlite_current_timestamp() {
        let store = super::super::Store::open_memory().await.unwrap();
        let before = format_unix(now_unix());
        let (db,): (String,) = sqlx::query_as("SELECT CURRENT_TIMESTAMP").fetch_one(store.pool()).await.unwrap();
        let after = format_unix(now_unix());
        assert!(before <= db && db <= after, "{before} <= {db} <= {after}");
    }
}
