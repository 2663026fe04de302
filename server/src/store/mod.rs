//! Storage: every SQL statement of the broker lives under this module.
//!
//! [`Store`] wraps a sqlx SQLite pool opened with WAL, foreign keys and a busy
//! timeout, and runs the embedded migrations (`migrations/` at the workspace
//! root). One file per table family holds its queries and row types; the row
//! types double as the admin API's DTOs, which is why the public user row has
//! no hash fields at all.
//!
//! Queries are runtime-checked (`query_as` + `FromRow`) so the crate builds
//! without a `DATABASE_URL`; each one is exercised by a test on an in-memory
//! database. Parameters use the `$N` form, which SQLite and PostgreSQL both
//! accept, to keep a PostgreSQL backend within reach.
//!
//! Domain outcomes (already exists, not found, still in use) are return
//! values, not errors: the caller decides what they mean (an HTTP status, a
//! log line), and [`crate::Error::Db`] stays reserved for real database
//! failures.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};

pub mod alarms;
pub mod audit;
pub mod failure_audit;
pub mod namespaces;
pub mod permissions;
pub mod perms;
pub mod settings;
pub mod stats;
pub mod timestamp;
pub mod topics;
pub mod users;
pub mod writer;

/// How long a connection waits for SQLite's write lock before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// SQLite allows one writer at a time; a handful of connections is enough for
/// concurrent readers (admin API) next to the batching writer.
const MAX_CONNECTIONS: u32 = 4;

/// The broker's database: a cheap-to-clone handle on the connection pool.
#[derive(Debug, Clone)]
pub struct Store {
    pool: SqlitePool,
    /// Shared by every clone, so that the admin API and the store writer
    /// draw on one allowance of failure rows.
    failures: std::sync::Arc<failure_audit::FailureLimiter>,
}

/// Outcome of an insert that may hit a uniqueness constraint.
#[derive(Debug, Clone, PartialEq)]
pub enum Created<T> {
    /// The row was inserted; here it is as read back.
    New(T),
    /// A row with the same unique key exists already (e.g. a duplicate
    /// username): a client error, not a database failure.
    AlreadyExists,
}

impl<T> Created<T> {
    /// The new row, if one was inserted.
    pub fn new_row(self) -> Option<T> {
        match self {
            Created::New(t) => Some(t),
            Created::AlreadyExists => None,
        }
    }
}

impl Store {
    /// Opens (creating if missing, parent directory included) the database
    /// file and brings its schema up to date.
    pub async fn open(db_path: &Path) -> crate::Result<Store> {
        if let Some(dir) = db_path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| crate::Error::io(format!("cannot create database directory {}", dir.display()), e))?;
        }
        owner_only(db_path)?;
        let options = SqliteConnectOptions::new()
            .filename(db_path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // NORMAL is durable across application crashes in WAL mode and
            // avoids an fsync per transaction.
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        let pool = SqlitePoolOptions::new().max_connections(MAX_CONNECTIONS).connect_with(options).await?;
        Self::migrated(pool).await
    }

    /// A private in-memory database for tests. The pool has exactly one
    /// connection that never expires: every SQLite `:memory:` connection is
    /// a separate database, so a second connection would see empty tables.
    pub async fn open_memory() -> crate::Result<Store> {
        let options = SqliteConnectOptions::from_str("sqlite::memory:")?.foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options)
            .await?;
        Self::migrated(pool).await
    }

    async fn migrated(pool: SqlitePool) -> crate::Result<Store> {
        sqlx::migrate!("../migrations").run(&pool).await?;
        Ok(Store { pool, failures: Default::default() })
    }

    /// The underlying pool, for callers that need a transaction across
    /// several of this module's functions.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// How many auth-failure rows the audit log still takes this minute.
    pub fn failure_limiter(&self) -> &failure_audit::FailureLimiter {
        &self.failures
    }

    /// Closes every connection; pending writes finish first.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// True when `e` is a UNIQUE (or PRIMARY KEY) constraint violation.
pub(crate) fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

/// True when `e` is a FOREIGN KEY constraint violation. SQLite reports an
/// `ON DELETE RESTRICT` refusal as `SQLITE_CONSTRAINT_TRIGGER` (1811), which
/// sqlx does not classify as a foreign-key error, hence the message check.
pub(crate) fn is_foreign_key_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d)
        if d.is_foreign_key_violation() || d.message().contains("FOREIGN KEY constraint failed"))
}

/// Makes the database and its WAL and shared-memory files readable by the
/// owner only (issue 21): they hold the JWT secret and the bcrypt hashes, so
/// with the usual umask any local user could have read them and forged a
/// super_admin token. The database is created 0600 before SQLite opens it
/// (SQLite gives `-wal` and `-shm` the database file's mode); files of an
/// older installation are tightened to 0600, with a warning.
fn owner_only(db_path: &Path) -> crate::Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let fail = |what: &str, p: &Path, e| crate::Error::io(format!("cannot {what} {}", p.display()), e);
    if !db_path.exists() {
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(db_path)
            .map_err(|e| fail("create", db_path, e))?;
    }
    let mut files = vec![db_path.to_path_buf()];
    for suffix in ["-wal", "-shm"] {
        let mut name = db_path.as_os_str().to_owned();
        name.push(suffix);
        files.push(name.into());
    }
    for f in files.iter().filter(|f| f.exists()) {
        let mode = std::fs::metadata(f).map_err(|e| fail("read", f, e))?.permissions().mode();
        if mode & 0o077 != 0 {
            std::fs::set_permissions(f, std::fs::Permissions::from_mode(0o600))
                .map_err(|e| fail("restrict the permissions of", f, e))?;
            tracing::warn!("{} was readable by others (mode {:o}): now 0600", f.display(), mode & 0o777);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn open_creates_file_and_parent_dir_with_wal_and_foreign_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/deeper/pulsemq.db");
        let store = Store::open(&path).await.unwrap();
        assert!(path.exists());

        let (mode,): (String,) = sqlx::query_as("PRAGMA journal_mode").fetch_one(store.pool()).await.unwrap();
        assert_eq!(mode.to_lowercase(), "wal");
        let (fk,): (i64,) = sqlx::query_as("PRAGMA foreign_keys").fetch_one(store.pool()).await.unwrap();
        assert_eq!(fk, 1);
        let (busy,): (i64,) = sqlx::query_as("PRAGMA busy_timeout").fetch_one(store.pool()).await.unwrap();
        assert_eq!(busy, 5000);
        store.close().await;

        // Re-opening an existing database runs no migration twice.
        let again = Store::open(&path).await.unwrap();
        let (n,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM _sqlx_migrations").fetch_one(again.pool()).await.unwrap();
        assert_eq!(n as usize, sqlx::migrate!("../migrations").migrations.len());
    }

    #[tokio::test]
    async fn open_memory_shares_one_database_and_enforces_foreign_keys() {
        let store = Store::open_memory().await.unwrap();
        let (fk,): (i64,) = sqlx::query_as("PRAGMA foreign_keys").fetch_one(store.pool()).await.unwrap();
        assert_eq!(fk, 1);
        let err = sqlx::query("INSERT INTO topics (namespace_id, name, created_by) VALUES (999, 't', 'x')")
            .execute(store.pool())
            .await
            .unwrap_err();
        assert!(is_foreign_key_violation(&err));
    }

    #[tokio::test]
    async fn schema_checks_reject_unknown_user_types_and_roles() {
        let store = Store::open_memory().await.unwrap();
        let err = sqlx::query("INSERT INTO users (username, user_type) VALUES ('x', 'godmode')")
            .execute(store.pool())
            .await
            .unwrap_err();
        assert!(matches!(&err, sqlx::Error::Database(d) if d.is_check_violation()));
    }
}
