//! A raw protocol-6 peer: two DEALERs sending single frames and batches
//! built with the shared codec, and reading back exactly what the broker
//! sends (plain messages and batches, split into their messages).

use std::time::Duration;

use pulsemq_shared::header::flags;
use pulsemq_shared::v6::{self, BatchWriter, Fields};
use pulsemq_shared::{Ext, Format, Header, MsgType};
use serde_json::{json, Value};

/// One message as received (a batch's items are returned one by one).
#[derive(Debug, Clone)]
pub struct Got {
    pub header: Header,
    pub namespace: String,
    pub topic: String,
    pub publisher: String,
    pub ext: Ext,
    pub payload: Vec<u8>,
}

impl Got {
    fn from(m: v6::Message) -> Got {
        Got {
            header: m.header,
            namespace: m.namespace.to_owned(),
            topic: m.topic.to_owned(),
            publisher: m.publisher.to_owned(),
            ext: m.ext,
            payload: m.payload.to_vec(),
        }
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.payload)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {:?}", String::from_utf8_lossy(&self.payload)))
    }

    pub fn error_code(&self) -> Option<u64> {
        (self.header.msg_type == MsgType::Error).then(|| self.json()["error_code"].as_u64().unwrap())
    }

    /// The status of a JSON ACK; `None` for a cumulative one or another type.
    pub fn status(&self) -> Option<String> {
        (self.header.msg_type == MsgType::Ack && !self.is_cumulative_ack())
            .then(|| self.json()["status"].as_str().unwrap().to_owned())
    }

    pub fn is_cumulative_ack(&self) -> bool {
        self.header.msg_type == MsgType::Ack && self.header.has_flag(flags::CUMULATIVE)
    }
}

/// Splits a received frame into its messages; panics on anything the
/// broker should never send.
pub fn split(frame: &[u8]) -> Vec<Got> {
    if v6::is_batch(frame) {
        v6::batch_items(frame).expect("valid batch").map(|(_, m)| Got::from(m.expect("valid item"))).collect()
    } else {
        vec![Got::from(v6::decode_message(frame).expect("valid v6 message"))]
    }
}

pub struct RawPeer6 {
    _ctx: zmq::Context,
    pub cmd: zmq::Socket,
    pub del: zmq::Socket,
    next_id: u32,
    pub session: Option<String>,
    /// Frames with deliveries received on the delivery socket (to see batching).
    pub delivery_frames: usize,
    /// The broker's PINGs on the delivery socket this peer answered.
    pub pings_answered: usize,
}

impl RawPeer6 {
    /// Connects both DEALERs; the delivery one takes unlimited input.
    pub fn connect(pub_port: u16, sub_port: u16) -> RawPeer6 {
        Self::connect_with_rcvhwm(pub_port, sub_port, 0)
    }

    /// Connects with a bounded delivery input queue (`rcvhwm` frames), so
    /// a peer that does not read pushes back on the broker as a stalled
    /// application would.
    pub fn connect_with_rcvhwm(pub_port: u16, sub_port: u16, rcvhwm: i32) -> RawPeer6 {
        let ctx = zmq::Context::new();
        let rid = || {
            let mut r: Vec<u8> = (0..16).map(|_| rand::random::<u8>()).collect();
            r[0] |= 0x80;
            r
        };
        let cmd = ctx.socket(zmq::DEALER).unwrap();
        cmd.set_identity(&rid()).unwrap();
        cmd.set_linger(0).unwrap();
        cmd.set_rcvhwm(0).unwrap();
        cmd.connect(&format!("tcp://127.0.0.1:{pub_port}")).unwrap();
        let del = ctx.socket(zmq::DEALER).unwrap();
        del.set_identity(&rid()).unwrap();
        del.set_linger(0).unwrap();
        del.set_rcvhwm(rcvhwm).unwrap();
        del.connect(&format!("tcp://127.0.0.1:{sub_port}")).unwrap();
        RawPeer6 { _ctx: ctx, cmd, del, next_id: 1, session: None, delivery_frames: 0, pings_answered: 0 }
    }

    pub fn next_id(&mut self) -> u32 {
        self.next_id += 1;
        self.next_id
    }

    /// Encodes one request.
    pub fn frame(t: MsgType, flags: u8, id: u32, ns: &str, topic: &str, payload: &[u8]) -> Vec<u8> {
        let mut f = Fields::bare(t, Format::Bytes, id, pulsemq_shared::header::now_ms());
        f.flags = flags;
        f.namespace = ns;
        f.topic = topic;
        v6::encode(&f, payload).unwrap()
    }

    pub fn send(&self, frame: &[u8]) {
        self.cmd.send(frame, 0).unwrap();
    }

    fn recv_on(sock: &zmq::Socket, timeout: Duration) -> Option<Vec<u8>> {
        if sock.poll(zmq::POLLIN, timeout.as_millis() as i64).unwrap() == 0 {
            return None;
        }
        let mut parts = sock.recv_multipart(0).unwrap();
        assert_eq!(parts.len(), 1, "protocol 6 is one frame per message");
        parts.pop()
    }

    /// Next message(s) on the command socket, as one received frame holds them.
    pub fn recv(&self, timeout: Duration) -> Option<Vec<Got>> {
        Self::recv_on(&self.cmd, timeout).map(|f| split(&f))
    }

    /// Sends one request and waits for its single reply.
    pub fn call(&mut self, t: MsgType, ns: &str, topic: &str, payload: &[u8]) -> Got {
        let id = self.next_id();
        self.send(&Self::frame(t, 0, id, ns, topic, payload));
        let mut r = self.recv(Duration::from_secs(5)).unwrap_or_else(|| panic!("no reply to {t:?}"));
        assert_eq!(r.len(), 1);
        let r = r.pop().unwrap();
        assert_eq!(r.header.request_id, id, "reply pairs with the request id");
        assert_eq!(r.header.version, v6::VERSION);
        r
    }

    /// AUTH + ATTACH, asserting both succeed.
    pub fn login(pub_port: u16, sub_port: u16, username: &str, token: &str) -> RawPeer6 {
        Self::login_with_rcvhwm(pub_port, sub_port, username, token, 0)
    }

    /// [`RawPeer6::login`] with a bounded delivery input queue.
    pub fn login_with_rcvhwm(pub_port: u16, sub_port: u16, username: &str, token: &str, rcvhwm: i32) -> RawPeer6 {
        let mut p = RawPeer6::connect_with_rcvhwm(pub_port, sub_port, rcvhwm);
        let body = json!({"username": username, "token": token}).to_string();
        let r = p.call(MsgType::Auth, "", "", body.as_bytes());
        assert_eq!(r.status().as_deref(), Some("AUTH_OK"), "{:?}", r.json());
        assert_eq!(r.json()["protocol"], 6);
        p.session = Some(r.json()["session"].as_str().unwrap().to_owned());
        let id = p.next_id();
        let body = json!({"session": p.session.clone().unwrap(), "token": token}).to_string();
        p.del.send(Self::frame(MsgType::Attach, 0, id, "", "", body.as_bytes()), 0).unwrap();
        let r = Self::recv_on(&p.del, Duration::from_secs(5)).expect("ATTACH reply");
        let r = &split(&r)[0];
        assert_eq!(r.status().as_deref(), Some("ATTACH_OK"), "{:?}", r.json());
        assert_eq!(r.header.request_id, id);
        p
    }

    pub fn sub(&mut self, ns: &str, pattern: &str) -> Got {
        self.call(MsgType::Sub, ns, pattern, b"")
    }

    /// Three admin peers for slow-consumer tests: a subscriber to `ns:>`
    /// whose delivery queue takes only `rcvhwm` frames (a stalled
    /// application), one to `ns:>` that reads everything it is given, and a
    /// publisher.
    pub fn stalled_reader_publisher(
        pub_port: u16,
        sub_port: u16,
        token: &str,
        rcvhwm: i32,
        ns: &str,
    ) -> (RawPeer6, RawPeer6, RawPeer6) {
        let mut stalled = RawPeer6::login_with_rcvhwm(pub_port, sub_port, "admin", token, rcvhwm);
        stalled.sub(ns, ">");
        let mut reader = RawPeer6::login(pub_port, sub_port, "admin", token);
        reader.sub(ns, ">");
        (stalled, reader, RawPeer6::login(pub_port, sub_port, "admin", token))
    }

    /// Sends `n` publishes in batches of `per_batch`; returns the last id.
    pub fn publish_batches(&mut self, ns: &str, topic: &str, n: usize, per_batch: usize, no_ack: bool) -> u32 {
        let mut w = BatchWriter::new();
        let mut last = 0;
        let flag = if no_ack { flags::NO_ACK } else { 0 };
        for i in 0..n {
            last = self.next_id();
            let payload = format!("{i:0100}");
            let mut f = Fields::bare(MsgType::Pub, Format::Bytes, last, 0);
            f.flags = flag;
            f.namespace = ns;
            f.topic = topic;
            w.push(&f, payload.as_bytes()).unwrap();
            if w.len() as usize == per_batch || i + 1 == n {
                self.send(&w.take_frame());
            }
        }
        last
    }

    /// Every delivery arriving within `quiet` of the previous one.
    pub fn drain_deliveries(&mut self, quiet: Duration) -> Vec<Got> {
        self.take_deliveries(usize::MAX, quiet)
    }

    /// Deliveries until `n` have arrived or nothing came for `quiet`. The
    /// broker's PINGs on the delivery socket (drain markers) are answered
    /// with a PONG as they arrive, as every protocol-6 client does, and are
    /// not returned.
    pub fn take_deliveries(&mut self, n: usize, quiet: Duration) -> Vec<Got> {
        let mut out = Vec::new();
        while out.len() < n {
            match Self::recv_on(&self.del, quiet) {
                Some(f) => {
                    let got = split(&f);
                    if got.iter().any(|g| g.header.msg_type == MsgType::Msg) {
                        self.delivery_frames += 1;
                    }
                    for g in got {
                        if g.header.msg_type == MsgType::Ping {
                            self.pings_answered += 1;
                            let pong = Self::frame(MsgType::Pong, 0, g.header.request_id, "", "", b"");
                            self.del.send(&pong, 0).unwrap();
                        } else {
                            out.push(g);
                        }
                    }
                }
                None => break,
            }
        }
        out
    }
}
