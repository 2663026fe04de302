//! Async Rust client for PulseMQ (wire protocol v5).
//!
//! ```no_run
//! use pulsemq_client::{Client, ClientOptions, Format};
//!
//! # async fn demo() -> pulsemq_client::Result<()> {
//! let client = Client::connect(ClientOptions::new("127.0.0.1", 5555, 5556, "alice", "token")).await?;
//! let mut klines = client.subscribe("market_data", "*.kline.1m").await?;
//! client.publish("market_data", "sz000651.kline.1m", Format::String, "{\"close\":10.55}").await?;
//! while let Some(msg) = klines.next().await {
//!     println!("{} {} seq={} {:?}", msg.namespace, msg.topic, msg.seq, msg.as_str());
//! }
//! # Ok(())
//! # }
//! ```
//!
//! Layout: `wire` builds and parses frames with `pulsemq_shared` (no I/O);
//! `io_thread` owns the ZeroMQ sockets on one OS thread per client;
//! `client` is the async API; `subscription` the message streams;
//! `dispatch` the local pattern fan-out; `pending` request-id pairing.

#![warn(missing_docs)]

mod client;
mod dispatch;
mod error;
mod io_thread;
mod message;
mod options;
mod pending;
mod stats;
mod subscription;
mod wire;

pub use client::{Client, PublishAck};
pub use error::{ClientError, Result};
pub use message::Message;
pub use options::ClientOptions;
pub use stats::{AsyncError, ClientStats, SessionInfo, ASYNC_ERROR_CAPACITY};
pub use subscription::Subscription;

pub use pulsemq_shared::payloads::{NamespaceInfo, PermissionInfo};
pub use pulsemq_shared::{Compression, ErrorCode, Format};
