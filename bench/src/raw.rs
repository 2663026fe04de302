//! Raw ZeroMQ peers: the client-side sockets that drive the reference
//! forwarders, and bare protocol-v5 sessions (two DEALERs, no SDK) for the
//! broker-bound scenarios (idle sessions, pattern cost) where the SDK's
//! own work would hide the broker's.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use pulsemq_shared::header::flags;
use pulsemq_shared::{v6, Format, Header, MsgType};

use crate::broker::{Target, HWM};
use crate::report::{now_ns, read_stamp, stamp};

/// Frame index of the payload in a 6-frame message (without routing id).
pub const PAYLOAD_FRAME: usize = 4;

/// A topic whose messages only synchronise start-up (never counted).
pub const PROBE_TOPIC: &str = "probe";

pub fn random_rid() -> [u8; 16] {
    let mut rid: [u8; 16] = rand::random();
    rid[0] |= 0x80;
    rid
}

pub fn socket(ctx: &zmq::Context, kind: zmq::SocketType, endpoint: &str) -> zmq::Socket {
    let s = ctx.socket(kind).expect("socket");
    s.set_linger(0).expect("linger");
    s.set_sndhwm(HWM).expect("sndhwm");
    s.set_rcvhwm(HWM).expect("rcvhwm");
    if kind == zmq::DEALER {
        s.set_identity(&random_rid()).expect("identity");
    }
    s.connect(endpoint).expect("connect");
    s
}

/// The six frames of a request as the SDK sends them.
pub fn frames(
    msg_type: MsgType,
    format: Format,
    fl: u8,
    id: u32,
    ns: &str,
    topic: &str,
    payload: &[u8],
) -> [Vec<u8>; 6] {
    let h = Header::new(msg_type, format, fl, payload.len() as u32, id).encode();
    [h.to_vec(), ns.as_bytes().to_vec(), topic.as_bytes().to_vec(), Vec::new(), payload.to_vec(), Vec::new()]
}

/// Sends a 6-frame PUB NO_ACK with a fresh send stamp in the payload.
pub fn send_pub(sock: &zmq::Socket, header: &[u8; 20], ns: &str, topic: &str, payload: &mut [u8]) {
    stamp(payload);
    let more = zmq::SNDMORE;
    sock.send(&header[..], more).expect("send");
    sock.send(ns.as_bytes(), more).expect("send");
    sock.send(topic.as_bytes(), more).expect("send");
    sock.send(&b""[..], more).expect("send");
    sock.send(&payload[..], more).expect("send");
    sock.send(&b""[..], 0).expect("send");
}

pub fn pub_header(len: usize) -> [u8; 20] {
    pub_header_as(Format::Bytes, len)
}

/// A PUB NO_ACK header for a payload of `len` bytes in `format`.
pub fn pub_header_as(format: Format, len: usize) -> [u8; 20] {
    Header::new(MsgType::Pub, format, flags::NO_ACK, len as u32, 0).encode()
}

/// Sends one single-frame protocol-6 PUB NO_ACK with a fresh send stamp
/// in the payload (the single-frame forwarder reference).
pub fn send_pub_v6(sock: &zmq::Socket, buf: &mut Vec<u8>, ns: &str, topic: &str, payload: &mut [u8]) {
    stamp(payload);
    let mut f = v6::Fields::bare(MsgType::Pub, Format::Bytes, 0, 0);
    f.flags = flags::NO_ACK;
    f.namespace = ns;
    f.topic = topic;
    buf.clear();
    v6::encode_into(buf, &f, payload).expect("short names");
    sock.send(&buf[..], 0).expect("send");
}

/// The topic and payload of a received message: six v5 frames, or one v6
/// frame (a batch is not expected from a forwarder).
fn topic_and_payload(parts: &[zmq::Message]) -> Option<(&[u8], &[u8])> {
    if parts.len() >= 6 {
        return Some((&parts[2], &parts[PAYLOAD_FRAME]));
    }
    let m = v6::decode_message(parts.last()?).ok()?;
    Some((m.topic.as_bytes(), m.payload))
}

/// Receives one multipart message into `parts` within `timeout`.
pub fn recv_parts(sock: &zmq::Socket, parts: &mut Vec<zmq::Message>, timeout: Duration) -> bool {
    parts.clear();
    match sock.poll(zmq::POLLIN, timeout.as_millis() as i64) {
        Ok(n) if n > 0 => {}
        _ => return false,
    }
    loop {
        let mut m = zmq::Message::new();
        if sock.recv(&mut m, 0).is_err() {
            return false;
        }
        let more = m.get_more();
        parts.push(m);
        if !more {
            return true;
        }
    }
}

/// What a receiving loop saw.
#[derive(Debug, Default)]
pub struct Received {
    pub count: u64,
    pub last_ns: u64,
    pub lat_ns: Vec<u64>,
}

/// Counts messages (six v5 frames or one v6 frame; probes skipped) until `expect` arrived or
/// nothing came for `idle`; `ready` is bumped on the first probe or message.
pub fn receive_loop(sock: &zmq::Socket, expect: u64, idle: Duration, ready: &AtomicUsize, keep_lat: bool) -> Received {
    let mut r =
        Received { lat_ns: Vec::with_capacity(if keep_lat { expect as usize } else { 0 }), ..Default::default() };
    let mut parts = Vec::with_capacity(8);
    let mut seen_any = false;
    while r.count < expect {
        if !recv_parts(sock, &mut parts, idle) {
            break;
        }
        let now = now_ns();
        if !seen_any {
            seen_any = true;
            ready.fetch_add(1, Ordering::SeqCst);
        }
        let Some((topic, payload)) = topic_and_payload(&parts) else { continue };
        if topic == PROBE_TOPIC.as_bytes() {
            continue;
        }
        r.count += 1;
        r.last_ns = now;
        if keep_lat {
            r.lat_ns.push(now.saturating_sub(read_stamp(payload)));
        }
    }
    r
}

/// Sends probes until `ready` reaches `n` (subscribers are connected and
/// their subscriptions in place), or panics after 10 s.
pub fn await_ready(sock: &zmq::Socket, ready: &Arc<AtomicUsize>, n: usize) {
    let h = pub_header(8);
    let mut p = [0u8; 8];
    for _ in 0..2000 {
        if ready.load(Ordering::SeqCst) >= n {
            return;
        }
        send_pub(sock, &h, "bench", PROBE_TOPIC, &mut p);
        std::thread::sleep(Duration::from_millis(5));
    }
    panic!("subscribers not ready after 10 s ({} of {n})", ready.load(Ordering::SeqCst));
}

/// One protocol-v5 session over two bare DEALERs.
pub struct RawSession {
    pub cmd: zmq::Socket,
    pub del: zmq::Socket,
    next_id: u32,
}

impl RawSession {
    /// AUTH on the command port; with `attach`, ATTACH on the delivery port.
    pub fn open(ctx: &zmq::Context, t: &Target, attach: bool) -> Result<RawSession, String> {
        let cmd = socket(ctx, zmq::DEALER, &format!("tcp://{}:{}", t.host, t.pub_port));
        let del = socket(ctx, zmq::DEALER, &format!("tcp://{}:{}", t.host, t.sub_port));
        let mut s = RawSession { cmd, del, next_id: 0 };
        let body = serde_json::json!({"username": t.user, "token": t.token}).to_string();
        let reply = s.request(false, MsgType::Auth, "", "", body.as_bytes())?;
        let session = reply["session"].as_str().ok_or("AUTH_OK without a session")?.to_owned();
        if attach {
            let body = serde_json::json!({"session": session, "token": t.token}).to_string();
            s.request(true, MsgType::Attach, "", "", body.as_bytes())?;
        }
        Ok(s)
    }

    fn send(&mut self, delivery: bool, t: MsgType, ns: &str, topic: &str, payload: &[u8]) {
        self.next_id += 1;
        let format = if t == MsgType::Pub { Format::Bytes } else { Format::String };
        let f = frames(t, format, 0, self.next_id, ns, topic, payload);
        let sock = if delivery { &self.del } else { &self.cmd };
        sock.send_multipart(f, 0).expect("send");
    }

    /// The JSON body of an ACK, or the ERROR's text.
    fn read_reply(&self, delivery: bool) -> Result<serde_json::Value, String> {
        let sock = if delivery { &self.del } else { &self.cmd };
        let mut parts = Vec::new();
        loop {
            if !recv_parts(sock, &mut parts, Duration::from_secs(10)) {
                return Err("no reply within 10 s".into());
            }
            let h = Header::decode(&parts[0]).map_err(|e| e.to_string())?;
            let body: serde_json::Value = serde_json::from_slice(&parts[PAYLOAD_FRAME]).unwrap_or_default();
            match h.msg_type {
                MsgType::Ack => return Ok(body),
                MsgType::Error => return Err(format!("broker error: {body}")),
                _ => continue, // a delivery overtaking a reply on the delivery port
            }
        }
    }

    fn request(
        &mut self,
        delivery: bool,
        t: MsgType,
        ns: &str,
        topic: &str,
        p: &[u8],
    ) -> Result<serde_json::Value, String> {
        self.send(delivery, t, ns, topic, p);
        self.read_reply(delivery)
    }

    /// Subscribes to all `patterns`, pipelined, and waits for every SUB_OK.
    pub fn subscribe_all(&mut self, ns: &str, patterns: &[String]) -> Result<(), String> {
        for p in patterns {
            self.send(false, MsgType::Sub, ns, p, b"");
        }
        for _ in patterns {
            self.read_reply(false)?;
        }
        Ok(())
    }

    /// Publishes `count` stamped messages with ACKs, `window` in flight.
    pub fn publish_acked(&mut self, ns: &str, topic: &str, size: usize, count: u64, window: u64) -> Result<(), String> {
        let mut payload = vec![0u8; size];
        let (mut sent, mut acked) = (0u64, 0u64);
        while acked < count {
            while sent < count && sent - acked < window {
                stamp(&mut payload);
                self.send(false, MsgType::Pub, ns, topic, &payload);
                sent += 1;
            }
            // Only the reply's type: parsing each PUB_OK body as JSON would
            // make this driver, not the broker, the bottleneck.
            let mut parts = Vec::new();
            if !recv_parts(&self.cmd, &mut parts, Duration::from_secs(10)) {
                return Err("no ACK within 10 s".into());
            }
            match Header::decode(&parts[0]).map(|h| h.msg_type) {
                Ok(MsgType::Ack) => acked += 1,
                _ => return Err("a publish was refused".into()),
            }
        }
        Ok(())
    }

    /// Ends the session at once (BYE), so it stops receiving.
    pub fn bye(mut self) {
        let _ = self.request(false, MsgType::Bye, "", "", b"");
    }
}
