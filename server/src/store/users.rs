//! The `users` table.
//!
//! Two row types on purpose: [`UserRow`] is what the admin API may show and
//! has no hash field at all, so no handler can leak one by serialising a row;
//! [`UserCredentials`] carries the hashes, is not `Serialize`, and is read
//! only by the login and AUTH paths.

use sqlx::SqliteConnection;

use super::{is_unique_violation, Created, Store};
use crate::perms::UserType;

/// A user as the admin API shows it: never a hash, only whether one is set.
/// Read straight into the admin API's DTO (shared with the console).
pub use pulsemq_shared::dto::User as UserRow;

/// The secrets of one user, for login (bcrypt) and token checks. Deliberately
/// not `Serialize`.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct UserCredentials {
    pub id: i64,
    pub username: String,
    pub user_type: String,
    pub is_active: bool,
    /// bcrypt hash.
    pub password_hash: Option<String>,
    /// Lowercase hex SHA-256 of the MQ token.
    pub token_hash: Option<String>,
    /// Generation of console logins: a JWT signed with an older one is void.
    pub admin_token_gen: i64,
}

/// What creating a user needs; hashes are computed by the caller.
#[derive(Debug, Clone, Copy)]
pub struct NewUser<'a> {
    pub username: &'a str,
    pub user_type: UserType,
    /// bcrypt hash, for accounts that may log in to the console.
    pub password_hash: Option<&'a str>,
    /// SHA-256 of the MQ token.
    pub token_hash: Option<&'a [u8; 32]>,
}

/// Filters for [`list`]; `None` means "any". Pagination through `limit`
/// (`None` = all) and `offset`.
#[derive(Debug, Clone, Default)]
pub struct UserFilter {
    pub user_type: Option<UserType>,
    pub is_active: Option<bool>,
    pub limit: Option<i64>,
    pub offset: i64,
}

/// `SELECT` of the public columns, so every query returning [`UserRow`]
/// stays in step with the struct.
macro_rules! select_user_row {
    ($($tail:literal),*) => {
        concat!(
            "SELECT id, username, user_type, is_active, ",
            "(token_hash IS NOT NULL) AS has_token, (password_hash IS NOT NULL) AS has_password, ",
            "created_at, updated_at FROM users ",
            $($tail),*
        )
    };
}

async fn insert(conn: &mut SqliteConnection, new: &NewUser<'_>) -> Result<i64, sqlx::Error> {
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO users (username, user_type, password_hash, token_hash) VALUES ($1, $2, $3, $4) RETURNING id",
    )
    .bind(new.username)
    .bind(new.user_type.as_str())
    .bind(new.password_hash)
    .bind(new.token_hash.map(hex::encode))
    .fetch_one(conn)
    .await?;
    Ok(id)
}

async fn get_in(conn: &mut SqliteConnection, id: i64) -> Result<Option<UserRow>, sqlx::Error> {
    sqlx::query_as(select_user_row!("WHERE id = $1")).bind(id).fetch_optional(conn).await
}

/// Creates a user; [`Created::AlreadyExists`] when the username is taken.
pub async fn create(store: &Store, new: &NewUser<'_>) -> crate::Result<Created<UserRow>> {
    let mut conn = store.pool().acquire().await?;
    match insert(&mut conn, new).await {
        Ok(id) => {
            let row = get_in(&mut conn, id).await?.ok_or(sqlx::Error::RowNotFound)?;
            Ok(Created::New(row))
        }
        Err(e) if is_unique_violation(&e) => Ok(Created::AlreadyExists),
        Err(e) => Err(e.into()),
    }
}

/// Creates `new` only if the users table is empty (first start), and runs
/// `before_commit` inside the same transaction: if it fails (e.g. the
/// credentials file cannot be written) the user is rolled back, so the next
/// start tries again instead of leaving an admin nobody knows the password of.
/// `None` when a user existed already.
pub async fn create_first<F>(store: &Store, new: &NewUser<'_>, before_commit: F) -> crate::Result<Option<UserRow>>
where
    F: FnOnce(&UserRow) -> crate::Result<()>,
{
    let mut tx = store.pool().begin().await?;
    let (count,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM users").fetch_one(&mut *tx).await?;
    if count > 0 {
        return Ok(None);
    }
    let id = match insert(&mut tx, new).await {
        Ok(id) => id,
        // Another broker process on the same file won the race.
        Err(e) if is_unique_violation(&e) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let row = get_in(&mut tx, id).await?.ok_or(sqlx::Error::RowNotFound)?;
    before_commit(&row)?;
    tx.commit().await?;
    Ok(Some(row))
}

pub async fn get(store: &Store, id: i64) -> crate::Result<Option<UserRow>> {
    let mut conn = store.pool().acquire().await?;
    Ok(get_in(&mut conn, id).await?)
}

pub async fn get_by_name(store: &Store, username: &str) -> crate::Result<Option<UserRow>> {
    Ok(sqlx::query_as(select_user_row!("WHERE username = $1")).bind(username).fetch_optional(store.pool()).await?)
}

/// `SELECT` of [`UserCredentials`]' columns, as [`select_user_row`] for rows.
macro_rules! select_credentials {
    ($tail:literal) => {
        concat!(
            "SELECT id, username, user_type, is_active, password_hash, token_hash, admin_token_gen FROM users ",
            $tail
        )
    };
}

/// The hashes of a user, by name (console login).
pub async fn credentials_by_name(store: &Store, username: &str) -> crate::Result<Option<UserCredentials>> {
    Ok(sqlx::query_as(select_credentials!("WHERE username = $1")).bind(username).fetch_optional(store.pool()).await?)
}

/// The hashes of a user, by id (every admin request re-checks its login
/// with it; a password change checks the old password).
pub async fn credentials_by_id(store: &Store, id: i64) -> crate::Result<Option<UserCredentials>> {
    Ok(sqlx::query_as(select_credentials!("WHERE id = $1")).bind(id).fetch_optional(store.pool()).await?)
}

/// Users matching `filter`, ordered by id.
pub async fn list(store: &Store, filter: &UserFilter) -> crate::Result<Vec<UserRow>> {
    Ok(sqlx::query_as(select_user_row!(
        "WHERE ($1 IS NULL OR user_type = $1) AND ($2 IS NULL OR is_active = $2) ",
        "ORDER BY id LIMIT $3 OFFSET $4"
    ))
    .bind(filter.user_type.map(UserType::as_str))
    .bind(filter.is_active)
    .bind(filter.limit.unwrap_or(i64::MAX))
    .bind(filter.offset)
    .fetch_all(store.pool())
    .await?)
}

/// How many users match `filter` (its `limit`/`offset` are ignored), for
/// pagination totals.
pub async fn count(store: &Store, filter: &UserFilter) -> crate::Result<i64> {
    let (n,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM users WHERE ($1 IS NULL OR user_type = $1) AND ($2 IS NULL OR is_active = $2)",
    )
    .bind(filter.user_type.map(UserType::as_str))
    .bind(filter.is_active)
    .fetch_one(store.pool())
    .await?;
    Ok(n)
}

/// Active `super_admin` accounts: the API refuses to delete, deactivate or
/// demote the last one, which would lock everybody out of the console.
pub async fn count_super_admins(store: &Store) -> crate::Result<i64> {
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM users WHERE user_type = $1 AND is_active = $2")
        .bind(UserType::SuperAdmin.as_str())
        .bind(true)
        .fetch_one(store.pool())
        .await?;
    Ok(n)
}

/// Changes a user's type; `false` if there is no such user.
pub async fn set_user_type(store: &Store, id: i64, user_type: UserType) -> crate::Result<bool> {
    let r = sqlx::query("UPDATE users SET user_type = $1, updated_at = CURRENT_TIMESTAMP WHERE id = $2")
        .bind(user_type.as_str())
        .bind(id)
        .execute(store.pool())
        .await?;
    Ok(r.rows_affected() > 0)
}

/// Activates or deactivates a user; `false` if there is no such user.
pub async fn set_active(store: &Store, id: i64, active: bool) -> crate::Result<bool> {
    let r = sqlx::query("UPDATE users SET is_active = $1, updated_at = CURRENT_TIMESTAMP WHERE id = $2")
        .bind(active)
        .bind(id)
        .execute(store.pool())
        .await?;
    Ok(r.rows_affected() > 0)
}

/// Replaces (or with `None` removes) the MQ token hash; `false` if there is no such user.
pub async fn set_token_hash(store: &Store, id: i64, hash: Option<&[u8; 32]>) -> crate::Result<bool> {
    let r = sqlx::query("UPDATE users SET token_hash = $1, updated_at = CURRENT_TIMESTAMP WHERE id = $2")
        .bind(hash.map(hex::encode))
        .bind(id)
        .execute(store.pool())
        .await?;
    Ok(r.rows_affected() > 0)
}

/// Replaces (or with `None` removes) the bcrypt password hash and, in the
/// same statement, voids every console login of the user (a new password
/// usually means the old one leaked). The new login generation, or `None`
/// if there is no such user.
pub async fn set_password_hash(store: &Store, id: i64, hash: Option<&str>) -> crate::Result<Option<i64>> {
    Ok(sqlx::query_scalar(
        "UPDATE users SET password_hash = $1, admin_token_gen = admin_token_gen + 1, \
         updated_at = CURRENT_TIMESTAMP WHERE id = $2 RETURNING admin_token_gen",
    )
    .bind(hash)
    .bind(id)
    .fetch_optional(store.pool())
    .await?)
}

/// Voids every console login (admin JWT) of the user: logout. `false` if
/// there is no such user.
pub async fn end_admin_logins(store: &Store, id: i64) -> crate::Result<bool> {
    let r = sqlx::query("UPDATE users SET admin_token_gen = admin_token_gen + 1 WHERE id = $1")
        .bind(id)
        .execute(store.pool())
        .await?;
    Ok(r.rows_affected() > 0)
}

/// Deletes a user (their permissions go with them); the deleted row, or
/// `None` if there was no such user, so the caller can audit what it removed.
pub async fn delete(store: &Store, id: i64) -> crate::Result<Option<UserRow>> {
    let mut tx = store.pool().begin().await?;
    let Some(row) = get_in(&mut tx, id).await? else {
        return Ok(None);
    };
    sqlx::query("DELETE FROM users WHERE id = $1").bind(id).execute(&mut *tx).await?;
    tx.commit().await?;
    Ok(Some(row))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokens::hash_token;

    fn mq(name: &str, t: UserType) -> NewUser<'_> {
        NewUser { username: name, user_type: t, password_hash: None, token_hash: None }
    }

    #[tokio::test]
    async fn create_get_and_duplicate() {
        let store = Store::open_memory().await.unwrap();
        let hash = hash_token("tok");
        let new = NewUser { token_hash: Some(&hash), ..mq("alice", UserType::MqNormal) };
        let row = create(&store, &new).await.unwrap().new_row().unwrap();
        assert_eq!(row.username, "alice");
        assert_eq!(row.user_type, "mq_normal");
        assert!(row.is_active && row.has_token && !row.has_password);
        assert!(!row.created_at.is_empty());

        assert_eq!(get(&store, row.id).await.unwrap(), Some(row.clone()));
        assert_eq!(get_by_name(&store, "alice").await.unwrap(), Some(row.clone()));
        assert_eq!(get(&store, 999).await.unwrap(), None);
        assert_eq!(get_by_name(&store, "bob").await.unwrap(), None);

        assert_eq!(create(&store, &new).await.unwrap(), Created::AlreadyExists);
    }

    #[tokio::test]
    async fn public_row_serialises_without_hashes() {
        let store = Store::open_memory().await.unwrap();
        let hash = hash_token("secret-token");
        let new =
            NewUser { password_hash: Some("$2b$04$xyz"), token_hash: Some(&hash), ..mq("a", UserType::SuperAdmin) };
        let row = create(&store, &new).await.unwrap().new_row().unwrap();
        let json = serde_json::to_string(&row).unwrap();
        assert!(!json.contains("hash\":") && !json.contains(&hex::encode(hash)) && !json.contains("$2b$"), "{json}");
    }

    #[tokio::test]
    async fn credentials_carry_the_hashes() {
        let store = Store::open_memory().await.unwrap();
        let hash = hash_token("tok");
        let new =
            NewUser { password_hash: Some("$2b$04$abc"), token_hash: Some(&hash), ..mq("adm", UserType::SuperAdmin) };
        let id = create(&store, &new).await.unwrap().new_row().unwrap().id;
        let c = credentials_by_name(&store, "adm").await.unwrap().unwrap();
        assert_eq!(c.id, id);
        assert_eq!(c.password_hash.as_deref(), Some("$2b$04$abc"));
        assert_eq!(c.token_hash, Some(hex::encode(hash)));
        assert_eq!(credentials_by_id(&store, id).await.unwrap(), Some(c));
        assert_eq!(credentials_by_name(&store, "nobody").await.unwrap(), None);
        assert_eq!(credentials_by_id(&store, 42).await.unwrap(), None);
    }

    #[tokio::test]
    async fn list_and_count_with_filters_and_pages() {
        let store = Store::open_memory().await.unwrap();
        for (name, t) in
            [("a", UserType::MqNormal), ("b", UserType::MqSuper), ("c", UserType::MqNormal), ("d", UserType::AdminOnly)]
        {
            create(&store, &mq(name, t)).await.unwrap();
        }
        let c = get_by_name(&store, "c").await.unwrap().unwrap();
        assert!(set_active(&store, c.id, false).await.unwrap());

        let names = |rows: Vec<UserRow>| rows.into_iter().map(|r| r.username).collect::<Vec<_>>();
        assert_eq!(names(list(&store, &UserFilter::default()).await.unwrap()), ["a", "b", "c", "d"]);
        let normal = UserFilter { user_type: Some(UserType::MqNormal), ..Default::default() };
        assert_eq!(names(list(&store, &normal).await.unwrap()), ["a", "c"]);
        let active_normal = UserFilter { is_active: Some(true), ..normal.clone() };
        assert_eq!(names(list(&store, &active_normal).await.unwrap()), ["a"]);
        let inactive = UserFilter { is_active: Some(false), ..Default::default() };
        assert_eq!(names(list(&store, &inactive).await.unwrap()), ["c"]);
        let page = UserFilter { limit: Some(2), offset: 1, ..Default::default() };
        assert_eq!(names(list(&store, &page).await.unwrap()), ["b", "c"]);

        assert_eq!(count(&store, &UserFilter::default()).await.unwrap(), 4);
        assert_eq!(count(&store, &normal).await.unwrap(), 2);
        assert_eq!(count(&store, &page).await.unwrap(), 4);
    }

    #[tokio::test]
    async fn updates_report_missing_users() {
        let store = Store::open_memory().await.unwrap();
        let id = create(&store, &mq("u", UserType::MqNormal)).await.unwrap().new_row().unwrap().id;

        assert!(set_user_type(&store, id, UserType::MqSuper).await.unwrap());
        assert_eq!(get(&store, id).await.unwrap().unwrap().user_type, "mq_super");
        assert!(set_active(&store, id, false).await.unwrap());
        assert!(!get(&store, id).await.unwrap().unwrap().is_active);

        let h = hash_token("new");
        assert!(set_token_hash(&store, id, Some(&h)).await.unwrap());
        assert_eq!(credentials_by_id(&store, id).await.unwrap().unwrap().token_hash, Some(hex::encode(h)));
        assert!(set_token_hash(&store, id, None).await.unwrap());
        assert!(!get(&store, id).await.unwrap().unwrap().has_token);

        // A password change and a logout each move the login generation on.
        assert_eq!(credentials_by_id(&store, id).await.unwrap().unwrap().admin_token_gen, 0);
        assert_eq!(set_password_hash(&store, id, Some("$2b$04$p")).await.unwrap(), Some(1));
        assert!(get(&store, id).await.unwrap().unwrap().has_password);
        assert!(end_admin_logins(&store, id).await.unwrap());
        assert_eq!(set_password_hash(&store, id, None).await.unwrap(), Some(3));
        assert!(!get(&store, id).await.unwrap().unwrap().has_password);

        let missing = 999;
        assert!(!set_user_type(&store, missing, UserType::MqSuper).await.unwrap());
        assert!(!set_active(&store, missing, true).await.unwrap());
        assert!(!set_token_hash(&store, missing, None).await.unwrap());
        assert_eq!(set_password_hash(&store, missing, None).await.unwrap(), None);
        assert!(!end_admin_logins(&store, missing).await.unwrap());
    }

    #[tokio::test]
    async fn delete_returns_the_row_and_never_reuses_ids() {
        let store = Store::open_memory().await.unwrap();
        let row = create(&store, &mq("gone", UserType::MqNormal)).await.unwrap().new_row().unwrap();
        assert_eq!(delete(&store, row.id).await.unwrap(), Some(row.clone()));
        assert_eq!(delete(&store, row.id).await.unwrap(), None);
        assert_eq!(get(&store, row.id).await.unwrap(), None);
        let next = create(&store, &mq("gone", UserType::MqNormal)).await.unwrap().new_row().unwrap();
        assert!(next.id > row.id);
    }

    #[tokio::test]
    async fn counts_only_active_super_admins() {
        let store = Store::open_memory().await.unwrap();
        assert_eq!(count_super_admins(&store).await.unwrap(), 0);
        let a = create(&store, &mq("a", UserType::SuperAdmin)).await.unwrap().new_row().unwrap();
        create(&store, &mq("b", UserType::SuperAdmin)).await.unwrap();
        create(&store, &mq("c", UserType::MqSuper)).await.unwrap();
        assert_eq!(count_super_admins(&store).await.unwrap(), 2);
        set_active(&store, a.id, false).await.unwrap();
        assert_eq!(count_super_admins(&store).await.unwrap(), 1);
    }

    #[tokio::test]
    async fn create_first_only_on_an_empty_table_and_rolls_back_on_failure() {
        let store = Store::open_memory().await.unwrap();
        let new = mq("admin", UserType::SuperAdmin);

        let failed = create_first(&store, &new, |_| Err(crate::Error::Other("disk full".into()))).await;
        assert!(failed.is_err());
        assert_eq!(count(&store, &UserFilter::default()).await.unwrap(), 0);

        let mut seen = None;
        let row = create_first(&store, &new, |r| {
            seen = Some(r.id);
            Ok(())
        })
        .await
        .unwrap()
        .unwrap();
        assert_eq!(seen, Some(row.id));
        assert_eq!(get(&store, row.id).await.unwrap(), Some(row));

        let other = mq("second", UserType::SuperAdmin);
        assert_eq!(create_first(&store, &other, |_| panic!("must not run")).await.unwrap(), None);
    }
}
