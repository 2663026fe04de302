//! The `audit_log` table: every admin change and every MQ auth failure.
//!
//! Rows hold names, not foreign keys, so the trail outlives what it talks about.

use sqlx::SqliteConnection;

use super::failure_audit::{reason_with, Admission, FailureLimiter};
use super::timestamp::format_unix;
use super::Store;

/// One audit entry as the admin API shows it.
/// Read straight into the admin API's DTO (shared with the console).
pub use pulsemq_shared::dto::AuditEntry as AuditRow;

/// What to record; `created_at` is set by the database.
#[derive(Debug, Clone, Copy, Default)]
pub struct NewAudit<'a> {
    /// e.g. `grant`, `reset_token`, `auth_failure`.
    pub op_type: &'a str,
    /// e.g. `namespace_permission`, `user`, `mq_user`.
    pub target_type: &'a str,
    /// Who did it: an admin username, or the peer address of an MQ client.
    pub operator: &'a str,
    pub target: &'a str,
    pub namespace: Option<&'a str>,
    pub old_value: Option<&'a str>,
    pub new_value: Option<&'a str>,
}

/// Exact-match filters (`None` = any), a time range in Unix seconds
/// (`since` inclusive, `until` exclusive) and a page.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub op_type: Option<String>,
    pub operator: Option<String>,
    pub target: Option<String>,
    pub namespace: Option<String>,
    pub since: Option<i64>,
    pub until: Option<i64>,
    /// `None` = no limit; the API applies its own default and maximum.
    pub limit: Option<i64>,
    pub offset: i64,
}

/// Inserts one entry, on any connection or transaction (the batching writer
/// records auth failures inside its batch).
pub async fn insert_in(conn: &mut SqliteConnection, e: &NewAudit<'_>) -> Result<i64, sqlx::Error> {
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO audit_log (op_type, target_type, operator, target, namespace, old_value, new_value) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
    )
    .bind(e.op_type)
    .bind(e.target_type)
    .bind(e.operator)
    .bind(e.target)
    .bind(e.namespace)
    .bind(e.old_value)
    .bind(e.new_value)
    .fetch_one(conn)
    .await?;
    Ok(id)
}

/// Whether an auth failure from `peer` gets a row, decided once per
/// failure by the store's [`FailureLimiter`]: `None` when it is left out,
/// else the (target, reason) to write, both cut, the reason carrying how
/// many failures were left out before it. Callers decide before any write
/// attempt, so a retried transaction does not count a failure twice.
pub fn admit_failure(limiter: &FailureLimiter, peer: &str, target: &str, reason: &str) -> Option<(String, String)> {
    match limiter.admit(peer, std::time::Instant::now()) {
        Admission::Write { left_out } => Some((pulsemq_shared::names::shown(target), reason_with(reason, left_out))),
        Admission::LeaveOut => None,
    }
}

/// Inserts an `auth_failure`-like entry if [`admit_failure`] admits it;
/// `e.operator` is the peer address the limit applies to. Returns whether
/// a row was written.
pub async fn insert_failure(store: &Store, e: &NewAudit<'_>) -> crate::Result<bool> {
    let reason = e.new_value.unwrap_or("");
    let Some((target, reason)) = admit_failure(store.failure_limiter(), e.operator, e.target, reason) else {
        return Ok(false);
    };
    insert(store, &NewAudit { target: &target, new_value: Some(&reason), ..*e }).await?;
    Ok(true)
}

/// Rows older than `cutoff` (Unix seconds) are deleted, in slices so that
/// the write lock is never held long; returns how many went.
pub async fn delete_older_than(store: &Store, cutoff: i64) -> crate::Result<u64> {
    let mut deleted = 0;
    loop {
        let done = sqlx::query(
            "DELETE FROM audit_log WHERE id IN (SELECT id FROM audit_log WHERE created_at < $1 LIMIT 10000)",
        )
        .bind(format_unix(cutoff))
        .execute(store.pool())
        .await?
        .rows_affected();
        deleted += done;
        if done < 10_000 {
            return Ok(deleted);
        }
    }
}

/// Inserts one entry; returns its id.
pub async fn insert(store: &Store, e: &NewAudit<'_>) -> crate::Result<i64> {
    let mut conn = store.pool().acquire().await?;
    Ok(insert_in(&mut conn, e).await?)
}

/// The shared WHERE clause of [`query`] and [`count`]; `$1..$6` in the
/// order [`bind_filter`] binds them.
macro_rules! audit_where {
    () => {
        "WHERE ($1 IS NULL OR op_type = $1) AND ($2 IS NULL OR operator = $2) AND ($3 IS NULL OR target = $3) \
         AND ($4 IS NULL OR namespace = $4) AND ($5 IS NULL OR created_at >= $5) AND ($6 IS NULL OR created_at < $6) "
    };
}

fn bind_filter<'q, O>(
    q: sqlx::query::QueryAs<'q, sqlx::Sqlite, O, sqlx::sqlite::SqliteArguments>,
    f: &AuditFilter,
) -> sqlx::query::QueryAs<'q, sqlx::Sqlite, O, sqlx::sqlite::SqliteArguments> {
    q.bind(f.op_type.clone())
        .bind(f.operator.clone())
        .bind(f.target.clone())
        .bind(f.namespace.clone())
        .bind(f.since.map(format_unix))
        .bind(f.until.map(format_unix))
}

/// Entries matching `f`, newest first.
pub async fn query(store: &Store, f: &AuditFilter) -> crate::Result<Vec<AuditRow>> {
    let q = sqlx::query_as(concat!(
        "SELECT id, op_type, target_type, operator, target, namespace, old_value, new_value, created_at FROM audit_log ",
        audit_where!(),
        "ORDER BY created_at DESC, id DESC LIMIT $7 OFFSET $8"
    ));
    Ok(bind_filter(q, f).bind(f.limit.unwrap_or(i64::MAX)).bind(f.offset).fetch_all(store.pool()).await?)
}

/// How many entries match `f` (its page is ignored), for pagination totals.
pub async fn count(store: &Store, f: &AuditFilter) -> crate::Result<i64> {
    let q = sqlx::query_as(concat!("SELECT COUNT(*) FROM audit_log ", audit_where!()));
    let (n,): (i64,) = bind_filter(q, f).fetch_one(store.pool()).await?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::timestamp::now_unix;

    fn entry<'a>(op: &'a str, operator: &'a str, target: &'a str, ns: Option<&'a str>) -> NewAudit<'a> {
        NewAudit {
            op_type: op,
            target_type: "namespace_permission",
            operator,
            target,
            namespace: ns,
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn failures_are_capped_per_source_and_cut() {
        let store = Store::open_memory().await.unwrap();
        let long = "m".repeat(65_536);
        let e = NewAudit {
            op_type: "auth_failure",
            operator: "10.0.0.9",
            target: &long,
            new_value: Some("bad"),
            ..entry("", "", "", None)
        };
        let mut written = 0;
        for _ in 0..50 {
            written += insert_failure(&store, &e).await.unwrap() as usize;
        }
        assert_eq!(written, crate::store::failure_audit::PER_SOURCE_PER_MINUTE as usize);
        let rows = query(&store, &AuditFilter::default()).await.unwrap();
        assert_eq!(rows.len(), written);
        assert!(rows.iter().all(|r| r.target.len() < 100 && r.target.contains("65536 bytes")), "{:?}", rows[0].target);
        // The next admitted row (another address) says what was left out.
        assert!(insert_failure(&store, &NewAudit { operator: "10.0.0.10", ..e }).await.unwrap());
        let last = &query(&store, &AuditFilter::default()).await.unwrap()[0];
        assert!(last.new_value.as_deref().unwrap().contains("+40 earlier failures"), "{last:?}");
    }

    #[tokio::test]
    async fn delete_older_than_keeps_recent_rows() {
        let store = Store::open_memory().await.unwrap();
        insert(&store, &entry("grant", "admin", "alice", None)).await.unwrap();
        sqlx::query("INSERT INTO audit_log (op_type, target_type, operator, target, created_at) VALUES ('grant', 'x', 'a', 'old', '2020-01-01 00:00:00')")
            .execute(store.pool())
            .await
            .unwrap();
        assert_eq!(delete_older_than(&store, now_unix() - 86_400).await.unwrap(), 1);
        let rows = query(&store, &AuditFilter::default()).await.unwrap();
        assert_eq!(rows.iter().map(|r| r.target.as_str()).collect::<Vec<_>>(), ["alice"]);
    }

    #[tokio::test]
    async fn insert_and_read_back_all_fields() {
        let store = Store::open_memory().await.unwrap();
        let e = NewAudit {
            op_type: "change_role",
            target_type: "namespace_permission",
            operator: "admin",
            target: "alice",
            namespace: Some("market"),
            old_value: Some("sub"),
            new_value: Some("pub"),
        };
        let id = insert(&store, &e).await.unwrap();
        let rows = query(&store, &AuditFilter::default()).await.unwrap();
        assert_eq!(rows.len(), 1);
        let r = &rows[0];
        assert_eq!(r.id, id);
        assert_eq!(
            (r.op_type.as_str(), r.target_type.as_str(), r.operator.as_str(), r.target.as_str()),
            ("change_role", "namespace_permission", "admin", "alice")
        );
        assert_eq!(
            (r.namespace.as_deref(), r.old_value.as_deref(), r.new_value.as_deref()),
            (Some("market"), Some("sub"), Some("pub"))
        );
    }

    #[tokio::test]
    async fn filters_pages_and_newest_first() {
        let store = Store::open_memory().await.unwrap();
        insert(&store, &entry("grant", "admin", "1", Some("a"))).await.unwrap();
        insert(&store, &entry("grant", "root", "2", Some("b"))).await.unwrap();
        insert(&store, &entry("reset_token", "admin", "1", None)).await.unwrap();
        insert(&store, &entry("grant", "admin", "3", Some("a"))).await.unwrap();

        let targets = |rows: Vec<AuditRow>| rows.into_iter().map(|r| r.target).collect::<Vec<_>>();
        let all = AuditFilter::default();
        assert_eq!(targets(query(&store, &all).await.unwrap()), ["3", "1", "2", "1"]);
        assert_eq!(count(&store, &all).await.unwrap(), 4);

        let grants = AuditFilter { op_type: Some("grant".into()), ..Default::default() };
        assert_eq!(targets(query(&store, &grants).await.unwrap()), ["3", "2", "1"]);
        let admin_grants = AuditFilter { operator: Some("admin".into()), ..grants.clone() };
        assert_eq!(targets(query(&store, &admin_grants).await.unwrap()), ["3", "1"]);
        let target1 = AuditFilter { target: Some("1".into()), ..Default::default() };
        assert_eq!(count(&store, &target1).await.unwrap(), 2);
        let ns_b = AuditFilter { namespace: Some("b".into()), ..Default::default() };
        assert_eq!(targets(query(&store, &ns_b).await.unwrap()), ["2"]);

        let page = AuditFilter { limit: Some(2), offset: 1, ..Default::default() };
        assert_eq!(targets(query(&store, &page).await.unwrap()), ["1", "2"]);
        assert_eq!(count(&store, &page).await.unwrap(), 4);
    }

    #[tokio::test]
    async fn time_range_filters() {
        let store = Store::open_memory().await.unwrap();
        sqlx::query("INSERT INTO audit_log (op_type, operator, target, created_at) VALUES ('old', 'a', 't', $1)")
            .bind(format_unix(1_000_000_000))
            .execute(store.pool())
            .await
            .unwrap();
        insert(&store, &entry("new", "a", "t", None)).await.unwrap();

        let ops = |rows: Vec<AuditRow>| rows.into_iter().map(|r| r.op_type).collect::<Vec<_>>();
        let now = now_unix();
        let recent = AuditFilter { since: Some(now - 3600), ..Default::default() };
        assert_eq!(ops(query(&store, &recent).await.unwrap()), ["new"]);
        let before = AuditFilter { until: Some(now - 3600), ..Default::default() };
        assert_eq!(ops(query(&store, &before).await.unwrap()), ["old"]);
        let window = AuditFilter { since: Some(1_000_000_000), until: Some(1_000_000_001), ..Default::default() };
        assert_eq!(ops(query(&store, &window).await.unwrap()), ["old"]);
        assert_eq!(count(&store, &window).await.unwrap(), 1);
    }
}
