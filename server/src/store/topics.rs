//! The `topics` table: the registry of (namespace, topic) pairs ever
//! published, filled by the batching writer and pruned by the admin API.

use sqlx::SqliteConnection;

use super::Store;

/// A topic with its namespace's name (the API and console speak names).
/// Read straight into the admin API's DTO (shared with the console).
pub use pulsemq_shared::dto::Topic as TopicRow;

macro_rules! select_topic_row {
    ($($tail:literal),*) => {
        concat!(
            "SELECT t.id, t.namespace_id, n.name AS namespace, t.name, t.created_by, t.created_at ",
            "FROM topics t JOIN namespaces n ON n.id = t.namespace_id ",
            $($tail),*
        )
    };
}

async fn get_in(conn: &mut SqliteConnection, id: i64) -> Result<Option<TopicRow>, sqlx::Error> {
    sqlx::query_as(select_topic_row!("WHERE t.id = $1")).bind(id).fetch_optional(conn).await
}

/// Registers a topic if it is not known yet; returns its id. A missing
/// namespace is a foreign-key error (callers ensure the namespace first).
pub async fn ensure_in(
    conn: &mut SqliteConnection,
    namespace_id: i64,
    name: &str,
    created_by: &str,
) -> Result<i64, sqlx::Error> {
    sqlx::query(
        "INSERT INTO topics (namespace_id, name, created_by) VALUES ($1, $2, $3) \
         ON CONFLICT (namespace_id, name) DO NOTHING",
    )
    .bind(namespace_id)
    .bind(name)
    .bind(created_by)
    .execute(&mut *conn)
    .await?;
    let (id,): (i64,) = sqlx::query_as("SELECT id FROM topics WHERE namespace_id = $1 AND name = $2")
        .bind(namespace_id)
        .bind(name)
        .fetch_one(conn)
        .await?;
    Ok(id)
}

/// [`ensure_in`] on a pooled connection.
pub async fn ensure(store: &Store, namespace_id: i64, name: &str, created_by: &str) -> crate::Result<i64> {
    let mut conn = store.pool().acquire().await?;
    Ok(ensure_in(&mut conn, namespace_id, name, created_by).await?)
}

pub async fn get(store: &Store, id: i64) -> crate::Result<Option<TopicRow>> {
    let mut conn = store.pool().acquire().await?;
    Ok(get_in(&mut conn, id).await?)
}

pub async fn get_by_name(store: &Store, namespace: &str, topic: &str) -> crate::Result<Option<TopicRow>> {
    Ok(sqlx::query_as(select_topic_row!("WHERE n.name = $1 AND t.name = $2"))
        .bind(namespace)
        .bind(topic)
        .fetch_optional(store.pool())
        .await?)
}

/// Topics of one namespace (by name) or of all (`None`), ordered by
/// namespace then topic name. An unknown namespace gives an empty list.
pub async fn list(store: &Store, namespace: Option<&str>) -> crate::Result<Vec<TopicRow>> {
    Ok(sqlx::query_as(select_topic_row!("WHERE ($1 IS NULL OR n.name = $1) ORDER BY n.name, t.name"))
        .bind(namespace)
        .fetch_all(store.pool())
        .await?)
}

/// Every (namespace, topic) pair: the engine's registry at start-up, so it
/// only reports topics the database does not know yet.
pub async fn list_all_names(store: &Store) -> crate::Result<Vec<(String, String, String)>> {
    Ok(sqlx::query_as(
        "SELECT n.name, t.name, t.created_by FROM topics t JOIN namespaces n ON n.id = t.namespace_id \
         ORDER BY n.name, t.name",
    )
    .fetch_all(store.pool())
    .await?)
}

/// Deletes a topic; the deleted row (the caller tells the engine to forget
/// that namespace/topic and audits it), or `None` if there was none.
pub async fn delete(store: &Store, id: i64) -> crate::Result<Option<TopicRow>> {
    let mut tx = store.pool().begin().await?;
    let Some(row) = get_in(&mut tx, id).await? else {
        return Ok(None);
    };
    sqlx::query("DELETE FROM topics WHERE id = $1").bind(id).execute(&mut *tx).await?;
    tx.commit().await?;
    Ok(Some(row))
}

#[cfg(test)]
mod tests {
    use super::super::namespaces;
    use super::*;

    #[tokio::test]
    async fn ensure_is_idempotent_and_scoped_by_namespace() {
        let store = Store::open_memory().await.unwrap();
        let a = namespaces::ensure_exists(&store, "a", "x").await.unwrap();
        let b = namespaces::ensure_exists(&store, "b", "x").await.unwrap();
        let t = ensure(&store, a, "sz000651.kline.1m", "user_1").await.unwrap();
        assert_eq!(ensure(&store, a, "sz000651.kline.1m", "user_2").await.unwrap(), t);
        let other = ensure(&store, b, "sz000651.kline.1m", "user_2").await.unwrap();
        assert_ne!(t, other);

        let row = get(&store, t).await.unwrap().unwrap();
        assert_eq!(
            (row.namespace.as_str(), row.name.as_str(), row.created_by.as_str()),
            ("a", "sz000651.kline.1m", "user_1")
        );
        assert_eq!(row.namespace_id, a);
        assert_eq!(get(&store, 999).await.unwrap(), None);
        assert_eq!(get_by_name(&store, "b", "sz000651.kline.1m").await.unwrap().unwrap().id, other);
        assert_eq!(get_by_name(&store, "c", "sz000651.kline.1m").await.unwrap(), None);
    }

    #[tokio::test]
    async fn ensure_needs_an_existing_namespace() {
        let store = Store::open_memory().await.unwrap();
        let err = ensure(&store, 42, "t", "x").await.unwrap_err();
        assert!(matches!(err, crate::Error::Db(ref e) if super::super::is_foreign_key_violation(e)), "{err}");
    }

    #[tokio::test]
    async fn list_filters_by_namespace_name_and_lists_all_names() {
        let store = Store::open_memory().await.unwrap();
        let a = namespaces::ensure_exists(&store, "a", "x").await.unwrap();
        let b = namespaces::ensure_exists(&store, "b", "x").await.unwrap();
        for (ns, t) in [(b, "z"), (a, "y"), (a, "x")] {
            ensure(&store, ns, t, "u").await.unwrap();
        }
        let names =
            |rows: Vec<TopicRow>| rows.into_iter().map(|r| format!("{}/{}", r.namespace, r.name)).collect::<Vec<_>>();
        assert_eq!(names(list(&store, None).await.unwrap()), ["a/x", "a/y", "b/z"]);
        assert_eq!(names(list(&store, Some("a")).await.unwrap()), ["a/x", "a/y"]);
        assert!(list(&store, Some("nope")).await.unwrap().is_empty());
        let pair = |n: &str, t: &str| (n.to_string(), t.to_string(), "u".to_string());
        assert_eq!(list_all_names(&store).await.unwrap(), vec![pair("a", "x"), pair("a", "y"), pair("b", "z")]);
    }

    #[tokio::test]
    async fn delete_returns_the_row_once() {
        let store = Store::open_memory().await.unwrap();
        let ns = namespaces::ensure_exists(&store, "a", "x").await.unwrap();
        let id = ensure(&store, ns, "t", "u").await.unwrap();
        let row = get(&store, id).await.unwrap().unwrap();
        assert_eq!(delete(&store, id).await.unwrap(), Some(row));
        assert_eq!(delete(&store, id).await.unwrap(), None);
        assert!(list(&store, None).await.unwrap().is_empty());
    }
}
