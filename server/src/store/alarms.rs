//! The `alarms` table: what [`crate::monitor`] raised and cleared, so the
//! console's history outlives a restart.

use super::Store;

pub use pulsemq_shared::dto::Alarm;

/// Records a newly raised alarm; returns its id.
pub async fn insert(
    store: &Store,
    kind: &str,
    detail: &str,
    peak: f64,
    threshold: f64,
    raised_ms: i64,
) -> crate::Result<i64> {
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO alarms (kind, detail, peak, threshold, raised_ms) VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(kind)
    .bind(detail)
    .bind(peak)
    .bind(threshold)
    .bind(raised_ms)
    .fetch_one(store.pool())
    .await?;
    Ok(id)
}

/// A new peak (and what it is about) for an active alarm.
pub async fn update_peak(store: &Store, id: i64, detail: &str, peak: f64) -> crate::Result<()> {
    sqlx::query("UPDATE alarms SET detail = $1, peak = $2 WHERE id = $3")
        .bind(detail)
        .bind(peak)
        .bind(id)
        .execute(store.pool())
        .await?;
    Ok(())
}

pub async fn clear(store: &Store, id: i64, cleared_ms: i64) -> crate::Result<()> {
    sqlx::query("UPDATE alarms SET cleared_ms = $1 WHERE id = $2")
        .bind(cleared_ms)
        .bind(id)
        .execute(store.pool())
        .await?;
    Ok(())
}

/// Closes the alarms a previous run left active: what they watched was
/// in-memory figures that did not survive the restart. Returns how many.
pub async fn close_open(store: &Store, at_ms: i64) -> crate::Result<u64> {
    let r = sqlx::query("UPDATE alarms SET cleared_ms = $1 WHERE cleared_ms IS NULL")
        .bind(at_ms)
        .execute(store.pool())
        .await?;
    Ok(r.rows_affected())
}

/// The newest `limit` alarms (only those up, with `active_only`), newest first.
async fn select(store: &Store, active_only: bool, limit: i64) -> crate::Result<Vec<Alarm>> {
    Ok(sqlx::query_as(
        "SELECT id, kind, detail, peak, threshold, raised_ms, cleared_ms FROM alarms \
         WHERE (NOT $1 OR cleared_ms IS NULL) ORDER BY raised_ms DESC, id DESC LIMIT $2",
    )
    .bind(active_only)
    .bind(limit)
    .fetch_all(store.pool())
    .await?)
}

/// The newest `limit` alarms, newest first.
pub async fn recent(store: &Store, limit: i64) -> crate::Result<Vec<Alarm>> {
    select(store, false, limit).await
}

/// The alarms up now, newest first.
pub async fn active(store: &Store) -> crate::Result<Vec<Alarm>> {
    select(store, true, i64::MAX).await
}

/// Deletes alarms raised before `cutoff_ms`; returns how many went.
pub async fn delete_older_than(store: &Store, cutoff_ms: i64) -> crate::Result<u64> {
    let r = sqlx::query("DELETE FROM alarms WHERE raised_ms < $1 AND cleared_ms IS NOT NULL")
        .bind(cutoff_ms)
        .execute(store.pool())
        .await?;
    Ok(r.rows_affected())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_alarm_is_raised_updated_cleared_and_expires() {
        let store = Store::open_memory().await.unwrap();
        let id = insert(&store, "drops", "alice: 3", 3.0, 1.0, 1_000).await.unwrap();
        update_peak(&store, id, "alice: 9", 9.0).await.unwrap();
        let open = insert(&store, "auth_failures", "25 failures", 25.0, 20.0, 2_000).await.unwrap();
        clear(&store, id, 5_000).await.unwrap();
        let list = recent(&store, 10).await.unwrap();
        assert_eq!(list.iter().map(|a| a.id).collect::<Vec<_>>(), [open, id], "newest first");
        assert_eq!((list[1].peak, list[1].detail.as_str(), list[1].cleared_ms), (9.0, "alice: 9", Some(5_000)));
        assert_eq!(list[0].cleared_ms, None);
        assert_eq!(active(&store).await.unwrap().iter().map(|a| a.id).collect::<Vec<_>>(), [open]);
        assert_eq!(delete_older_than(&store, 10_000).await.unwrap(), 1, "only the cleared one expires");
        assert_eq!(close_open(&store, 20_000).await.unwrap(), 1);
        assert_eq!(recent(&store, 10).await.unwrap()[0].cleared_ms, Some(20_000));
    }
}
