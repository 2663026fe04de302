//! The 20-byte frame header and the enums it carries.

use crate::error::ProtocolError;

/// Size of the header frame.
pub const HEADER_LEN: usize = 20;
/// The protocol this crate writes.
pub const PROTOCOL_VERSION: u8 = 5;
/// The original Python client's protocol, still answered by the broker.
pub const LEGACY_VERSION: u8 = 4;

/// Message types (header byte 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum MsgType {
    Auth = 0x01,
    Pub = 0x02,
    Sub = 0x03,
    Unsub = 0x04,
    Msg = 0x05,
    Ack = 0x06,
    Error = 0x07,
    Ping = 0x08,
    Pong = 0x09,
    Query = 0x0A,
    Attach = 0x0B,
    Bye = 0x0C,
    /// Protocol 6 only: several messages in one frame (see [`crate::v6`]).
    Batch = 0x0D,
}

impl MsgType {
    pub fn from_u8(v: u8) -> Result<Self, ProtocolError> {
        Ok(match v {
            0x01 => MsgType::Auth,
            0x02 => MsgType::Pub,
            0x03 => MsgType::Sub,
            0x04 => MsgType::Unsub,
            0x05 => MsgType::Msg,
            0x06 => MsgType::Ack,
            0x07 => MsgType::Error,
            0x08 => MsgType::Ping,
            0x09 => MsgType::Pong,
            0x0A => MsgType::Query,
            0x0B => MsgType::Attach,
            0x0C => MsgType::Bye,
            0x0D => MsgType::Batch,
            other => return Err(ProtocolError::UnknownType(other)),
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            MsgType::Auth => "AUTH",
            MsgType::Pub => "PUB",
            MsgType::Sub => "SUB",
            MsgType::Unsub => "UNSUB",
            MsgType::Msg => "MSG",
            MsgType::Ack => "ACK",
            MsgType::Error => "ERROR",
            MsgType::Ping => "PING",
            MsgType::Pong => "PONG",
            MsgType::Query => "QUERY",
            MsgType::Attach => "ATTACH",
            MsgType::Bye => "BYE",
            MsgType::Batch => "BATCH",
        }
    }
}

/// Payload formats (header byte 2) and their size limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Format {
    Bytes = 0x00,
    String = 0x01,
    DfMsgpack = 0x02,
    DfArrow = 0x03,
}

impl Format {
    pub const ALL: [Format; 4] = [Format::Bytes, Format::String, Format::DfMsgpack, Format::DfArrow];

    pub fn from_u8(v: u8) -> Result<Self, ProtocolError> {
        Ok(match v {
            0x00 => Format::Bytes,
            0x01 => Format::String,
            0x02 => Format::DfMsgpack,
            0x03 => Format::DfArrow,
            other => return Err(ProtocolError::UnknownFormat(other)),
        })
    }

    /// Largest payload accepted for this format, in bytes, measured on the
    /// wire (after compression). A payload of exactly the limit is accepted.
    pub const fn limit(self) -> usize {
        match self {
            Format::Bytes => 10 * 1024 * 1024,
            Format::String => 8 * 1024,
            Format::DfMsgpack => 1024 * 1024,
            Format::DfArrow => 64 * 1024 * 1024,
        }
    }

    /// The largest limit of all formats; the broker sizes `ZMQ_MAXMSGSIZE` from it.
    pub const MAX_LIMIT: usize = 64 * 1024 * 1024;

    pub fn name(self) -> &'static str {
        match self {
            Format::Bytes => "bytes",
            Format::String => "string",
            Format::DfMsgpack => "df_msgpack",
            Format::DfArrow => "df_arrow",
        }
    }

    /// Checks the wire size against [`Format::limit`].
    pub fn check_size(self, size: usize) -> Result<(), ProtocolError> {
        if size > self.limit() {
            Err(ProtocolError::TooLarge { format: self.name(), size, limit: self.limit() })
        } else {
            Ok(())
        }
    }
}

/// Header flag bits (byte 3).
pub mod flags {
    /// The payload is compressed with the algorithm in [`ALGO_MASK`].
    pub const COMPRESSED: u8 = 0x01;
    /// PUB only: the broker answers only on failure.
    pub const NO_ACK: u8 = 0x02;
    /// Protocol 6 ACK only: confirms every request of the session up to
    /// and including the ACK's request id (see [`crate::v6`]).
    pub const CUMULATIVE: u8 = 0x04;
    /// MSG only: replayed from the last-value cache on subscribe.
    pub const SNAPSHOT: u8 = 0x08;
    /// Bits holding the compression algorithm.
    pub const ALGO_MASK: u8 = 0x30;
}

/// Compression algorithm encoded in flag bits `0x30`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Compression {
    Zlib,
    Lz4,
    Zstd,
}

impl Compression {
    pub fn bits(self) -> u8 {
        match self {
            Compression::Zlib => 0x10,
            Compression::Lz4 => 0x20,
            Compression::Zstd => 0x30,
        }
    }

    /// Reads the algorithm from a flags byte; `Ok(None)` when not compressed.
    pub fn from_flags(flags_byte: u8) -> Result<Option<Self>, ProtocolError> {
        if flags_byte & flags::COMPRESSED == 0 {
            return Ok(None);
        }
        match flags_byte & flags::ALGO_MASK {
            0x10 => Ok(Some(Compression::Zlib)),
            0x20 => Ok(Some(Compression::Lz4)),
            0x30 => Ok(Some(Compression::Zstd)),
            other => Err(ProtocolError::Compression(other)),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Compression::Zlib => "zlib",
            Compression::Lz4 => "lz4",
            Compression::Zstd => "zstd",
        }
    }
}

/// The decoded header frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub version: u8,
    pub msg_type: MsgType,
    pub format: Format,
    pub flags: u8,
    pub payload_length: u32,
    /// Chosen by the client, echoed in the reply; 0 = pair replies by order.
    pub request_id: u32,
    pub timestamp_ms: i64,
}

impl Header {
    /// A protocol-5 header stamped with the current time.
    pub fn new(msg_type: MsgType, format: Format, flags: u8, payload_length: u32, request_id: u32) -> Self {
        Header {
            version: PROTOCOL_VERSION,
            msg_type,
            format,
            flags,
            payload_length,
            request_id,
            timestamp_ms: now_ms(),
        }
    }

    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[0] = self.version;
        b[1] = self.msg_type as u8;
        b[2] = self.format as u8;
        b[3] = self.flags;
        b[4..8].copy_from_slice(&self.payload_length.to_be_bytes());
        b[8..12].copy_from_slice(&self.request_id.to_be_bytes());
        b[12..20].copy_from_slice(&self.timestamp_ms.to_be_bytes());
        b
    }

    /// Decodes a header frame. Exactly 20 bytes; version 4 or 5.
    pub fn decode(b: &[u8]) -> Result<Self, ProtocolError> {
        if b.len() != HEADER_LEN {
            return Err(ProtocolError::HeaderLength(b.len()));
        }
        let version = b[0];
        if version != PROTOCOL_VERSION && version != LEGACY_VERSION {
            return Err(ProtocolError::Version(version));
        }
        let msg_type = MsgType::from_u8(b[1])?;
        if msg_type == MsgType::Batch {
            // Batches exist only in protocol 6 (`crate::v6`).
            return Err(ProtocolError::UnknownType(b[1]));
        }
        Ok(Header {
            version,
            msg_type,
            format: Format::from_u8(b[2])?,
            flags: b[3],
            payload_length: u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
            request_id: u32::from_be_bytes([b[8], b[9], b[10], b[11]]),
            timestamp_ms: i64::from_be_bytes([b[12], b[13], b[14], b[15], b[16], b[17], b[18], b[19]]),
        })
    }

    /// Best-effort read of the request id from a header that failed to
    /// decode, so that an ERROR reply can still be paired by id.
    pub fn peek_request_id(b: &[u8]) -> u32 {
        if b.len() >= 12 {
            u32::from_be_bytes([b[8], b[9], b[10], b[11]])
        } else {
            0
        }
    }

    /// Best-effort read of the version byte of a header that failed to decode.
    pub fn peek_version(b: &[u8]) -> u8 {
        match b.first() {
            Some(&LEGACY_VERSION) => LEGACY_VERSION,
            Some(&crate::v6::VERSION) => crate::v6::VERSION,
            _ => PROTOCOL_VERSION,
        }
    }

    pub fn compression(&self) -> Result<Option<Compression>, ProtocolError> {
        Compression::from_flags(self.flags)
    }

    pub fn has_flag(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }
}

/// Milliseconds since the Unix epoch (0 if the clock is before 1970).
#[cfg(not(target_arch = "wasm32"))]
pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// Nanoseconds since the Unix epoch (0 if the clock is before 1970): one
/// read that serves both a millisecond stamp and a finer interval.
#[cfg(not(target_arch = "wasm32"))]
pub fn now_ns() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0)
}

/// Milliseconds since the Unix epoch. In the browser there is no
/// `SystemTime`; the console never stamps frames, so 0 is fine.
#[cfg(target_arch = "wasm32")]
pub fn now_ms() -> i64 {
    0
}
