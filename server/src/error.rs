//! The broker crate's one error type. Wire errors (ERROR replies) are built
//! from `pulsemq_shared::ErrorCode` inside the engine; this type covers
//! everything that ends start-up or a background task.

/// Everything that can go wrong outside the per-message path.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("config: {0}")]
    Config(String),
    #[error("cannot bind {what} on {endpoint}: {source} (is another broker running? pick another port with {flag})")]
    Bind { what: &'static str, endpoint: String, flag: &'static str, source: zmq::Error },
    #[error("cannot bind the admin API on {endpoint}: {source} (is another broker running? pick another port with --admin-port)")]
    AdminBind { endpoint: String, source: std::io::Error },
    #[error("zeromq: {0}")]
    Zmq(#[from] zmq::Error),
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("database migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("{context}: {source}")]
    Io { context: String, source: std::io::Error },
    #[error("{0}")]
    Other(String),
}

impl Error {
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io { context: context.into(), source }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
