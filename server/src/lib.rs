//! The PulseMQ broker as a library: `main.rs` only parses the command line
//! and calls [`run::run`]. Keeping everything here lets the end-to-end tests
//! compile the very same `main.rs` and lets future embedders start a broker
//! in-process.
//!
//! Rooms (only the named module touches its resource):
//! - [`engine`]: the one thread that owns every ZeroMQ socket and all broker state;
//! - [`store`]: every SQL statement (sqlx + SQLite) and the batching writer task;
//! - [`control`]: the messages between the async side and the engine;
//! - [`perms`]: the immutable permission snapshot the engine checks against;
//! - [`config`], [`logging`], [`run`]: start-up and shutdown.

pub mod admin;
pub mod bootstrap;
pub mod config;
pub mod control;
pub mod engine;
pub mod error;
pub mod logging;
pub mod monitor;
pub mod perms;
pub mod rollup;
pub mod run;
pub mod store;
pub mod tokens;

pub use error::{Error, Result};

/// Version shown in the banner and `/health`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
