//! Async Rust client for PulseMQ (wire protocol v6; the broker still serves v5 and v4).
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
//! Layout (no module depends back on one that depends on it): `wire`
//! builds and parses frames with `pulsemq_shared` (no I/O); `sockets`
//! creates the ZeroMQ sockets and moves single frames; `io_thread` owns
//! them on one OS thread per client (its submodules: `commands`, `outbox`,
//! `inbox`, `replies`, `session`, `timers`), with `monitor` (connection
//! events) and `backoff` (reconnect schedule), and lends the command socket
//! through `cmd_slot` while it sleeps (NO_ACK publishes then leave from the
//! caller's thread); `command` is what the API asks of the thread and
//! `handle` the API's end of those channels; `client` is the async API and
//! `blocking` the callback-style one on top of it; `subscription` the
//! message streams; `dispatch` the local pattern fan-out; `gaps` per-topic
//! sequence tracking; `events` what is reported about both; `pending`
//! request-id pairing; `payload` and `compression` the codecs.

#![warn(missing_docs)]

mod backoff;
mod blocking;
mod client;
mod cmd_slot;
mod command;
mod compression;
mod dispatch;
mod error;
mod events;
mod fasthash;
mod gaps;
mod handle;
mod io_thread;
mod message;
mod monitor;
mod options;
mod payload;
mod pending;
mod queue;
mod sockets;
mod stats;
mod subscription;
mod wire;

pub use blocking::BlockingClient;
pub use client::{Client, PublishAck, PublishOptions};
pub use error::{ClientError, Result};
pub use events::{Event, Events};
pub use message::Message;
pub use options::ClientOptions;
#[cfg(feature = "arrow")]
pub use payload::RecordBatch;
pub use payload::{decode_wire, Data, Payload};
/// Re-exported: the generic MessagePack value of [`Data::Records`] rows.
pub use rmpv;
pub use stats::{AsyncError, ClientStats, SessionInfo, ASYNC_ERROR_CAPACITY};
pub use subscription::Subscription;
/// Re-exported so applications build batches with the exact Arrow version the client speaks.
#[cfg(feature = "arrow")]
pub use {arrow_array, arrow_schema};

pub use pulsemq_shared::payloads::{NamespaceInfo, PermissionInfo};
pub use pulsemq_shared::{Compression, ErrorCode, Format};
