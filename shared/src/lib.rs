//! PulseMQ shared protocol code.
//!
//! Everything here is pure: no sockets, no threads, no clock reads except in
//! [`header::now_ms`] — but for `zmq_send` (feature `zmq`), the one
//! libzmq call the broker and the SDK both need. The broker, the Rust SDK and the console (compiled to
//! wasm32) all use the same codec, so a frame that one side writes is by
//! construction a frame the other side reads.
//!
//! The wire protocol is described in `shared/docs/design.md` §3 and
//! summarised in the README. Protocol 4 (the original Python client) is
//! decoded by the same code; only the reply shapes differ, and that is the
//! broker's business.

pub mod dto;
pub mod error;
pub mod frames;
pub mod header;
pub mod names;
pub mod payloads;
pub mod v6;
#[cfg(feature = "zmq")]
pub mod zmq_send;

pub use error::{ErrorCode, ProtocolError};
pub use frames::{decode, Ext, FrameRefs, Frames, EXT_LEN, FRAME_COUNT};
pub use header::{Compression, Format, Header, MsgType, HEADER_LEN};
pub use names::{validate_namespace, validate_pattern, validate_topic, Pattern, PatternLevel};
