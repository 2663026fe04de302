//! The batching writer: the only consumer of the engine's [`StoreEvent`]s.
//!
//! The engine never waits on the database; it `try_send`s events into a
//! bounded channel. This task takes one event, gathers whatever else arrives
//! within a short window, and writes the lot in one transaction: one fsync
//! for a burst of new topics instead of one each. A failing database (disk
//! full, locked file) is retried with back-off and then the batch is written
//! event by event, so one event the database refuses does not take its
//! neighbours down with it; what still cannot be written is logged and
//! dropped. The task never panics, and when every sender is gone it flushes
//! what is left and returns: shutdown awaits its handle.

use std::collections::HashSet;
use std::time::Duration;

use sqlx::SqliteConnection;
use tokio::sync::mpsc::Receiver;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::{audit, namespaces, topics, Store};
use crate::control::StoreEvent;

/// Tuning of the writer; [`Default`] is what the broker uses.
#[derive(Debug, Clone, Copy)]
pub struct WriterConfig {
    /// Most events written in one transaction.
    pub max_batch: usize,
    /// How long to keep gathering after the first event of a batch.
    pub max_wait: Duration,
    /// Attempts at writing a batch before falling back to one event at a time.
    pub attempts: u32,
    /// Delay before the first retry; doubled after each.
    pub first_backoff: Duration,
}

impl Default for WriterConfig {
    fn default() -> Self {
        WriterConfig {
            max_batch: 1000,
            max_wait: Duration::from_millis(20),
            attempts: 4,
            first_backoff: Duration::from_millis(100),
        }
    }
}

/// Starts the writer with the default tuning.
pub fn spawn_writer(store: Store, rx: Receiver<StoreEvent>) -> JoinHandle<()> {
    spawn_writer_with(store, rx, WriterConfig::default())
}

/// Starts the writer with explicit tuning (tests use short back-offs).
pub fn spawn_writer_with(store: Store, mut rx: Receiver<StoreEvent>, config: WriterConfig) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut batch = Vec::with_capacity(config.max_batch);
        loop {
            let open = gather(&mut rx, &mut batch, &config).await;
            admit_failures(&store, &mut batch);
            if !batch.is_empty() {
                write_with_retries(&store, &batch, &config).await;
                batch.clear();
            }
            if !open {
                tracing::debug!("store writer: channel closed, all events flushed");
                return;
            }
        }
    })
}

/// Applies the audit limit to the batch's auth failures, once, before any
/// write attempt: left-out ones leave the batch, admitted ones carry their
/// cut name and reason (see [`audit::admit_failure`]).
fn admit_failures(store: &Store, batch: &mut Vec<StoreEvent>) {
    batch.retain_mut(|event| match event {
        StoreEvent::AuthFailure { username, peer, reason } => {
            match audit::admit_failure(store.failure_limiter(), peer, username, reason) {
                Some((target, why)) => {
                    (*username, *reason) = (target, why);
                    true
                }
                None => false,
            }
        }
        StoreEvent::TopicSeen { .. } => true,
    });
}

/// Waits for one event, then collects more until the batch is full, the
/// window has passed or the channel is drained and closed. Returns whether
/// the channel is still open.
async fn gather(rx: &mut Receiver<StoreEvent>, batch: &mut Vec<StoreEvent>, config: &WriterConfig) -> bool {
    if rx.recv_many(batch, config.max_batch).await == 0 {
        return false;
    }
    let deadline = Instant::now() + config.max_wait;
    while batch.len() < config.max_batch {
        let room = config.max_batch - batch.len();
        match tokio::time::timeout_at(deadline, rx.recv_many(batch, room)).await {
            Ok(0) => return false,
            Ok(_) => {}
            Err(_elapsed) => break,
        }
    }
    true
}

async fn write_with_retries(store: &Store, batch: &[StoreEvent], config: &WriterConfig) {
    let mut backoff = config.first_backoff;
    for attempt in 1..=config.attempts.max(1) {
        match write_batch(store, batch).await {
            Ok(()) => return,
            Err(e) => {
                tracing::error!(error = %e, attempt, events = batch.len(), "store writer: writing a batch failed");
                if attempt < config.attempts {
                    tokio::time::sleep(backoff).await;
                    backoff = backoff.saturating_mul(2);
                }
            }
        }
    }
    // Isolate what the database refuses from what it would accept.
    let mut dropped = 0usize;
    for event in batch {
        if let Err(e) = write_batch(store, std::slice::from_ref(event)).await {
            dropped += 1;
            tracing::error!(error = %e, event = ?event, "store writer: event dropped");
        }
    }
    if dropped > 0 {
        tracing::error!(dropped, of = batch.len(), "store writer: events could not be written and were dropped");
    }
}

/// Writes `batch` in one transaction. Repeated topics are written once.
async fn write_batch(store: &Store, batch: &[StoreEvent]) -> Result<(), sqlx::Error> {
    let mut tx = store.pool().begin().await?;
    let mut seen: HashSet<(&str, &str)> = HashSet::new();
    for event in batch {
        match event {
            StoreEvent::TopicSeen { namespace, topic, created_by } => {
                if seen.insert((namespace, topic)) {
                    write_topic_seen(&mut tx, namespace, topic, created_by).await?;
                }
            }
            StoreEvent::AuthFailure { username, peer, reason } => {
                let entry = audit::NewAudit {
                    op_type: "auth_failure",
                    target_type: "mq_user",
                    operator: peer,
                    target: username,
                    namespace: None,
                    old_value: None,
                    new_value: Some(reason),
                };
                audit::insert_in(&mut tx, &entry).await?;
            }
        }
    }
    tx.commit().await
}

async fn write_topic_seen(
    conn: &mut SqliteConnection,
    namespace: &str,
    topic: &str,
    created_by: &str,
) -> Result<(), sqlx::Error> {
    let namespace_id = namespaces::ensure_exists_in(conn, namespace, created_by).await?;
    topics::ensure_in(conn, namespace_id, topic, created_by).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::audit::{query, AuditFilter};
    use tokio::sync::mpsc;

    fn seen(ns: &str, topic: &str) -> StoreEvent {
        StoreEvent::TopicSeen { namespace: ns.into(), topic: topic.into(), created_by: "user_1".into() }
    }

    async fn count(store: &Store, table: &str) -> i64 {
        let sql = match table {
            "namespaces" => "SELECT COUNT(*) FROM namespaces",
            "topics" => "SELECT COUNT(*) FROM topics",
            _ => "SELECT COUNT(*) FROM audit_log",
        };
        let (n,): (i64,) = sqlx::query_as(sql).fetch_one(store.pool()).await.unwrap();
        n
    }

    #[tokio::test]
    async fn thousand_events_are_written_and_flushed_on_close() {
        let store = Store::open_memory().await.unwrap();
        let (tx, rx) = mpsc::channel(2048);
        let handle = spawn_writer(store.clone(), rx);
        for i in 0..1000 {
            // 3 namespaces × 100 topics, each seen several times.
            let ns = ["market", "risk", "orders"][i % 3];
            tx.send(seen(ns, &format!("t{}", i % 100))).await.unwrap();
        }
        tx.send(StoreEvent::AuthFailure {
            username: "mallory".into(),
            peer: "10.0.0.9:5555".into(),
            reason: "bad token".into(),
        })
        .await
        .unwrap();
        drop(tx);
        handle.await.unwrap();

        assert_eq!(count(&store, "namespaces").await, 3);
        assert_eq!(count(&store, "topics").await, 300);
        let ns = namespaces::get_by_name(&store, "risk").await.unwrap().unwrap();
        assert_eq!(ns.created_by, "user_1");
        let audit = query(&store, &AuditFilter::default()).await.unwrap();
        assert_eq!(audit.len(), 1);
        let a = &audit[0];
        assert_eq!(
            (
                a.op_type.as_str(),
                a.target_type.as_str(),
                a.operator.as_str(),
                a.target.as_str(),
                a.new_value.as_deref()
            ),
            ("auth_failure", "mq_user", "10.0.0.9:5555", "mallory", Some("bad token"))
        );
    }

    /// The audit limit applies to the MQ side too, once per failure: 15
    /// failures from one address (new ports each time) give 10 rows.
    #[tokio::test]
    async fn auth_failures_from_one_address_are_capped() {
        let store = Store::open_memory().await.unwrap();
        let (tx, rx) = mpsc::channel(64);
        let handle = spawn_writer(store.clone(), rx);
        for port in 0..15 {
            let peer = format!("10.0.0.9:{}", 5000 + port);
            tx.send(StoreEvent::AuthFailure { username: "m".into(), peer, reason: "bad token".into() }).await.unwrap();
        }
        drop(tx);
        handle.await.unwrap();
        let want = crate::store::failure_audit::PER_SOURCE_PER_MINUTE as i64;
        assert_eq!(count(&store, "audit_log").await, want);
    }

    #[tokio::test]
    async fn known_topics_and_namespaces_are_kept() {
        let store = Store::open_memory().await.unwrap();
        let id = namespaces::create(&store, "market", "described", "admin", None).await.unwrap().new_row().unwrap().id;
        let (tx, rx) = mpsc::channel(8);
        let handle = spawn_writer(store.clone(), rx);
        tx.send(seen("market", "a")).await.unwrap();
        drop(tx);
        handle.await.unwrap();
        let ns = namespaces::get(&store, id).await.unwrap().unwrap();
        assert_eq!((ns.description.as_str(), ns.created_by.as_str()), ("described", "admin"));
        assert_eq!(topics::list(&store, Some("market")).await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn batches_respect_the_size_limit() {
        let (tx, mut rx) = mpsc::channel(64);
        for i in 0..25 {
            tx.send(seen("n", &format!("t{i}"))).await.unwrap();
        }
        drop(tx);
        let config = WriterConfig { max_batch: 10, ..Default::default() };
        let mut batch = Vec::new();
        let mut sizes = Vec::new();
        loop {
            let open = gather(&mut rx, &mut batch, &config).await;
            sizes.push(batch.len());
            batch.clear();
            if !open {
                break;
            }
        }
        assert_eq!(sizes.iter().sum::<usize>(), 25);
        assert!(sizes.iter().all(|&s| s <= 10), "{sizes:?}");
    }

    #[tokio::test]
    async fn a_failing_database_drops_events_without_panicking() {
        let store = Store::open_memory().await.unwrap();
        store.close().await;
        let (tx, rx) = mpsc::channel(8);
        let config = WriterConfig { first_backoff: Duration::from_millis(1), ..Default::default() };
        let handle = spawn_writer_with(store, rx, config);
        tx.send(seen("n", "t")).await.unwrap();
        drop(tx);
        handle.await.expect("the writer must not panic");
    }

    #[tokio::test]
    async fn a_refused_event_does_not_drop_its_batch() {
        let store = Store::open_memory().await.unwrap();
        // A trigger that refuses one topic name stands in for any per-row failure.
        sqlx::query(
            "CREATE TRIGGER refuse_bad BEFORE INSERT ON topics WHEN NEW.name = 'bad' \
             BEGIN SELECT RAISE(ABORT, 'refused'); END",
        )
        .execute(store.pool())
        .await
        .unwrap();
        let (tx, rx) = mpsc::channel(8);
        let config = WriterConfig { first_backoff: Duration::from_millis(1), attempts: 2, ..Default::default() };
        let handle = spawn_writer_with(store.clone(), rx, config);
        for t in ["good1", "bad", "good2"] {
            tx.send(seen("n", t)).await.unwrap();
        }
        drop(tx);
        handle.await.unwrap();
        let names: Vec<_> = topics::list(&store, Some("n")).await.unwrap().into_iter().map(|t| t.name).collect();
        assert_eq!(names, ["good1", "good2"]);
    }
}
