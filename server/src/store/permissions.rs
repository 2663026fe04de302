//! The `namespace_permissions` table: one role per (user, namespace).
//!
//! Roles are typed ([`Role`]) on the way in and stored lowercase, so the
//! schema's CHECK constraint and the engine's parser always agree.

use sqlx::SqliteConnection;

use super::{is_foreign_key_violation, is_unique_violation, Store};
use crate::perms::Role;

/// A grant with both names, so one type serves the per-namespace and the
/// per-user listings.
/// Read straight into the admin API's DTO (shared with the console).
pub use pulsemq_shared::dto::Permission as PermissionRow;

/// Outcome of [`grant`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grant {
    Granted(PermissionRow),
    /// The user already has a role there; change it with [`change_role`].
    AlreadyGranted,
    /// No such user or no such namespace.
    UnknownUserOrNamespace,
}

macro_rules! select_permission_row {
    ($($tail:literal),*) => {
        concat!(
            "SELECT p.id, p.user_id, u.username, p.namespace_id, n.name AS namespace, p.role, p.granted_by, p.granted_at ",
            "FROM namespace_permissions p JOIN users u ON u.id = p.user_id JOIN namespaces n ON n.id = p.namespace_id ",
            $($tail),*
        )
    };
}

async fn get_in(
    conn: &mut SqliteConnection,
    user_id: i64,
    namespace_id: i64,
) -> Result<Option<PermissionRow>, sqlx::Error> {
    sqlx::query_as(select_permission_row!("WHERE p.user_id = $1 AND p.namespace_id = $2"))
        .bind(user_id)
        .bind(namespace_id)
        .fetch_optional(conn)
        .await
}

/// Gives `user_id` the role `role` in `namespace_id`.
pub async fn grant(
    store: &Store,
    user_id: i64,
    namespace_id: i64,
    role: Role,
    granted_by: &str,
) -> crate::Result<Grant> {
    let mut conn = store.pool().acquire().await?;
    let inserted = sqlx::query(
        "INSERT INTO namespace_permissions (user_id, namespace_id, role, granted_by) VALUES ($1, $2, $3, $4)",
    )
    .bind(user_id)
    .bind(namespace_id)
    .bind(role.as_str())
    .bind(granted_by)
    .execute(&mut *conn)
    .await;
    match inserted {
        Ok(_) => Ok(Grant::Granted(get_in(&mut conn, user_id, namespace_id).await?.ok_or(sqlx::Error::RowNotFound)?)),
        Err(e) if is_unique_violation(&e) => Ok(Grant::AlreadyGranted),
        Err(e) if is_foreign_key_violation(&e) => Ok(Grant::UnknownUserOrNamespace),
        Err(e) => Err(e.into()),
    }
}

/// The grant of one user in one namespace.
pub async fn get(store: &Store, user_id: i64, namespace_id: i64) -> crate::Result<Option<PermissionRow>> {
    let mut conn = store.pool().acquire().await?;
    Ok(get_in(&mut conn, user_id, namespace_id).await?)
}

/// Changes an existing grant's role (and records who did it); returns the
/// previous row (for the audit's old value), or `None` if there was no grant.
pub async fn change_role(
    store: &Store,
    user_id: i64,
    namespace_id: i64,
    role: Role,
    granted_by: &str,
) -> crate::Result<Option<PermissionRow>> {
    let mut tx = store.pool().begin().await?;
    let Some(old) = get_in(&mut tx, user_id, namespace_id).await? else {
        return Ok(None);
    };
    sqlx::query(
        "UPDATE namespace_permissions SET role = $1, granted_by = $2, granted_at = CURRENT_TIMESTAMP \
         WHERE user_id = $3 AND namespace_id = $4",
    )
    .bind(role.as_str())
    .bind(granted_by)
    .bind(user_id)
    .bind(namespace_id)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Some(old))
}

/// Removes a grant; returns the removed row, or `None` if there was none.
pub async fn revoke(store: &Store, user_id: i64, namespace_id: i64) -> crate::Result<Option<PermissionRow>> {
    let mut tx = store.pool().begin().await?;
    let Some(old) = get_in(&mut tx, user_id, namespace_id).await? else {
        return Ok(None);
    };
    sqlx::query("DELETE FROM namespace_permissions WHERE user_id = $1 AND namespace_id = $2")
        .bind(user_id)
        .bind(namespace_id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(Some(old))
}

/// Grants in one namespace, ordered by username.
pub async fn list_for_namespace(store: &Store, namespace_id: i64) -> crate::Result<Vec<PermissionRow>> {
    Ok(sqlx::query_as(select_permission_row!("WHERE p.namespace_id = $1 ORDER BY u.username"))
        .bind(namespace_id)
        .fetch_all(store.pool())
        .await?)
}

/// Grants of one user, ordered by namespace name.
pub async fn list_for_user(store: &Store, user_id: i64) -> crate::Result<Vec<PermissionRow>> {
    Ok(sqlx::query_as(select_permission_row!("WHERE p.user_id = $1 ORDER BY n.name"))
        .bind(user_id)
        .fetch_all(store.pool())
        .await?)
}

/// Every grant (the permission snapshot reads them all in one go).
pub async fn list_all_in(conn: &mut SqliteConnection) -> Result<Vec<PermissionRow>, sqlx::Error> {
    sqlx::query_as(select_permission_row!("ORDER BY p.user_id, n.name")).fetch_all(conn).await
}

#[cfg(test)]
mod tests {
    use super::super::{namespaces, users};
    use super::*;
    use crate::perms::UserType;

    async fn setup() -> (Store, i64, i64, i64, i64) {
        let store = Store::open_memory().await.unwrap();
        let user = |name| users::NewUser {
            username: name,
            user_type: UserType::MqNormal,
            password_hash: None,
            token_hash: None,
        };
        let alice = users::create(&store, &user("alice")).await.unwrap().new_row().unwrap().id;
        let bob = users::create(&store, &user("bob")).await.unwrap().new_row().unwrap().id;
        let market = namespaces::ensure_exists(&store, "market", "admin").await.unwrap();
        let risk = namespaces::ensure_exists(&store, "risk", "admin").await.unwrap();
        (store, alice, bob, market, risk)
    }

    #[tokio::test]
    async fn grant_get_and_conflicts() {
        let (store, alice, _bob, market, _risk) = setup().await;
        let Grant::Granted(row) = grant(&store, alice, market, Role::Pub, "admin").await.unwrap() else { panic!() };
        assert_eq!(
            (row.username.as_str(), row.namespace.as_str(), row.role.as_str(), row.granted_by.as_str()),
            ("alice", "market", "pub", "admin")
        );
        assert_eq!(get(&store, alice, market).await.unwrap(), Some(row));
        assert_eq!(grant(&store, alice, market, Role::Sub, "admin").await.unwrap(), Grant::AlreadyGranted);
        assert_eq!(grant(&store, 999, market, Role::Sub, "admin").await.unwrap(), Grant::UnknownUserOrNamespace);
        assert_eq!(grant(&store, alice, 999, Role::Sub, "admin").await.unwrap(), Grant::UnknownUserOrNamespace);
        assert_eq!(get(&store, alice, 999).await.unwrap(), None);
    }

    #[tokio::test]
    async fn change_role_and_revoke_return_the_previous_grant() {
        let (store, alice, bob, market, _risk) = setup().await;
        grant(&store, alice, market, Role::Sub, "admin").await.unwrap();
        let old = change_role(&store, alice, market, Role::Admin, "root").await.unwrap().unwrap();
        assert_eq!(old.role, "sub");
        let now = get(&store, alice, market).await.unwrap().unwrap();
        assert_eq!((now.role.as_str(), now.granted_by.as_str()), ("admin", "root"));
        assert_eq!(change_role(&store, bob, market, Role::Pub, "root").await.unwrap(), None);

        assert_eq!(revoke(&store, alice, market).await.unwrap(), Some(now));
        assert_eq!(revoke(&store, alice, market).await.unwrap(), None);
        assert_eq!(get(&store, alice, market).await.unwrap(), None);
    }

    #[tokio::test]
    async fn lists_per_namespace_and_per_user_with_names() {
        let (store, alice, bob, market, risk) = setup().await;
        grant(&store, bob, market, Role::Sub, "admin").await.unwrap();
        grant(&store, alice, risk, Role::Pub, "admin").await.unwrap();
        grant(&store, alice, market, Role::Admin, "admin").await.unwrap();

        let by_ns: Vec<_> =
            list_for_namespace(&store, market).await.unwrap().into_iter().map(|p| (p.username, p.role)).collect();
        assert_eq!(by_ns, [("alice".to_string(), "admin".to_string()), ("bob".to_string(), "sub".to_string())]);
        let by_user: Vec<_> =
            list_for_user(&store, alice).await.unwrap().into_iter().map(|p| (p.namespace, p.role)).collect();
        assert_eq!(by_user, [("market".to_string(), "admin".to_string()), ("risk".to_string(), "pub".to_string())]);
        assert!(list_for_user(&store, 999).await.unwrap().is_empty());

        let mut conn = store.pool().acquire().await.unwrap();
        assert_eq!(list_all_in(&mut conn).await.unwrap().len(), 3);
    }

    #[tokio::test]
    async fn deleting_a_user_or_namespace_cascades_to_grants() {
        let (store, alice, bob, market, risk) = setup().await;
        grant(&store, alice, market, Role::Sub, "admin").await.unwrap();
        grant(&store, bob, risk, Role::Sub, "admin").await.unwrap();
        users::delete(&store, alice).await.unwrap();
        assert!(list_for_namespace(&store, market).await.unwrap().is_empty());
        namespaces::delete(&store, risk).await.unwrap();
        assert!(list_for_user(&store, bob).await.unwrap().is_empty());
    }
}
