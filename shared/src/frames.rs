//! The six-frame message envelope: `header | namespace | topic | username | payload | reserved`.
//!
//! Decoding works on borrowed slices so the broker can validate a message in
//! place without copying it; encoding produces owned frames for senders.

use crate::error::ProtocolError;
use crate::header::{Header, HEADER_LEN};

/// Frames per message (the ROUTER's routing id not counted).
pub const FRAME_COUNT: usize = 6;
/// Size of the MSG `ext` frame: `u64 topic sequence | u64 broker receive time (µs)`.
pub const EXT_LEN: usize = 16;

/// A decoded message borrowing its frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameRefs<'a> {
    pub header: Header,
    pub namespace: &'a str,
    pub topic: &'a str,
    pub username: &'a str,
    pub payload: &'a [u8],
    pub reserved: &'a [u8],
}

fn utf8<'a>(b: &'a [u8], field: &'static str) -> Result<&'a str, ProtocolError> {
    std::str::from_utf8(b).map_err(|_| ProtocolError::NotUtf8 { field })
}

/// Decodes six frames: exact frame count, a valid header, `payload_length`
/// equal to the payload frame's length, UTF-8 names. Names are *not*
/// validated against the naming rules here: what is acceptable depends on
/// the message type (a topic for PUB, a pattern for SUB).
pub fn decode<'a>(parts: &[&'a [u8]]) -> Result<FrameRefs<'a>, ProtocolError> {
    if parts.len() != FRAME_COUNT {
        return Err(ProtocolError::FrameCount { expected: FRAME_COUNT, got: parts.len() });
    }
    let header = Header::decode(parts[0])?;
    let payload = parts[4];
    if header.payload_length as usize != payload.len() {
        return Err(ProtocolError::LengthMismatch { declared: header.payload_length, actual: payload.len() });
    }
    Ok(FrameRefs {
        header,
        namespace: utf8(parts[1], "namespace")?,
        topic: utf8(parts[2], "topic")?,
        username: utf8(parts[3], "username")?,
        payload,
        reserved: parts[5],
    })
}

/// An owned message, as built by senders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frames {
    pub header: Header,
    pub namespace: String,
    pub topic: String,
    pub username: String,
    pub payload: Vec<u8>,
    pub reserved: Vec<u8>,
}

impl Frames {
    /// Builds a message; `header.payload_length` is set from the payload.
    pub fn new(mut header: Header, namespace: &str, topic: &str, username: &str, payload: Vec<u8>) -> Self {
        header.payload_length = payload.len() as u32;
        Frames {
            header,
            namespace: namespace.to_owned(),
            topic: topic.to_owned(),
            username: username.to_owned(),
            payload,
            reserved: Vec::new(),
        }
    }

    /// The six frames in wire order.
    pub fn into_parts(self) -> [Vec<u8>; FRAME_COUNT] {
        [
            self.header.encode().to_vec(),
            self.namespace.into_bytes(),
            self.topic.into_bytes(),
            self.username.into_bytes(),
            self.payload,
            self.reserved,
        ]
    }

    /// Decodes owned frames (see [`decode`]).
    pub fn from_parts<B: AsRef<[u8]>>(parts: &[B]) -> Result<Self, ProtocolError> {
        let refs: Vec<&[u8]> = parts.iter().map(|p| p.as_ref()).collect();
        let f = decode(&refs)?;
        Ok(Frames {
            header: f.header,
            namespace: f.namespace.to_owned(),
            topic: f.topic.to_owned(),
            username: f.username.to_owned(),
            payload: f.payload.to_vec(),
            reserved: f.reserved.to_vec(),
        })
    }
}

/// The MSG `ext` frame: per-topic sequence number and broker receive time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Ext {
    /// Per (namespace, topic) sequence, starting at 1 when the broker starts.
    pub seq: u64,
    /// When the broker received the PUB, µs since the Unix epoch.
    pub broker_time_us: u64,
}

impl Ext {
    pub fn encode(&self) -> [u8; EXT_LEN] {
        let mut b = [0u8; EXT_LEN];
        b[..8].copy_from_slice(&self.seq.to_be_bytes());
        b[8..].copy_from_slice(&self.broker_time_us.to_be_bytes());
        b
    }

    pub fn decode(b: &[u8]) -> Result<Self, ProtocolError> {
        if b.len() != EXT_LEN {
            return Err(ProtocolError::ExtLength(b.len()));
        }
        let mut seq = [0u8; 8];
        let mut t = [0u8; 8];
        seq.copy_from_slice(&b[..8]);
        t.copy_from_slice(&b[8..]);
        Ok(Ext { seq: u64::from_be_bytes(seq), broker_time_us: u64::from_be_bytes(t) })
    }
}

const _: () = assert!(HEADER_LEN == 20);
