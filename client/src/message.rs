//! Messages delivered to subscriptions.

use bytes::Bytes;
use pulsemq_shared::header::flags;
use pulsemq_shared::{Compression, Format};

/// One message delivered by the broker (a MSG on the delivery port).
///
/// `payload` holds the bytes exactly as published (still compressed if
/// `compression` is `Some`); it is a cheaply clonable [`Bytes`], so a
/// message dispatched to several local subscriptions is not copied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Namespace the message was published in.
    pub namespace: String,
    /// Concrete topic (never a pattern).
    pub topic: String,
    /// Authenticated username of the publisher, stamped by the broker.
    pub publisher: String,
    /// Payload format chosen by the publisher.
    pub format: Format,
    /// Raw header flags (compression bits, [`flags::SNAPSHOT`], …).
    pub flags: u8,
    /// Publisher's clock when it sent the message, ms since the Unix epoch.
    pub timestamp_ms: i64,
    /// Per (namespace, topic) sequence number assigned by the broker; a gap
    /// means messages of this topic were missed.
    pub seq: u64,
    /// When the broker received the message, µs since the Unix epoch.
    pub broker_time_us: u64,
    /// True when replayed from the broker's last-value cache on subscribe.
    pub snapshot: bool,
    /// The payload as it travelled on the wire.
    pub payload: Bytes,
}

impl Message {
    /// Compression algorithm of `payload`, if the publisher compressed it.
    /// Unknown algorithm bits read as `None` here; the flags are kept raw.
    pub fn compression(&self) -> Option<Compression> {
        Compression::from_flags(self.flags).ok().flatten()
    }

    /// The payload as UTF-8 text, when it is valid UTF-8 and not compressed.
    pub fn as_str(&self) -> Option<&str> {
        if self.flags & flags::COMPRESSED != 0 {
            return None;
        }
        std::str::from_utf8(&self.payload).ok()
    }
}
