//! The `settings` table: per-installation key/value pairs.

use rand::RngCore;

use super::Store;

/// Key of the admin API's JWT signing secret.
pub const JWT_SECRET_KEY: &str = "jwt_secret";

pub async fn get(store: &Store, key: &str) -> crate::Result<Option<String>> {
    let row: Option<(String,)> =
        sqlx::query_as("SELECT value FROM settings WHERE key = $1").bind(key).fetch_optional(store.pool()).await?;
    Ok(row.map(|(v,)| v))
}

/// Inserts or replaces a setting.
pub async fn set(store: &Store, key: &str, value: &str) -> crate::Result<()> {
    sqlx::query(
        "INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    )
    .bind(key)
    .bind(value)
    .execute(store.pool())
    .await?;
    Ok(())
}

/// The installation's JWT secret, created on first use: 32 random bytes as
/// hex. Random per installation so that no default secret exists to forge
/// tokens with (the original shipped one); kept in the database so sessions
/// survive a restart. Insert-if-absent then read, so concurrent first calls
/// agree on one secret.
pub async fn get_or_create_jwt_secret(store: &Store) -> crate::Result<String> {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    sqlx::query("INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING")
        .bind(JWT_SECRET_KEY)
        .bind(hex::encode(bytes))
        .execute(store.pool())
        .await?;
    get(store, JWT_SECRET_KEY).await?.ok_or_else(|| sqlx::Error::RowNotFound.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn get_and_set_overwrite() {
        let store = Store::open_memory().await.unwrap();
        assert_eq!(get(&store, "k").await.unwrap(), None);
        set(&store, "k", "v1").await.unwrap();
        assert_eq!(get(&store, "k").await.unwrap().as_deref(), Some("v1"));
        set(&store, "k", "v2").await.unwrap();
        assert_eq!(get(&store, "k").await.unwrap().as_deref(), Some("v2"));
    }

    #[tokio::test]
    async fn jwt_secret_is_random_hex_and_stable() {
        let store = Store::open_memory().await.unwrap();
        let s = get_or_create_jwt_secret(&store).await.unwrap();
        assert_eq!(s.len(), 64);
        assert!(hex::decode(&s).is_ok());
        assert_eq!(get_or_create_jwt_secret(&store).await.unwrap(), s);
        assert_eq!(get(&store, JWT_SECRET_KEY).await.unwrap(), Some(s.clone()));

        let other = Store::open_memory().await.unwrap();
        assert_ne!(get_or_create_jwt_secret(&other).await.unwrap(), s);
    }
}
