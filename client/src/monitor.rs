//! Connection events of the command socket (libzmq socket monitor).
//!
//! ZeroMQ reconnects TCP by itself, silently. To re-authenticate within
//! seconds of a broker restart instead of at the next heartbeat, the I/O
//! thread watches the command socket's monitor: `DISCONNECTED` means the
//! session is gone with the connection (or may be); a later
//! `HANDSHAKE_SUCCEEDED` means a broker is there again and AUTH can go.

use std::sync::atomic::{AtomicU64, Ordering};

/// What the I/O thread cares about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LinkEvent {
    /// A ZMTP handshake completed: the link is up.
    Up,
    /// The connection closed.
    Down,
    /// Anything else (connect retries, …).
    Other,
}

const EVENT_DISCONNECTED: u16 = 0x0200;
const EVENT_HANDSHAKE_SUCCEEDED: u16 = 0x1000;

/// Reads the first frame of a monitor message: `u16 event | u32 value`,
/// native byte order.
pub(crate) fn parse(frame: &[u8]) -> LinkEvent {
    let Some(b) = frame.get(..2) else {
        return LinkEvent::Other;
    };
    match u16::from_ne_bytes([b[0], b[1]]) {
        EVENT_HANDSHAKE_SUCCEEDED => LinkEvent::Up,
        EVENT_DISCONNECTED => LinkEvent::Down,
        _ => LinkEvent::Other,
    }
}

/// Starts monitoring `sock` and returns the PAIR socket its events arrive on.
pub(crate) fn watch(ctx: &zmq::Context, sock: &zmq::Socket) -> zmq::Result<zmq::Socket> {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let endpoint = format!("inproc://pulsemq-client-monitor-{}", SEQ.fetch_add(1, Ordering::Relaxed));
    sock.monitor(&endpoint, i32::from(EVENT_DISCONNECTED | EVENT_HANDSHAKE_SUCCEEDED))?;
    let pair = ctx.socket(zmq::PAIR)?;
    pair.set_linger(0)?;
    pair.connect(&endpoint)?;
    Ok(pair)
}

/// Stops monitoring `sock`. Must run before the PAIR from [`watch`] is
/// closed: libzmq sends monitor events with a *blocking* send from its own
/// I/O thread, so a socket still emitting events (e.g. DISCONNECTED while
/// it lingers) towards a closed PAIR would stall every socket of the
/// context. Re-targeting the monitor at a fresh endpoint with no events
/// closes the old monitor socket under libzmq's lock, and the new one never
/// sends anything.
pub(crate) fn unwatch(sock: &zmq::Socket) {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let endpoint = format!("inproc://pulsemq-client-monitor-off-{}", SEQ.fetch_add(1, Ordering::Relaxed));
    if let Err(e) = sock.monitor(&endpoint, 0) {
        tracing::warn!("could not stop the socket monitor: {e}");
    }
}

/// Reads every pending monitor message; returns the link events in order.
pub(crate) fn drain(pair: &zmq::Socket) -> Vec<LinkEvent> {
    let mut out = Vec::new();
    while let Ok(parts) = pair.recv_multipart(zmq::DONTWAIT) {
        if let Some(first) = parts.first() {
            out.push(parse(first));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_frames() {
        let frame = |ev: u16| {
            let mut f = ev.to_ne_bytes().to_vec();
            f.extend(7u32.to_ne_bytes());
            f
        };
        assert_eq!(parse(&frame(0x1000)), LinkEvent::Up);
        assert_eq!(parse(&frame(0x0200)), LinkEvent::Down);
        assert_eq!(parse(&frame(0x0001)), LinkEvent::Other);
        assert_eq!(parse(&[]), LinkEvent::Other);
    }
}
