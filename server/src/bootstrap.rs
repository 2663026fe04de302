//! First start: create the `admin` account and hand its credentials over.
//!
//! A broker must start with zero configuration and still have no default
//! password: on an empty users table we generate one, plus an MQ token, and
//! write both to `.pulsemq_admin` next to the database, readable by its owner
//! only (mode 0600, set when the file is created, so it is never readable by
//! others even for an instant). The file holds plain `key: value` lines and
//! nothing else, so any script can read it without evaluating it.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::perms::UserType;
use crate::store::{users, Store};
use crate::tokens;

/// Name of the credentials file written on first start.
pub const CREDENTIALS_FILE: &str = ".pulsemq_admin";

/// Username of the account created on first start.
pub const ADMIN_USERNAME: &str = "admin";

/// What the first start created; shown once (the banner points at the file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminCredentials {
    pub user_id: i64,
    pub username: String,
    /// Console password (stored as bcrypt).
    pub password: String,
    /// MQ token (stored as SHA-256).
    pub token: String,
    pub user_type: UserType,
    /// Where the credentials file was written.
    pub path: PathBuf,
}

/// Where the credentials file goes: the database's directory, or the current
/// directory for a bare file name or an in-memory database.
pub fn credentials_path(db_path: &Path) -> PathBuf {
    let dir = db_path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or_else(|| Path::new("."));
    dir.join(CREDENTIALS_FILE)
}

/// Creates the `admin` super user when there is no user at all, writes the
/// credentials file and returns what it created; `None` when users exist
/// (every later start). If the file cannot be written, the account is not
/// created either, so the next start tries again.
pub async fn ensure_admin(store: &Store, db_path: &Path) -> crate::Result<Option<AdminCredentials>> {
    ensure_admin_with_cost(store, db_path, bcrypt::DEFAULT_COST).await
}

/// [`ensure_admin`] with an explicit bcrypt cost (tests use the minimum to stay fast).
pub async fn ensure_admin_with_cost(
    store: &Store,
    db_path: &Path,
    bcrypt_cost: u32,
) -> crate::Result<Option<AdminCredentials>> {
    // Cheap check first so later starts never pay for a bcrypt hash.
    if users::count(store, &users::UserFilter::default()).await? > 0 {
        return Ok(None);
    }
    let password = tokens::new_password();
    let token = tokens::new_token();
    let to_hash = password.clone();
    // bcrypt is deliberately slow: keep it off the async workers.
    let password_hash = tokio::task::spawn_blocking(move || bcrypt::hash(to_hash, bcrypt_cost))
        .await
        .map_err(|e| crate::Error::Other(format!("password hashing task failed: {e}")))?
        .map_err(|e| crate::Error::Other(format!("cannot hash the admin password: {e}")))?;
    let token_hash = tokens::hash_token(&token);
    let path = credentials_path(db_path);
    let user_type = UserType::SuperAdmin;

    let new = users::NewUser {
        username: ADMIN_USERNAME,
        user_type,
        password_hash: Some(&password_hash),
        token_hash: Some(&token_hash),
    };
    let created = users::create_first(store, &new, |_| write_credentials(&path, &password, &token, user_type)).await?;
    Ok(created.map(|row| AdminCredentials {
        user_id: row.id,
        username: row.username,
        password,
        token,
        user_type,
        path,
    }))
}

/// Writes the credentials file with mode 0600. An existing file (from an
/// earlier installation) is truncated and its mode tightened before the
/// secrets go in.
fn write_credentials(path: &Path, password: &str, token: &str, user_type: UserType) -> crate::Result<()> {
    let context = || format!("cannot write the admin credentials file {}", path.display());
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| crate::Error::io(context(), e))?;
    file.set_permissions(std::fs::Permissions::from_mode(0o600)).map_err(|e| crate::Error::io(context(), e))?;
    let content = format!(
        "username: {ADMIN_USERNAME}\npassword: {password}\ntoken: {token}\nuser_type: {}\n",
        user_type.as_str()
    );
    file.write_all(content.as_bytes()).and_then(|()| file.sync_all()).map_err(|e| crate::Error::io(context(), e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn parse(content: &str) -> HashMap<String, String> {
        content
            .lines()
            .map(|l| {
                let (k, v) = l.split_once(": ").unwrap_or_else(|| panic!("not a key: value line: {l:?}"));
                (k.to_string(), v.to_string())
            })
            .collect()
    }

    #[tokio::test]
    async fn first_start_creates_admin_and_a_private_credentials_file() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("data/pulsemq.db");
        let store = Store::open(&db).await.unwrap();
        let creds = ensure_admin_with_cost(&store, &db, 4).await.unwrap().unwrap();

        assert_eq!(creds.path, dir.path().join("data").join(CREDENTIALS_FILE));
        let mode = std::fs::metadata(&creds.path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);

        let content = std::fs::read_to_string(&creds.path).unwrap();
        let kv = parse(&content);
        assert_eq!(kv.len(), 4, "{content}");
        assert_eq!(kv["username"], "admin");
        assert_eq!(kv["password"], creds.password);
        assert_eq!(kv["token"], creds.token);
        assert_eq!(kv["user_type"], "super_admin");
        assert!(creds.password.len() >= 20);

        let stored = users::credentials_by_name(&store, "admin").await.unwrap().unwrap();
        assert_eq!((stored.id, stored.user_type.as_str(), stored.is_active), (creds.user_id, "super_admin", true));
        let mut hash = [0u8; 32];
        hex::decode_to_slice(stored.token_hash.unwrap(), &mut hash).unwrap();
        assert!(tokens::token_matches(&hash, &kv["token"]));
        assert!(bcrypt::verify(&kv["password"], &stored.password_hash.unwrap()).unwrap());

        // Every later start creates nothing and leaves the file alone.
        assert_eq!(ensure_admin_with_cost(&store, &db, 4).await.unwrap(), None);
        assert_eq!(std::fs::read_to_string(&creds.path).unwrap(), content);
        assert_eq!(users::count(&store, &users::UserFilter::default()).await.unwrap(), 1);
    }

    #[tokio::test]
    async fn an_existing_file_is_overwritten_and_made_private() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("pulsemq.db");
        let path = credentials_path(&db);
        std::fs::write(&path, "stale content that is longer than the new one ............................................................").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();

        let store = Store::open(&db).await.unwrap();
        let creds = ensure_admin_with_cost(&store, &db, 4).await.unwrap().unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(parse(&std::fs::read_to_string(&path).unwrap())["token"], creds.token);
    }

    #[tokio::test]
    async fn unwritable_file_creates_no_user() {
        let dir = tempfile::tempdir().unwrap();
        // The credentials path is a directory: opening it for writing fails.
        std::fs::create_dir(dir.path().join(CREDENTIALS_FILE)).unwrap();
        let db = dir.path().join("pulsemq.db");
        let store = Store::open(&db).await.unwrap();
        let err = ensure_admin_with_cost(&store, &db, 4).await.unwrap_err();
        assert!(matches!(err, crate::Error::Io { .. }), "{err}");
        assert_eq!(users::count(&store, &users::UserFilter::default()).await.unwrap(), 0);
    }

    #[test]
    fn credentials_go_next_to_the_database() {
        assert_eq!(credentials_path(Path::new("/var/lib/pulsemq/p.db")), Path::new("/var/lib/pulsemq/.pulsemq_admin"));
        assert_eq!(credentials_path(Path::new("p.db")), Path::new("./.pulsemq_admin"));
        assert_eq!(credentials_path(Path::new(":memory:")), Path::new("./.pulsemq_admin"));
    }
}
