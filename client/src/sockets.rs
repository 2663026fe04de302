//! Creating the client's ZeroMQ sockets, and sending and receiving one
//! frame on them without copies where that is safe.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use bytes::Bytes;
use pulsemq_shared::zmq_send::send_copy;
use pulsemq_shared::Format;

use crate::error::Result;
use crate::monitor;
use crate::options::ClientOptions;
use crate::wire::{RecvFrame, WireFrame};

/// The process-wide ZeroMQ context all clients share.
pub(crate) fn context() -> &'static zmq::Context {
    static CTX: OnceLock<zmq::Context> = OnceLock::new();
    CTX.get_or_init(zmq::Context::new)
}

/// 16 random bytes, first byte non-zero (ZeroMQ reserves a leading 0).
pub(crate) fn routing_id() -> [u8; 16] {
    let mut id: [u8; 16] = rand::random();
    if id[0] == 0 {
        id[0] = 1;
    }
    id
}

/// Creates the sockets: two DEALERs with their routing ids and an inproc
/// PULL (returned with the PUSH end the API keeps for wake-ups).
pub(crate) fn open_sockets(opts: &ClientOptions) -> Result<OpenSockets> {
    static WAKE_SEQ: AtomicU64 = AtomicU64::new(0);
    let ctx = context();
    let dealer = || -> Result<zmq::Socket> {
        let s = ctx.socket(zmq::DEALER)?;
        s.set_identity(&routing_id())?;
        s.set_linger(opts.linger.as_millis().min(i32::MAX as u128) as i32)?;
        s.set_sndhwm(opts.send_hwm)?;
        s.set_rcvhwm(opts.recv_hwm)?;
        s.set_maxmsgsize((Format::MAX_LIMIT + 64 * 1024) as i64)?;
        // TCP reconnects stay quick (≤ 1 s apart) so a restarted broker is
        // found within seconds; the session-level back-off is ours.
        s.set_reconnect_ivl(100)?;
        s.set_reconnect_ivl_max(1_000)?;
        s.set_heartbeat_ivl(5_000)?;
        s.set_heartbeat_timeout(15_000)?;
        if opts.host.contains(':') {
            s.set_ipv6(true)?;
        }
        Ok(s)
    };
    let cmd = dealer()?;
    let dlv = dealer()?;
    // Watch before connecting, so the first handshake is seen too.
    let mon = monitor::watch(ctx, &cmd)?;
    cmd.connect(&opts.endpoint(opts.pub_port))?;
    dlv.connect(&opts.endpoint(opts.sub_port))?;
    let endpoint = format!("inproc://pulsemq-client-wake-{}", WAKE_SEQ.fetch_add(1, Ordering::Relaxed));
    let pull = ctx.socket(zmq::PULL)?;
    pull.set_linger(0)?;
    pull.bind(&endpoint)?;
    let push = ctx.socket(zmq::PUSH)?;
    push.set_linger(0)?;
    push.set_sndhwm(16)?;
    push.connect(&endpoint)?;
    Ok(OpenSockets { cmd, dlv, mon, pull, push })
}

/// What [`open_sockets`] creates.
pub(crate) struct OpenSockets {
    pub cmd: zmq::Socket,
    pub dlv: zmq::Socket,
    pub mon: zmq::Socket,
    pub pull: zmq::Socket,
    pub push: zmq::Socket,
}

/// Frames at least this large are moved into ZeroMQ instead of copied.
pub(crate) const MOVE_MIN: usize = 8 * 1024;

/// Sends one frame without blocking; `EAGAIN` leaves it untouched. Small
/// frames are copied; a large one is moved into ZeroMQ, which is safe
/// only when the socket says it takes one more message (`POLLOUT`):
/// otherwise a refused send would have consumed it.
pub(crate) fn send_frame(sock: &mut zmq::Socket, frame: &mut WireFrame) -> zmq::Result<()> {
    if frame.len() < MOVE_MIN {
        return send_copy(sock, frame, zmq::DONTWAIT);
    }
    if !sock.get_events()?.contains(zmq::POLLOUT) {
        return Err(zmq::Error::EAGAIN);
    }
    sock.send(std::mem::take(frame), zmq::DONTWAIT)
}

/// A received frame owned by a [`Bytes`].
struct ZmqFrame(zmq::Message);

impl AsRef<[u8]> for ZmqFrame {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl RecvFrame for zmq::Message {
    /// Hands the frame itself over (no copy) and leaves an empty one for
    /// the next receive.
    fn take_bytes(&mut self) -> Bytes {
        Bytes::from_owner(ZmqFrame(std::mem::replace(self, zmq::Message::new())))
    }
}

/// Receives one frame into `buf` (reused between calls). `Ok(false)` for
/// a multipart message (not protocol 6; its parts are read and dropped).
/// `EAGAIN` when nothing is waiting.
pub(crate) fn recv_frame(sock: &zmq::Socket, buf: &mut zmq::Message) -> zmq::Result<bool> {
    sock.recv(buf, zmq::DONTWAIT)?;
    if !buf.get_more() {
        return Ok(true);
    }
    // The parts of a message arrive together.
    let mut rest = zmq::Message::new();
    loop {
        sock.recv(&mut rest, 0)?;
        if !rest.get_more() {
            return Ok(false);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_taken_frame_is_handed_over_without_a_copy() {
        let mut big = zmq::Message::from(vec![7u8; 10_000]);
        let at = big.as_ptr();
        let b = big.take_bytes();
        assert_eq!(b.as_ptr(), at, "no copy");
        assert!(big.is_empty(), "the frame is ready for the next receive");
        drop(big);
        assert!(b.iter().all(|&x| x == 7), "the bytes outlive the frame");
    }
}
