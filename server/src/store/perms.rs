//! Builds the engine's [`PermSnapshot`] from the database.
//!
//! Every user is loaded, inactive ones included: the engine must know that a
//! user exists but is deactivated (to end their sessions and refuse AUTH),
//! which an absent user cannot tell it. All three reads happen in one
//! transaction so the snapshot is consistent (no role of a user deleted
//! between two queries).

use std::collections::HashMap;

use crate::perms::{NamespaceEntry, PermSnapshot, Role, UserEntry, UserType};

use super::Store;

#[derive(sqlx::FromRow)]
struct UserAuthRow {
    id: i64,
    username: String,
    user_type: String,
    token_hash: Option<String>,
    is_active: bool,
}

#[derive(sqlx::FromRow)]
struct RoleRow {
    user_id: i64,
    namespace: String,
    role: String,
}

#[derive(sqlx::FromRow)]
struct NamespaceAuthRow {
    id: i64,
    name: String,
    is_active: bool,
    max_topics: Option<i64>,
}

/// Decodes a stored hex token hash; a malformed value means the user cannot
/// AUTH (rather than the whole snapshot failing), and is reported.
fn decode_token_hash(username: &str, hex_hash: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    match hex::decode_to_slice(hex_hash, &mut out) {
        Ok(()) => Some(out),
        Err(e) => {
            tracing::warn!(user = username, error = %e, "stored token hash is not 64 hex characters; the user cannot authenticate until the token is reset");
            None
        }
    }
}

/// Reads users, roles and namespaces and builds the snapshot. Rows the
/// engine could not interpret (unknown user type or role, which the schema's
/// CHECK constraints should make impossible) are skipped with a warning:
/// one bad row must not lock every user out.
pub async fn load_snapshot(store: &Store) -> crate::Result<PermSnapshot> {
    let mut tx = store.pool().begin().await?;
    let users: Vec<UserAuthRow> =
        sqlx::query_as("SELECT id, username, user_type, token_hash, is_active FROM users ORDER BY id")
            .fetch_all(&mut *tx)
            .await?;
    let roles: Vec<RoleRow> = sqlx::query_as(
        "SELECT p.user_id, n.name AS namespace, p.role FROM namespace_permissions p \
         JOIN namespaces n ON n.id = p.namespace_id JOIN users u ON u.id = p.user_id \
         WHERE u.user_type = $1",
    )
    .bind(UserType::MqNormal.as_str())
    .fetch_all(&mut *tx)
    .await?;
    let namespaces: Vec<NamespaceAuthRow> =
        sqlx::query_as("SELECT id, name, is_active, max_topics FROM namespaces ORDER BY id")
            .fetch_all(&mut *tx)
            .await?;
    tx.commit().await?;

    let mut roles_by_user: HashMap<i64, HashMap<String, Role>> = HashMap::new();
    for r in roles {
        match Role::parse(&r.role) {
            Some(role) => {
                roles_by_user.entry(r.user_id).or_default().insert(r.namespace, role);
            }
            None => {
                tracing::warn!(user_id = r.user_id, namespace = %r.namespace, role = %r.role, "unknown role in namespace_permissions; grant ignored")
            }
        }
    }

    let mut entries = Vec::with_capacity(users.len());
    for u in users {
        let Some(user_type) = UserType::parse(&u.user_type) else {
            tracing::warn!(user = %u.username, user_type = %u.user_type, "unknown user type; user ignored (no MQ access)");
            continue;
        };
        let token_hash = u.token_hash.as_deref().and_then(|h| decode_token_hash(&u.username, h));
        let roles = roles_by_user.remove(&u.id).unwrap_or_default();
        entries.push(UserEntry {
            id: u.id,
            username: u.username,
            user_type,
            token_hash,
            is_active: u.is_active,
            roles,
        });
    }
    let namespaces = namespaces
        .into_iter()
        .map(|n| NamespaceEntry {
            id: n.id,
            name: n.name,
            is_active: n.is_active,
            max_topics: n.max_topics.and_then(|m| usize::try_from(m).ok()),
        })
        .collect();
    Ok(PermSnapshot::new(entries, namespaces))
}

#[cfg(test)]
mod tests {
    use super::super::{namespaces, permissions, users};
    use super::*;
    use crate::tokens::hash_token;

    async fn add_user(store: &Store, name: &str, t: UserType, token: Option<&str>) -> i64 {
        let hash = token.map(hash_token);
        let new = users::NewUser { username: name, user_type: t, password_hash: None, token_hash: hash.as_ref() };
        users::create(store, &new).await.unwrap().new_row().unwrap().id
    }

    #[tokio::test]
    async fn snapshot_has_users_roles_and_namespaces() {
        let store = Store::open_memory().await.unwrap();
        let root = add_user(&store, "root", UserType::SuperAdmin, Some("t-root")).await;
        let feed = add_user(&store, "feed", UserType::MqSuper, Some("t-feed")).await;
        let alice = add_user(&store, "alice", UserType::MqNormal, Some("t-alice")).await;
        let gone = add_user(&store, "gone", UserType::MqNormal, Some("t-gone")).await;
        let ops = add_user(&store, "ops", UserType::AdminOnly, None).await;
        let market = namespaces::ensure_exists(&store, "market", "root").await.unwrap();
        let risk = namespaces::ensure_exists(&store, "risk", "root").await.unwrap();
        permissions::grant(&store, alice, market, Role::Pub, "root").await.unwrap();
        permissions::grant(&store, alice, risk, Role::Sub, "root").await.unwrap();
        permissions::grant(&store, gone, market, Role::Admin, "root").await.unwrap();
        // A grant left over from before a promotion to mq_super means nothing.
        permissions::grant(&store, feed, risk, Role::Sub, "root").await.unwrap();
        users::set_active(&store, gone, false).await.unwrap();

        let snap = load_snapshot(&store).await.unwrap();
        assert_eq!(snap.users_by_id.len(), 5);
        assert_eq!(snap.users_by_name.len(), 5);

        let a = snap.user(alice).unwrap();
        assert_eq!(a.user_type, UserType::MqNormal);
        assert_eq!(a.token_hash, Some(hash_token("t-alice")));
        assert_eq!(a.roles, HashMap::from([("market".to_string(), Role::Pub), ("risk".to_string(), Role::Sub)]));
        assert!(a.may("market", Role::Pub) && a.may("risk", Role::Sub) && !a.may("risk", Role::Pub));

        let g = &snap.users_by_name["gone"];
        assert!(!g.is_active);
        assert_eq!(g.roles.get("market"), Some(&Role::Admin));
        assert!(!g.may("market", Role::Sub));

        let r = snap.user(root).unwrap();
        assert!(r.user_type.is_mq_super() && r.may("anything", Role::Admin));
        let f = snap.user(feed).unwrap();
        assert!(f.roles.is_empty() && f.may("market", Role::Pub));
        let o = snap.user(ops).unwrap();
        assert_eq!((o.user_type, o.token_hash), (UserType::AdminOnly, None));
        assert!(!o.may("market", Role::Sub));

        assert_eq!(snap.namespaces.keys().collect::<Vec<_>>(), ["market", "risk"]);
        assert_eq!(
            snap.namespaces["risk"],
            NamespaceEntry { id: risk, name: "risk".into(), is_active: true, max_topics: None }
        );
    }

    #[tokio::test]
    async fn bad_token_hash_disables_only_that_user() {
        let store = Store::open_memory().await.unwrap();
        let bad = add_user(&store, "bad", UserType::MqSuper, None).await;
        add_user(&store, "good", UserType::MqSuper, Some("tok")).await;
        sqlx::query("UPDATE users SET token_hash = 'zz' WHERE id = $1").bind(bad).execute(store.pool()).await.unwrap();
        let snap = load_snapshot(&store).await.unwrap();
        assert_eq!(snap.user(bad).unwrap().token_hash, None);
        assert_eq!(snap.users_by_name["good"].token_hash, Some(hash_token("tok")));
    }

    #[tokio::test]
    async fn rows_with_unknown_types_or_roles_are_skipped() {
        let store = Store::open_memory().await.unwrap();
        let alice = add_user(&store, "alice", UserType::MqNormal, Some("a")).await;
        let odd = add_user(&store, "odd", UserType::MqNormal, Some("o")).await;
        let ns = namespaces::ensure_exists(&store, "market", "root").await.unwrap();
        permissions::grant(&store, alice, ns, Role::Sub, "root").await.unwrap();
        // Only a database edited by hand (or by a future version) can hold
        // these; the CHECK constraints must be switched off to forge them.
        sqlx::query("PRAGMA ignore_check_constraints = ON").execute(store.pool()).await.unwrap();
        sqlx::query("UPDATE users SET user_type = 'godmode' WHERE id = $1")
            .bind(odd)
            .execute(store.pool())
            .await
            .unwrap();
        sqlx::query("UPDATE namespace_permissions SET role = 'owner' WHERE user_id = $1")
            .bind(alice)
            .execute(store.pool())
            .await
            .unwrap();

        let snap = load_snapshot(&store).await.unwrap();
        assert!(snap.user(odd).is_none() && !snap.users_by_name.contains_key("odd"));
        let a = snap.user(alice).unwrap();
        assert!(a.roles.is_empty() && !a.may("market", Role::Sub));
    }

    #[tokio::test]
    async fn empty_database_gives_an_empty_snapshot() {
        let store = Store::open_memory().await.unwrap();
        let snap = load_snapshot(&store).await.unwrap();
        assert!(snap.users_by_id.is_empty() && snap.namespaces.is_empty());
    }
}
