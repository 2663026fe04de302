//! The `namespaces` table.

use sqlx::SqliteConnection;

use super::{is_foreign_key_violation, is_unique_violation, Created, Store};

/// A namespace as the admin API shows it.
/// Read straight into the admin API's DTO (shared with the console).
pub use pulsemq_shared::dto::Namespace as NamespaceRow;

/// Outcome of [`delete`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeleteNamespace {
    /// Deleted, with its permissions; here is the row it had.
    Deleted(NamespaceRow),
    /// No namespace with that id.
    NotFound,
    /// Refused: topics must be deleted first, so that no topic (and no
    /// subscriber's data) disappears as a side effect. Carries how many.
    HasTopics(i64),
}

/// `SELECT` of every [`NamespaceRow`] column, then `$tail` (as
/// `select_user_row!` in `users.rs`): one list for every query.
macro_rules! select_namespace_row {
    ($tail:literal) => {
        concat!("SELECT id, name, description, created_by, is_active, created_at, max_topics FROM namespaces ", $tail)
    };
}

async fn get_in(conn: &mut SqliteConnection, id: i64) -> Result<Option<NamespaceRow>, sqlx::Error> {
    sqlx::query_as(select_namespace_row!("WHERE id = $1")).bind(id).fetch_optional(conn).await
}

async fn count_topics_in(conn: &mut SqliteConnection, id: i64) -> Result<i64, sqlx::Error> {
    let (n,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM topics WHERE namespace_id = $1").bind(id).fetch_one(conn).await?;
    Ok(n)
}

/// Creates a namespace; [`Created::AlreadyExists`] when the name is taken.
/// Name validation is the caller's job (`pulsemq_shared`).
pub async fn create(
    store: &Store,
    name: &str,
    description: &str,
    created_by: &str,
    max_topics: Option<i64>,
) -> crate::Result<Created<NamespaceRow>> {
    let mut conn = store.pool().acquire().await?;
    let inserted: Result<(i64,), _> = sqlx::query_as(
        "INSERT INTO namespaces (name, description, created_by, max_topics) VALUES ($1, $2, $3, $4) RETURNING id",
    )
    .bind(name)
    .bind(description)
    .bind(created_by)
    .bind(max_topics)
    .fetch_one(&mut *conn)
    .await;
    match inserted {
        Ok((id,)) => Ok(Created::New(get_in(&mut conn, id).await?.ok_or(sqlx::Error::RowNotFound)?)),
        Err(e) if is_unique_violation(&e) => Ok(Created::AlreadyExists),
        Err(e) => Err(e.into()),
    }
}

/// The namespace named `name`, creating it (empty description) if missing;
/// returns its id. Used when a super user publishes to a new namespace.
/// `ON CONFLICT DO NOTHING` (SQLite ≥ 3.24 and PostgreSQL) rather than
/// SQLite's `INSERT OR IGNORE`, which would also swallow other errors.
pub async fn ensure_exists_in(conn: &mut SqliteConnection, name: &str, created_by: &str) -> Result<i64, sqlx::Error> {
    sqlx::query(
        "INSERT INTO namespaces (name, description, created_by) VALUES ($1, '', $2) ON CONFLICT (name) DO NOTHING",
    )
    .bind(name)
    .bind(created_by)
    .execute(&mut *conn)
    .await?;
    let (id,): (i64,) = sqlx::query_as("SELECT id FROM namespaces WHERE name = $1").bind(name).fetch_one(conn).await?;
    Ok(id)
}

/// [`ensure_exists_in`] on a pooled connection.
pub async fn ensure_exists(store: &Store, name: &str, created_by: &str) -> crate::Result<i64> {
    let mut conn = store.pool().acquire().await?;
    Ok(ensure_exists_in(&mut conn, name, created_by).await?)
}

pub async fn get(store: &Store, id: i64) -> crate::Result<Option<NamespaceRow>> {
    let mut conn = store.pool().acquire().await?;
    Ok(get_in(&mut conn, id).await?)
}

pub async fn get_by_name(store: &Store, name: &str) -> crate::Result<Option<NamespaceRow>> {
    Ok(sqlx::query_as(select_namespace_row!("WHERE name = $1")).bind(name).fetch_optional(store.pool()).await?)
}

/// All namespaces, ordered by id.
pub async fn list(store: &Store) -> crate::Result<Vec<NamespaceRow>> {
    Ok(sqlx::query_as(select_namespace_row!("ORDER BY id")).fetch_all(store.pool()).await?)
}

/// How many topics the namespace has.
pub async fn count_topics(store: &Store, id: i64) -> crate::Result<i64> {
    let mut conn = store.pool().acquire().await?;
    Ok(count_topics_in(&mut conn, id).await?)
}

/// What [`update`] changes; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct NamespaceChange<'a> {
    pub description: Option<&'a str>,
    /// `Some(None)`: back to the broker's default limit.
    pub max_topics: Option<Option<i64>>,
}

/// Applies `change`; the updated row, or `None` if there is no such namespace.
pub async fn update(store: &Store, id: i64, change: &NamespaceChange<'_>) -> crate::Result<Option<NamespaceRow>> {
    let mut tx = store.pool().begin().await?;
    let r = sqlx::query(
        "UPDATE namespaces SET description = COALESCE($1, description), \
         max_topics = CASE WHEN $2 THEN $3 ELSE max_topics END WHERE id = $4",
    )
    .bind(change.description)
    .bind(change.max_topics.is_some())
    .bind(change.max_topics.flatten())
    .bind(id)
    .execute(&mut *tx)
    .await?;
    if r.rows_affected() == 0 {
        return Ok(None);
    }
    let row = get_in(&mut tx, id).await?;
    tx.commit().await?;
    Ok(row)
}

/// Deletes a namespace and its permissions, refusing while it has topics.
pub async fn delete(store: &Store, id: i64) -> crate::Result<DeleteNamespace> {
    let mut tx = store.pool().begin().await?;
    let Some(row) = get_in(&mut tx, id).await? else {
        return Ok(DeleteNamespace::NotFound);
    };
    let topics = count_topics_in(&mut tx, id).await?;
    if topics > 0 {
        return Ok(DeleteNamespace::HasTopics(topics));
    }
    match sqlx::query("DELETE FROM namespaces WHERE id = $1").bind(id).execute(&mut *tx).await {
        Ok(_) => {}
        // A topic registered between the count and the delete: the RESTRICT
        // foreign key refuses, and the answer is the same as above.
        Err(e) if is_foreign_key_violation(&e) => {
            drop(tx);
            return Ok(DeleteNamespace::HasTopics(count_topics(store, id).await?.max(1)));
        }
        Err(e) => return Err(e.into()),
    }
    tx.commit().await?;
    Ok(DeleteNamespace::Deleted(row))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn desc(d: &str) -> NamespaceChange<'_> {
        NamespaceChange { description: Some(d), ..Default::default() }
    }

    #[tokio::test]
    async fn create_get_list_and_duplicate() {
        let store = Store::open_memory().await.unwrap();
        let a = create(&store, "market", "ticks", "admin", None).await.unwrap().new_row().unwrap();
        assert_eq!(
            (a.name.as_str(), a.description.as_str(), a.created_by.as_str(), a.is_active),
            ("market", "ticks", "admin", true)
        );
        let b = create(&store, "risk", "", "admin", None).await.unwrap().new_row().unwrap();
        assert_eq!(create(&store, "market", "again", "x", None).await.unwrap(), Created::AlreadyExists);

        assert_eq!(get(&store, a.id).await.unwrap(), Some(a.clone()));
        assert_eq!(get(&store, 999).await.unwrap(), None);
        assert_eq!(get_by_name(&store, "risk").await.unwrap(), Some(b.clone()));
        assert_eq!(get_by_name(&store, "nope").await.unwrap(), None);
        assert_eq!(list(&store).await.unwrap(), vec![a, b]);
    }

    #[tokio::test]
    async fn ensure_exists_is_idempotent_and_keeps_the_first_creator() {
        let store = Store::open_memory().await.unwrap();
        let id = ensure_exists(&store, "auto", "user_1").await.unwrap();
        assert_eq!(ensure_exists(&store, "auto", "user_2").await.unwrap(), id);
        let row = get(&store, id).await.unwrap().unwrap();
        assert_eq!((row.created_by.as_str(), row.description.as_str()), ("user_1", ""));
        assert_eq!(list(&store).await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn update_changes_what_it_is_given_and_reports_missing() {
        let store = Store::open_memory().await.unwrap();
        let id = create(&store, "n", "old", "a", None).await.unwrap().new_row().unwrap().id;
        assert_eq!(update(&store, id, &desc("new")).await.unwrap().unwrap().description, "new");
        let limited = NamespaceChange { max_topics: Some(Some(5)), ..Default::default() };
        let row = update(&store, id, &limited).await.unwrap().unwrap();
        assert_eq!((row.description.as_str(), row.max_topics), ("new", Some(5)));
        let back = NamespaceChange { max_topics: Some(None), ..Default::default() };
        assert_eq!(update(&store, id, &back).await.unwrap().unwrap().max_topics, None);
        assert_eq!(get(&store, id).await.unwrap().unwrap().description, "new");
        assert_eq!(update(&store, 999, &desc("x")).await.unwrap(), None);
    }

    #[tokio::test]
    async fn delete_refuses_while_topics_exist() {
        let store = Store::open_memory().await.unwrap();
        let ns = create(&store, "n", "", "a", None).await.unwrap().new_row().unwrap();
        let t1 = super::super::topics::ensure(&store, ns.id, "t1", "a").await.unwrap();
        super::super::topics::ensure(&store, ns.id, "t2", "a").await.unwrap();
        assert_eq!(count_topics(&store, ns.id).await.unwrap(), 2);
        assert_eq!(delete(&store, ns.id).await.unwrap(), DeleteNamespace::HasTopics(2));

        super::super::topics::delete(&store, t1).await.unwrap();
        let t2 = super::super::topics::get_by_name(&store, "n", "t2").await.unwrap().unwrap();
        super::super::topics::delete(&store, t2.id).await.unwrap();
        assert_eq!(delete(&store, ns.id).await.unwrap(), DeleteNamespace::Deleted(ns.clone()));
        assert_eq!(delete(&store, ns.id).await.unwrap(), DeleteNamespace::NotFound);
        assert_eq!(get(&store, ns.id).await.unwrap(), None);
    }

    #[tokio::test]
    async fn foreign_key_restricts_deleting_a_namespace_with_topics() {
        let store = Store::open_memory().await.unwrap();
        let id = ensure_exists(&store, "n", "a").await.unwrap();
        super::super::topics::ensure(&store, id, "t", "a").await.unwrap();
        let err = sqlx::query("DELETE FROM namespaces WHERE id = $1").bind(id).execute(store.pool()).await.unwrap_err();
        assert!(is_foreign_key_violation(&err), "{err:?}");
    }
}
