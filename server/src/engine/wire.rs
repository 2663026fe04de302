//! Sending and receiving multipart messages on the engine's sockets.
//!
//! All sends use `DONTWAIT`: with `ROUTER_MANDATORY`, a full peer pipe gives
//! `EAGAIN` and an unknown peer `EHOSTUNREACH`, and the engine decides what
//! that means (a drop for that session) instead of blocking.

use pulsemq_shared::header::LEGACY_VERSION;
use pulsemq_shared::{Format, Header, MsgType};

/// Most frames read from one message: routing id + 6 + slack to report a
/// wrong count. Further frames are drained and only counted.
pub const MAX_PARTS: usize = 9;

/// Reads one multipart message into reusable buffers. Returns the number of
/// frames (which may exceed `parts.len()` if extra frames were drained), or
/// `None` when nothing is waiting.
pub fn recv_parts(sock: &zmq::Socket, parts: &mut Vec<zmq::Message>) -> zmq::Result<Option<usize>> {
    let mut n = 0;
    loop {
        if n < MAX_PARTS {
            if parts.len() <= n {
                parts.push(zmq::Message::new());
            }
            let flags = if n == 0 { zmq::DONTWAIT } else { 0 };
            match sock.recv(&mut parts[n], flags) {
                Ok(()) => {}
                Err(zmq::Error::EAGAIN) if n == 0 => return Ok(None),
                Err(e) => return Err(e),
            }
            let more = parts[n].get_more();
            n += 1;
            if !more {
                return Ok(Some(n));
            }
        } else {
            let mut scratch = zmq::Message::new();
            sock.recv(&mut scratch, 0)?;
            n += 1;
            if !scratch.get_more() {
                return Ok(Some(n));
            }
        }
    }
}

/// Outcome of handing a message to a ROUTER.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sent {
    Ok,
    /// The peer's pipe is full (high-water mark).
    Full,
    /// The peer is not connected.
    Gone,
}

/// Sends `[rid, frames...]`. The first frame decides routing; once it is
/// accepted the rest of the message is guaranteed to go through.
pub fn send_routed(sock: &zmq::Socket, rid: &[u8], frames: &[&[u8]]) -> Sent {
    match sock.send(rid, zmq::SNDMORE | zmq::DONTWAIT) {
        Ok(()) => {}
        Err(zmq::Error::EAGAIN) => return Sent::Full,
        Err(_) => return Sent::Gone,
    }
    let last = frames.len() - 1;
    for (i, f) in frames.iter().enumerate() {
        let flags = if i == last { zmq::DONTWAIT } else { zmq::SNDMORE | zmq::DONTWAIT };
        if sock.send(*f, flags).is_err() {
            return Sent::Gone;
        }
    }
    Sent::Ok
}

/// Builds a reply header: the request's version and id, the format the
/// original protocol used (ACK / ERROR as STRING, PONG as BYTES).
pub fn reply_header(version: u8, msg_type: MsgType, request_id: u32, payload_len: usize) -> Header {
    let format = match msg_type {
        MsgType::Ack | MsgType::Error => Format::String,
        _ => Format::Bytes,
    };
    let mut h = Header::new(msg_type, format, 0, payload_len as u32, request_id);
    if version == LEGACY_VERSION {
        h.version = LEGACY_VERSION;
        // Protocol 4 had no request ids (the field was an unused counter).
        h.request_id = 0;
    }
    h
}

/// Sends a control reply (`header | ε | ε | ε | payload | ε`).
pub fn send_reply(sock: &zmq::Socket, rid: &[u8], header: &Header, payload: &[u8]) -> Sent {
    let h = header.encode();
    send_routed(sock, rid, &[&h, b"", b"", b"", payload, b""])
}

/// A message that could not be decoded, with what is needed to answer it.
#[derive(Debug)]
pub struct DecodeFailure {
    pub version: u8,
    pub request_id: u32,
    pub error: pulsemq_shared::ProtocolError,
}

/// Decodes `[rid, 6 frames]` as received by a ROUTER (`n` frames in all).
/// No allocation: the frame slices live on the stack.
pub fn decode_routed(parts: &[zmq::Message], n: usize) -> Result<pulsemq_shared::FrameRefs<'_>, DecodeFailure> {
    use pulsemq_shared::{ProtocolError, FRAME_COUNT};
    let header: &[u8] = parts.get(1).map(|m| &m[..]).unwrap_or(&[]);
    let fail = |error| DecodeFailure {
        version: Header::peek_version(header),
        request_id: Header::peek_request_id(header),
        error,
    };
    if n != FRAME_COUNT + 1 {
        return Err(fail(ProtocolError::FrameCount { expected: FRAME_COUNT, got: n.saturating_sub(1) }));
    }
    let frames: [&[u8]; FRAME_COUNT] = [&parts[1], &parts[2], &parts[3], &parts[4], &parts[5], &parts[6]];
    pulsemq_shared::decode(&frames).map_err(fail)
}
