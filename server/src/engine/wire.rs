//! Sending and receiving multipart messages on the engine's sockets.
//!
//! All sends use `DONTWAIT`: with `ROUTER_MANDATORY`, a full peer pipe gives
//! `EAGAIN` and an unknown peer `EHOSTUNREACH`, and the engine decides what
//! that means (a drop for that session) instead of blocking.

use pulsemq_shared::header::LEGACY_VERSION;
use pulsemq_shared::zmq_send::{send_copy, RawMsg};
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

/// Sends the routing id frame, which decides where the message goes; once
/// it is accepted the rest of the message is guaranteed to go through.
fn send_rid(sock: &mut zmq::Socket, rid: &[u8]) -> Sent {
    match send_copy(sock, rid, zmq::SNDMORE | zmq::DONTWAIT) {
        Ok(()) => Sent::Ok,
        Err(zmq::Error::EAGAIN) => Sent::Full,
        Err(_) => Sent::Gone,
    }
}

/// Sends `[rid, frames...]`, each frame copied.
pub fn send_routed(sock: &mut zmq::Socket, rid: &[u8], frames: &[&[u8]]) -> Sent {
    let sent = send_rid(sock, rid);
    if sent != Sent::Ok {
        return sent;
    }
    let last = frames.len() - 1;
    for (i, f) in frames.iter().enumerate() {
        let flags = if i == last { zmq::DONTWAIT } else { zmq::SNDMORE | zmq::DONTWAIT };
        if send_copy(sock, f, flags).is_err() {
            return Sent::Gone;
        }
    }
    Sent::Ok
}

/// Sends `[rid, frame]` where the frame is referenced, not copied (see
/// `pulsemq_shared::zmq_send::send_shared`): a large protocol-6 delivery
/// encoded once and handed to every recipient.
pub fn send_routed_arc(sock: &mut zmq::Socket, rid: &[u8], frame: &std::sync::Arc<Vec<u8>>) -> Sent {
    let sent = send_rid(sock, rid);
    if sent != Sent::Ok {
        return sent;
    }
    match pulsemq_shared::zmq_send::send_shared(sock, frame, zmq::DONTWAIT) {
        Ok(()) => Sent::Ok,
        Err(_) => Sent::Gone,
    }
}

/// Sends `[rid, head..., payload, tail]` where the payload frame is handed
/// over as is (no copy), for the last recipient of a received message.
pub fn send_routed_payload(
    sock: &mut zmq::Socket,
    rid: &[u8],
    head: [&[u8]; 4],
    payload: zmq::Message,
    tail: &[u8],
) -> Sent {
    let sent = send_rid(sock, rid);
    if sent != Sent::Ok {
        return sent;
    }
    let more = zmq::SNDMORE | zmq::DONTWAIT;
    for f in head {
        if send_copy(sock, f, more).is_err() {
            return Sent::Gone;
        }
    }
    if sock.send(payload, more).is_err() || send_copy(sock, tail, zmq::DONTWAIT).is_err() {
        return Sent::Gone;
    }
    Sent::Ok
}

/// One frame sent to many peers without copying its bytes per peer: each
/// send hands libzmq a reference (`zmq_msg_copy`: a struct copy for small
/// frames, a reference count for large ones), the way XPUB fans out. The
/// `zmq` crate has no safe API for this, hence the few FFI calls here.
pub struct SharedFrame(RawMsg);

impl SharedFrame {
    pub fn new(bytes: &[u8]) -> SharedFrame {
        let mut m = RawMsg::empty();
        // SAFETY: `m` is writable and 8-byte aligned; after a successful
        // init_size its data pointer is valid for `bytes.len()` bytes.
        unsafe {
            let rc = zmq_sys::zmq_msg_init_size(&mut m.0, bytes.len());
            assert_eq!(rc, 0, "zmq_msg_init_size({}) failed", bytes.len());
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), zmq_sys::zmq_msg_data(&mut m.0) as *mut u8, bytes.len());
        }
        SharedFrame(m)
    }

    /// Sends a reference to this frame; false when libzmq refused it.
    fn send(&mut self, sock: &mut zmq::Socket, flags: i32) -> bool {
        let mut c = RawMsg::empty();
        // SAFETY: `c` is initialised before use and either consumed by a
        // successful zmq_msg_send or closed here; `self.0` stays a valid
        // message (copy only adds a reference); `sock` is a live socket
        // used from its owning thread only.
        unsafe {
            zmq_sys::zmq_msg_init(&mut c.0);
            if zmq_sys::zmq_msg_copy(&mut c.0, &mut self.0 .0) != 0 {
                zmq_sys::zmq_msg_close(&mut c.0);
                return false;
            }
            if zmq_sys::zmq_msg_send(&mut c.0, sock.as_mut_ptr(), flags) < 0 {
                zmq_sys::zmq_msg_close(&mut c.0);
                return false;
            }
        }
        true
    }
}

impl Drop for SharedFrame {
    fn drop(&mut self) {
        // SAFETY: initialised in `new`, closed exactly once here.
        unsafe { zmq_sys::zmq_msg_close(&mut self.0 .0) };
    }
}

/// Sends `[rid, frames...]` with shared frames (see [`SharedFrame`]).
pub fn send_routed_shared(sock: &mut zmq::Socket, rid: &[u8], frames: &mut [SharedFrame]) -> Sent {
    let sent = send_rid(sock, rid);
    if sent != Sent::Ok {
        return sent;
    }
    let last = frames.len() - 1;
    for (i, f) in frames.iter_mut().enumerate() {
        let flags = if i == last { zmq::DONTWAIT } else { zmq::SNDMORE | zmq::DONTWAIT };
        if !f.send(sock, flags) {
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
    if version == pulsemq_shared::v6::VERSION {
        h.version = version;
    } else if version == LEGACY_VERSION {
        h.version = LEGACY_VERSION;
        // Protocol 4 had no request ids (the field was an unused counter).
        h.request_id = 0;
    }
    h
}

/// Sends a control reply (`header | ε | ε | ε | payload | ε`).
pub fn send_reply(sock: &mut zmq::Socket, rid: &[u8], header: &Header, payload: &[u8]) -> Sent {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Shared frames reach every peer intact: empty, small (inline in the
    /// message) and large (reference-counted) ones, and outlive their sends.
    #[test]
    fn shared_frames_reach_every_peer_intact() {
        let ctx = zmq::Context::new();
        let mut router = ctx.socket(zmq::ROUTER).unwrap();
        router.set_router_mandatory(true).unwrap();
        router.bind("inproc://shared-frames").unwrap();
        let peers: Vec<zmq::Socket> = (0..3u8)
            .map(|i| {
                let d = ctx.socket(zmq::DEALER).unwrap();
                d.set_identity(&[b'p', i]).unwrap();
                d.connect("inproc://shared-frames").unwrap();
                d.send(&b"hi"[..], 0).unwrap();
                d
            })
            .collect();
        for _ in 0..3 {
            router.recv_multipart(0).unwrap();
        }
        let big: Vec<u8> = (0..100_000u32).map(|i| i as u8).collect();
        let bodies: [&[u8]; 3] = [b"", b"small", &big];
        let mut frames = bodies.map(SharedFrame::new);
        for i in 0..3u8 {
            assert_eq!(send_routed_shared(&mut router, &[b'p', i], &mut frames), Sent::Ok);
        }
        assert_eq!(send_routed_shared(&mut router, b"nobody", &mut frames), Sent::Gone);
        drop(frames);
        for d in &peers {
            let got = d.recv_multipart(0).unwrap();
            assert_eq!(got, bodies.map(<[u8]>::to_vec).to_vec());
        }
    }
}

/// Whether a routing id is one libzmq made up: a ROUTER gives a peer that
/// sets none `00` followed by a 4-byte counter that grows by one per
/// connection (the original Python client, and any hand-written client
/// that skips `ZMQ_ROUTING_ID`). Such an id is not a secret: anyone who
/// learns or guesses one can set it on a DEALER of their own.
pub fn assigned_by_libzmq(rid: &[u8]) -> bool {
    rid.len() == 5 && rid[0] == 0
}

#[cfg(test)]
mod routing_id_tests {
    use super::assigned_by_libzmq;

    #[test]
    fn libzmq_ids_are_five_bytes_from_zero() {
        assert!(assigned_by_libzmq(&[0, 0x6b, 0x8b, 0x45, 0x67]));
        assert!(!assigned_by_libzmq(&[0x80; 16]));
        assert!(!assigned_by_libzmq(&[1, 2, 3, 4, 5]));
        assert!(!assigned_by_libzmq(&[0, 1, 2, 3]));
    }
}
