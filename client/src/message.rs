//! Messages delivered to subscriptions.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use pulsemq_shared::header::flags;
use pulsemq_shared::{Compression, Format};
use serde::de::DeserializeOwned;

use crate::compression;
use crate::error::Result;
use crate::payload::{self, Data};

/// One message delivered by the broker: the fields of the seed's
/// `PulseMessage` (namespace, topic, data, format, timestamp, compression)
/// plus the publisher, the topic's sequence number and the broker's receive
/// time.
///
/// `payload` is already decompressed when a [`Subscription`](crate::Subscription)
/// yields the message; [`Message::data`] and friends decode it by format.
/// It is a cheaply clonable [`Bytes`], so a message dispatched to several
/// local subscriptions is not copied.
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
    /// Compression the publisher applied on the wire (already undone in `payload`).
    pub compression: Option<Compression>,
    /// Raw header flags (compression bits, snapshot bit, …).
    pub flags: u8,
    /// Publisher's clock when it sent the message, ms since the Unix epoch.
    pub timestamp_ms: i64,
    /// Per (namespace, topic) sequence number assigned by the broker; a gap
    /// means messages of this topic were missed (also reported as an
    /// [`Event::SequenceGap`](crate::Event::SequenceGap)).
    pub seq: u64,
    /// When the broker received the message, µs since the Unix epoch.
    pub broker_time_us: u64,
    /// True when replayed from the broker's last-value cache on subscribe.
    pub snapshot: bool,
    /// The payload, decompressed.
    pub payload: Bytes,
}

impl Message {
    /// The payload as UTF-8 text, when it is valid UTF-8.
    pub fn as_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.payload).ok()
    }

    /// The payload decoded by its format (the seed's `msg.data`).
    pub fn data(&self) -> Result<Data> {
        payload::decode(self.format, &self.payload)
    }

    /// DF_MSGPACK rows as serde structs or maps. Fails on other encodings.
    pub fn records<T: DeserializeOwned>(&self) -> Result<Vec<T>> {
        payload::decode_records(&self.payload)
    }

    /// DF_ARROW batches.
    #[cfg(feature = "arrow")]
    pub fn record_batches(&self) -> Result<Vec<payload::RecordBatch>> {
        payload::decode_arrow(&self.payload)
    }

    /// The publisher's timestamp as a [`SystemTime`].
    pub fn timestamp(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(self.timestamp_ms.max(0) as u64)
    }

    /// The broker's receive time as a [`SystemTime`].
    pub fn broker_time(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_micros(self.broker_time_us)
    }

    /// Undoes the wire compression (capped at the format's limit). Run by
    /// the subscription on the consumer's task, not on the I/O thread, so a
    /// large payload never delays heartbeats.
    pub(crate) fn inflate(mut self) -> Result<Message> {
        if self.flags & flags::COMPRESSED != 0 {
            let plain = compression::decompress(self.flags, self.format, &self.payload)?;
            self.payload = Bytes::from(plain);
        }
        Ok(self)
    }
}
