//! Protocol v6: one ZeroMQ frame per message, batches, cumulative ACKs
//! (design.md §3.7; byte layout in the README's protocol section).
//!
//! Why: the cost of moving a message through libzmq is per frame, and v5's
//! six frames capped a plain forwarder near 0.34 M msg/s. v6 keeps every v5
//! meaning (types, formats, flags, error codes, sessions) and changes only
//! the encoding:
//!
//! ```text
//! message  = fixed(16) | u8 ns_len | namespace | u8 topic_len | topic
//!            | [MSG only: u8 publisher_len | publisher | u64 seq | u64 broker_time_us]
//!            | payload (the rest of the frame)
//! fixed    = u8 version=6 | u8 type | u8 format | u8 flags | u32 request_id | i64 timestamp_ms
//! batch    = u8 6 | u8 0x0D | u8 0 | u8 0 | u32 count | count × (u32 len | message)
//! ```
//!
//! All integers are big-endian. A batch holds only plain messages (never a
//! batch). The payload length is implicit (the frame's or the item's end).
//!
//! Pure code: the broker and the SDK decode borrowed slices in place and
//! encode into reused buffers.

use crate::error::ProtocolError;
use crate::frames::{Ext, FrameRefs};
use crate::header::{Format, Header, MsgType};

/// The version byte of protocol 6.
pub const VERSION: u8 = 6;
/// Bytes before the names: version, type, format, flags, request id, timestamp.
pub const FIXED_LEN: usize = 16;
/// Bytes of a batch frame before its first item.
pub const BATCH_HEADER_LEN: usize = 8;
/// Bytes of an item's length prefix inside a batch.
pub const ITEM_PREFIX_LEN: usize = 4;
/// Longest name a length byte can carry; every valid name is far shorter.
pub const MAX_NAME_LEN: usize = u8::MAX as usize;

/// One decoded v6 message, borrowing the received frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Message<'a> {
    /// Version 6; `payload_length` is the payload's actual length.
    pub header: Header,
    pub namespace: &'a str,
    pub topic: &'a str,
    /// The publisher's username (MSG only, else empty).
    pub publisher: &'a str,
    /// Topic sequence and broker time (MSG only, else zero).
    pub ext: Ext,
    pub payload: &'a [u8],
}

impl<'a> Message<'a> {
    /// The same message in the shape the v5 decoder gives, so the broker's
    /// command handlers serve both versions with one code path.
    pub fn as_frame_refs(&self) -> FrameRefs<'a> {
        FrameRefs {
            header: self.header,
            namespace: self.namespace,
            topic: self.topic,
            username: self.publisher,
            payload: self.payload,
            reserved: &[],
        }
    }
}

/// What to write for one message (see [`encode_into`]).
#[derive(Debug, Clone, Copy)]
pub struct Fields<'a> {
    pub msg_type: MsgType,
    pub format: Format,
    pub flags: u8,
    pub request_id: u32,
    pub timestamp_ms: i64,
    pub namespace: &'a str,
    pub topic: &'a str,
    /// Written for MSG only.
    pub publisher: &'a str,
    /// Written for MSG only.
    pub ext: Ext,
}

impl<'a> Fields<'a> {
    /// A request or reply without names (AUTH, PING, ACK, ...).
    pub fn bare(msg_type: MsgType, format: Format, request_id: u32, timestamp_ms: i64) -> Self {
        Fields {
            msg_type,
            format,
            flags: 0,
            request_id,
            timestamp_ms,
            namespace: "",
            topic: "",
            publisher: "",
            ext: Ext::default(),
        }
    }

    /// Bytes [`encode_into`] writes for this message with `payload_len` bytes of payload.
    pub fn encoded_len(&self, payload_len: usize) -> usize {
        let mut n = FIXED_LEN + 2 + self.namespace.len() + self.topic.len() + payload_len;
        if self.msg_type == MsgType::Msg {
            n += 1 + self.publisher.len() + crate::frames::EXT_LEN;
        }
        n
    }
}

fn name_len(name: &str, field: &'static str) -> Result<u8, ProtocolError> {
    u8::try_from(name.len()).map_err(|_| ProtocolError::NameTooLong { field, len: name.len() })
}

/// Appends one message to `buf`. Fails (writing nothing) only when a name
/// is longer than [`MAX_NAME_LEN`], which no valid name is.
pub fn encode_into(buf: &mut Vec<u8>, f: &Fields, payload: &[u8]) -> Result<(), ProtocolError> {
    let ns = name_len(f.namespace, "namespace")?;
    let topic = name_len(f.topic, "topic")?;
    let publisher = if f.msg_type == MsgType::Msg { Some(name_len(f.publisher, "publisher")?) } else { None };
    buf.reserve(f.encoded_len(payload.len()));
    buf.extend_from_slice(&[VERSION, f.msg_type as u8, f.format as u8, f.flags]);
    buf.extend_from_slice(&f.request_id.to_be_bytes());
    buf.extend_from_slice(&f.timestamp_ms.to_be_bytes());
    buf.push(ns);
    buf.extend_from_slice(f.namespace.as_bytes());
    buf.push(topic);
    buf.extend_from_slice(f.topic.as_bytes());
    if let Some(p) = publisher {
        buf.push(p);
        buf.extend_from_slice(f.publisher.as_bytes());
        buf.extend_from_slice(&f.ext.encode());
    }
    buf.extend_from_slice(payload);
    Ok(())
}

/// One message as a new frame.
pub fn encode(f: &Fields, payload: &[u8]) -> Result<Vec<u8>, ProtocolError> {
    let mut buf = Vec::with_capacity(f.encoded_len(payload.len()));
    encode_into(&mut buf, f, payload)?;
    Ok(buf)
}

/// A cursor over a message's bytes; every read checks the bounds.
struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], ProtocolError> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.b.len()).ok_or(ProtocolError::Truncated { field })?;
        let s = &self.b[self.at..end];
        self.at = end;
        Ok(s)
    }

    fn name(&mut self, field: &'static str) -> Result<&'a str, ProtocolError> {
        let n = self.take(1, field)?[0] as usize;
        std::str::from_utf8(self.take(n, field)?).map_err(|_| ProtocolError::NotUtf8 { field })
    }

    fn u64(&mut self, field: &'static str) -> Result<u64, ProtocolError> {
        let b = self.take(8, field)?;
        Ok(u64::from_be_bytes(b.try_into().expect("8 bytes")))
    }
}

/// Decodes one plain message (not a batch).
pub fn decode_message(b: &[u8]) -> Result<Message<'_>, ProtocolError> {
    if b.len() < FIXED_LEN + 2 {
        return Err(ProtocolError::Truncated { field: "header" });
    }
    if b[0] != VERSION {
        return Err(ProtocolError::Version(b[0]));
    }
    let msg_type = MsgType::from_u8(b[1])?;
    if msg_type == MsgType::Batch {
        return Err(ProtocolError::NestedBatch);
    }
    let format = Format::from_u8(b[2])?;
    let flags = b[3];
    let request_id = u32::from_be_bytes([b[4], b[5], b[6], b[7]]);
    let timestamp_ms = i64::from_be_bytes(b[8..16].try_into().expect("8 bytes"));
    let mut r = Reader { b, at: FIXED_LEN };
    let namespace = r.name("namespace")?;
    let topic = r.name("topic")?;
    let (publisher, ext) = if msg_type == MsgType::Msg {
        let publisher = r.name("publisher")?;
        let seq = r.u64("seq")?;
        let broker_time_us = r.u64("broker time")?;
        (publisher, Ext { seq, broker_time_us })
    } else {
        ("", Ext::default())
    };
    let payload = &b[r.at..];
    let header = Header {
        version: VERSION,
        msg_type,
        format,
        flags,
        payload_length: payload.len() as u32,
        request_id,
        timestamp_ms,
    };
    Ok(Message { header, namespace, topic, publisher, ext, payload })
}

/// Best-effort request id of a message that failed to decode, so the ERROR
/// can still be paired with its request.
pub fn peek_request_id(b: &[u8]) -> u32 {
    match b.get(4..8) {
        Some(id) => u32::from_be_bytes(id.try_into().expect("4 bytes")),
        None => 0,
    }
}

/// True when a received frame is a batch.
pub fn is_batch(frame: &[u8]) -> bool {
    frame.len() >= 2 && frame[0] == VERSION && frame[1] == MsgType::Batch as u8
}

/// The items of a batch frame, in order. Checks the frame header and the
/// declared count up front (see [`batch_items`]); each item is then
/// decoded on its own, so one bad item is answered alone while the rest
/// of the batch is still served. A length prefix that runs past the end
/// stops the iteration with one error.
#[derive(Debug, Clone)]
pub struct BatchItems<'a> {
    rest: &'a [u8],
    left: u32,
    failed: bool,
}

/// Opens a batch frame.
pub fn batch_items(frame: &[u8]) -> Result<BatchItems<'_>, ProtocolError> {
    if frame.len() < BATCH_HEADER_LEN || !is_batch(frame) {
        return Err(ProtocolError::Truncated { field: "batch header" });
    }
    let count = u32::from_be_bytes(frame[4..8].try_into().expect("4 bytes"));
    // Every item takes at least its prefix and a minimal message, so a
    // count the frame cannot hold is refused before anything is read.
    let min_item = (ITEM_PREFIX_LEN + FIXED_LEN + 2) as u64;
    if count == 0 || count as u64 * min_item > (frame.len() - BATCH_HEADER_LEN) as u64 {
        return Err(ProtocolError::BatchCount(count));
    }
    Ok(BatchItems { rest: &frame[BATCH_HEADER_LEN..], left: count, failed: false })
}

impl<'a> BatchItems<'a> {
    /// Items not yet read.
    pub fn remaining(&self) -> u32 {
        self.left
    }
}

impl<'a> Iterator for BatchItems<'a> {
    /// The item's bytes (for [`peek_request_id`]) and its decoding.
    type Item = (&'a [u8], Result<Message<'a>, ProtocolError>);

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        if self.left == 0 {
            if !self.rest.is_empty() {
                self.failed = true;
                return Some((&[], Err(ProtocolError::Truncated { field: "batch (bytes after the last item)" })));
            }
            return None;
        }
        self.left -= 1;
        let bad = |s: &mut Self| {
            s.failed = true;
            Some((&[][..], Err(ProtocolError::Truncated { field: "batch item length" })))
        };
        if self.rest.len() < ITEM_PREFIX_LEN {
            return bad(self);
        }
        let len = u32::from_be_bytes(self.rest[..4].try_into().expect("4 bytes")) as usize;
        let Some(item) = self.rest.get(ITEM_PREFIX_LEN..ITEM_PREFIX_LEN + len) else {
            return bad(self);
        };
        self.rest = &self.rest[ITEM_PREFIX_LEN + len..];
        Some((item, decode_message(item)))
    }
}

/// Builds batch frames in one reused buffer.
///
/// Items are appended with their length prefix behind a batch header; when
/// only one item was added, [`BatchWriter::frame`] returns that item alone
/// (a plain message), so a lone message never pays for batching.
#[derive(Debug, Clone)]
pub struct BatchWriter {
    buf: Vec<u8>,
    count: u32,
}

impl Default for BatchWriter {
    fn default() -> Self {
        Self::new()
    }
}

impl BatchWriter {
    pub fn new() -> Self {
        let mut buf = Vec::with_capacity(4096);
        buf.extend_from_slice(&[VERSION, MsgType::Batch as u8, 0, 0, 0, 0, 0, 0]);
        BatchWriter { buf, count: 0 }
    }

    /// Appends one message.
    pub fn push(&mut self, f: &Fields, payload: &[u8]) -> Result<(), ProtocolError> {
        let at = self.buf.len();
        self.buf.extend_from_slice(&[0; ITEM_PREFIX_LEN]);
        if let Err(e) = encode_into(&mut self.buf, f, payload) {
            self.buf.truncate(at);
            return Err(e);
        }
        self.finish_item(at);
        Ok(())
    }

    /// Appends a message already encoded (a fan-out encodes once and copies
    /// the bytes into each recipient's batch).
    pub fn push_encoded(&mut self, message: &[u8]) {
        let at = self.buf.len();
        self.buf.extend_from_slice(&[0; ITEM_PREFIX_LEN]);
        self.buf.extend_from_slice(message);
        self.finish_item(at);
    }

    fn finish_item(&mut self, at: usize) {
        let len = (self.buf.len() - at - ITEM_PREFIX_LEN) as u32;
        self.buf[at..at + ITEM_PREFIX_LEN].copy_from_slice(&len.to_be_bytes());
        self.count += 1;
    }

    /// Items added since the last [`BatchWriter::clear`].
    pub fn len(&self) -> u32 {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Bytes the frame would have now.
    pub fn bytes(&self) -> usize {
        self.buf.len()
    }

    /// The frame to send: the lone item itself, or the whole batch.
    pub fn frame(&mut self) -> &[u8] {
        match self.count {
            0 => &[],
            1 => &self.buf[BATCH_HEADER_LEN + ITEM_PREFIX_LEN..],
            n => {
                self.buf[4..8].copy_from_slice(&n.to_be_bytes());
                &self.buf
            }
        }
    }

    /// Takes the frame as an owned vector (no copy for a batch; one small
    /// move for a lone item) and leaves the writer empty.
    pub fn take_frame(&mut self) -> Vec<u8> {
        let out = match self.count {
            0 => Vec::new(),
            1 => self.buf[BATCH_HEADER_LEN + ITEM_PREFIX_LEN..].to_vec(),
            n => {
                self.buf[4..8].copy_from_slice(&n.to_be_bytes());
                let mut fresh = Vec::with_capacity(self.buf.capacity().min(1 << 20));
                fresh.extend_from_slice(&self.buf[..BATCH_HEADER_LEN]);
                std::mem::replace(&mut self.buf, fresh)
            }
        };
        self.clear();
        out
    }

    /// Forgets every item, keeping the buffer.
    pub fn clear(&mut self) {
        self.buf.truncate(BATCH_HEADER_LEN);
        self.buf[4..8].fill(0);
        self.count = 0;
    }
}

/// The binary cumulative ACK: confirms every request of the session up to
/// and including `request_id`, in the order the broker received them. Its
/// body is the topic sequence number the publish named by `request_id` got
/// (u64), so a client awaiting one publish at a time still learns it.
pub fn cumulative_ack(request_id: u32, seq: u64, timestamp_ms: i64) -> Vec<u8> {
    let mut f = Fields::bare(MsgType::Ack, Format::Bytes, request_id, timestamp_ms);
    f.flags = crate::header::flags::CUMULATIVE;
    encode(&f, &seq.to_be_bytes()).expect("no names")
}

/// The sequence number a cumulative ACK's body carries (`None` if it has none).
pub fn cumulative_ack_seq(payload: &[u8]) -> Option<u64> {
    payload.try_into().ok().map(u64::from_be_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::header::flags;

    fn msg_fields() -> Fields<'static> {
        Fields {
            msg_type: MsgType::Msg,
            format: Format::String,
            flags: flags::SNAPSHOT,
            request_id: 0,
            timestamp_ms: 1_735_689_600_000,
            namespace: "market_data",
            topic: "sz000651.kline.1m",
            publisher: "publisher_01",
            ext: Ext { seq: 42, broker_time_us: 1_735_689_600_000_123 },
        }
    }

    #[test]
    fn a_delivery_round_trips() {
        let f = msg_fields();
        let b = encode(&f, br#"{"close":10.55}"#).unwrap();
        assert_eq!(b.len(), f.encoded_len(15));
        let m = decode_message(&b).unwrap();
        assert_eq!((m.namespace, m.topic, m.publisher), ("market_data", "sz000651.kline.1m", "publisher_01"));
        assert_eq!(m.ext, f.ext);
        assert_eq!(m.payload, br#"{"close":10.55}"#);
        assert_eq!(m.header.payload_length, 15);
        assert_eq!(m.header.flags, flags::SNAPSHOT);
    }

    #[test]
    fn requests_carry_no_publisher_or_ext() {
        let mut f = Fields::bare(MsgType::Pub, Format::Bytes, 7, 5);
        f.namespace = "md";
        f.topic = "a.b";
        let b = encode(&f, b"xyz").unwrap();
        assert_eq!(b.len(), FIXED_LEN + 2 + 2 + 3 + 3);
        let m = decode_message(&b).unwrap();
        assert_eq!(m.publisher, "");
        assert_eq!(m.ext, Ext::default());
        assert_eq!(m.header.request_id, 7);
        assert_eq!(peek_request_id(&b), 7);
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        let b = encode(&msg_fields(), b"payload").unwrap();
        let names_end = b.len() - b"payload".len();
        for cut in 0..names_end {
            assert!(decode_message(&b[..cut]).is_err(), "cut at {cut}");
        }
        assert_eq!(decode_message(&b[..names_end]).unwrap().payload, b"");
    }

    #[test]
    fn bad_bytes_are_named() {
        let mut b = encode(&Fields::bare(MsgType::Ping, Format::Bytes, 1, 0), b"").unwrap();
        b[0] = 5;
        assert_eq!(decode_message(&b), Err(ProtocolError::Version(5)));
        b[0] = VERSION;
        b[1] = 0x7F;
        assert_eq!(decode_message(&b), Err(ProtocolError::UnknownType(0x7F)));
        b[1] = MsgType::Batch as u8;
        assert_eq!(decode_message(&b), Err(ProtocolError::NestedBatch));
        let long = "x".repeat(256);
        let mut f = Fields::bare(MsgType::Sub, Format::Bytes, 1, 0);
        f.topic = &long;
        assert!(matches!(encode(&f, b""), Err(ProtocolError::NameTooLong { field: "topic", len: 256 })));
    }

    #[test]
    fn a_lone_item_is_sent_as_a_plain_message() {
        let mut w = BatchWriter::new();
        w.push(&msg_fields(), b"one").unwrap();
        let plain = encode(&msg_fields(), b"one").unwrap();
        assert_eq!(w.frame(), &plain[..]);
        assert!(!is_batch(w.frame()));
        assert_eq!(w.take_frame(), plain);
        assert!(w.is_empty());
    }

    #[test]
    fn batches_round_trip_in_order() {
        let mut w = BatchWriter::new();
        for i in 0..5u32 {
            let mut f = Fields::bare(MsgType::Pub, Format::Bytes, i + 1, 0);
            f.namespace = "md";
            f.topic = "t";
            w.push(&f, &i.to_be_bytes()).unwrap();
        }
        let frame = w.take_frame();
        assert!(is_batch(&frame));
        let items = batch_items(&frame).unwrap();
        assert_eq!(items.remaining(), 5);
        let ids: Vec<u32> = items.map(|(_, m)| m.unwrap().header.request_id).collect();
        assert_eq!(ids, [1, 2, 3, 4, 5]);
        // The writer is reusable after take_frame.
        w.push_encoded(&frame[12..]);
        assert_eq!(w.len(), 1);
    }

    #[test]
    fn broken_batches_stop_with_one_error() {
        let mut w = BatchWriter::new();
        let f = Fields::bare(MsgType::Ping, Format::Bytes, 1, 0);
        w.push(&f, b"").unwrap();
        w.push(&f, b"").unwrap();
        let frame = w.take_frame();
        // A count the frame cannot hold.
        let mut big = frame.clone();
        big[4..8].copy_from_slice(&1000u32.to_be_bytes());
        assert!(matches!(batch_items(&big), Err(ProtocolError::BatchCount(1000))));
        let mut zero = frame.clone();
        zero[4..8].fill(0);
        assert!(batch_items(&zero).is_err());
        // An item length past the end: the first item is served, then one error.
        let mut cut = frame.clone();
        let second = BATCH_HEADER_LEN + ITEM_PREFIX_LEN + FIXED_LEN + 2;
        cut[second..second + 4].copy_from_slice(&100u32.to_be_bytes());
        let got: Vec<_> = batch_items(&cut).unwrap().collect();
        assert_eq!(got.len(), 2);
        assert!(got[0].1.is_ok());
        assert!(got[1].1.is_err());
        // Trailing bytes after the declared items are refused.
        let mut extra = frame.clone();
        extra.push(0);
        let got: Vec<_> = batch_items(&extra).unwrap().collect();
        assert!(got.last().unwrap().1.is_err());
        // One bad item does not hide the next.
        let mut bad_item = frame;
        bad_item[BATCH_HEADER_LEN + ITEM_PREFIX_LEN + 2] = 0x77; // unknown format
        let got: Vec<_> = batch_items(&bad_item).unwrap().collect();
        assert!(matches!(got[0].1, Err(ProtocolError::UnknownFormat(0x77))));
        assert!(got[1].1.is_ok());
    }

    #[test]
    fn the_cumulative_ack_is_twenty_six_bytes() {
        let b = cumulative_ack(99, 7, 0);
        assert_eq!(b.len(), FIXED_LEN + 2 + 8);
        assert_eq!(cumulative_ack_seq(&b[FIXED_LEN + 2..]), Some(7));
        let m = decode_message(&b).unwrap();
        assert_eq!(m.header.msg_type, MsgType::Ack);
        assert!(m.header.has_flag(flags::CUMULATIVE));
        assert_eq!(m.header.request_id, 99);
    }
}
