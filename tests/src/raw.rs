//! A raw protocol peer: two DEALERs and nothing else, so tests can send
//! exactly the frames they want (including broken ones) and see exactly
//! what the broker answers.

use std::time::Duration;

use pulsemq_shared::header::flags;
use pulsemq_shared::{Ext, Format, Header, MsgType};
use serde_json::{json, Value};

use crate::{body, request};

/// A reply or delivery as received.
#[derive(Debug, Clone)]
pub struct Received {
    pub header: Header,
    pub frames: Vec<Vec<u8>>,
}

impl Received {
    pub fn json(&self) -> Value {
        body(&self.frames)
    }

    pub fn error_code(&self) -> Option<u64> {
        (self.header.msg_type == MsgType::Error).then(|| self.json()["error_code"].as_u64().unwrap())
    }

    pub fn status(&self) -> Option<String> {
        (self.header.msg_type == MsgType::Ack).then(|| self.json()["status"].as_str().unwrap().to_owned())
    }

    pub fn topic(&self) -> String {
        String::from_utf8(self.frames[2].clone()).unwrap()
    }

    pub fn ext(&self) -> Ext {
        Ext::decode(&self.frames[5]).unwrap()
    }
}

pub struct RawPeer {
    _ctx: zmq::Context,
    pub cmd: zmq::Socket,
    pub del: zmq::Socket,
    next_id: u32,
    pub session: Option<String>,
}

fn random_rid() -> Vec<u8> {
    let mut rid: Vec<u8> = (0..16).map(|_| rand::random::<u8>()).collect();
    rid[0] |= 0x80;
    rid
}

impl RawPeer {
    /// Connects both DEALERs (no AUTH yet).
    pub fn connect(pub_port: u16, sub_port: u16) -> RawPeer {
        Self::connect_with_ids(pub_port, sub_port, &random_rid(), &random_rid())
    }

    pub fn connect_with_ids(pub_port: u16, sub_port: u16, cmd_rid: &[u8], del_rid: &[u8]) -> RawPeer {
        Self::connect_from("127.0.0.1", pub_port, sub_port, cmd_rid, del_rid)
    }

    /// Connects from the loopback address `source` (any of 127.0.0.0/8 on
    /// Linux), so a test can play a second machine.
    pub fn connect_from(source: &str, pub_port: u16, sub_port: u16, cmd_rid: &[u8], del_rid: &[u8]) -> RawPeer {
        let ctx = zmq::Context::new();
        let cmd = ctx.socket(zmq::DEALER).unwrap();
        cmd.set_identity(cmd_rid).unwrap();
        cmd.set_linger(0).unwrap();
        cmd.connect(&format!("tcp://{source}:0;127.0.0.1:{pub_port}")).unwrap();
        let del = ctx.socket(zmq::DEALER).unwrap();
        del.set_identity(del_rid).unwrap();
        del.set_linger(0).unwrap();
        del.set_rcvhwm(0).unwrap();
        del.connect(&format!("tcp://{source}:0;127.0.0.1:{sub_port}")).unwrap();
        RawPeer { _ctx: ctx, cmd, del, next_id: 1, session: None }
    }

    pub fn next_id(&mut self) -> u32 {
        self.next_id += 1;
        self.next_id
    }

    pub fn send_raw(&self, frames: &[Vec<u8>]) {
        self.cmd.send_multipart(frames, 0).unwrap();
    }

    fn recv_on(sock: &zmq::Socket, timeout: Duration) -> Option<Received> {
        if sock.poll(zmq::POLLIN, timeout.as_millis() as i64).unwrap() == 0 {
            return None;
        }
        let frames = sock.recv_multipart(0).unwrap();
        let header = Header::decode(&frames[0]).expect("broker sends valid headers");
        Some(Received { header, frames })
    }

    /// Next message on the command socket.
    pub fn recv(&self, timeout: Duration) -> Option<Received> {
        Self::recv_on(&self.cmd, timeout)
    }

    /// Next message on the delivery socket.
    pub fn recv_delivery(&self, timeout: Duration) -> Option<Received> {
        Self::recv_on(&self.del, timeout)
    }

    /// Sends a request and waits for its reply (2 s).
    pub fn call(&mut self, t: MsgType, format: Format, ns: &str, topic: &str, payload: &[u8]) -> Received {
        let id = self.next_id();
        self.send_raw(&request(t, format, 0, id, ns, topic, payload));
        let r = self.recv(Duration::from_secs(5)).unwrap_or_else(|| panic!("no reply to {t:?}"));
        assert_eq!(r.header.request_id, id, "reply pairs with the request id");
        r
    }

    /// AUTH; returns the reply.
    pub fn auth(&mut self, username: &str, token: &str) -> Received {
        let p = json!({"username": username, "token": token}).to_string();
        let r = self.call(MsgType::Auth, Format::Bytes, "", "", p.as_bytes());
        if r.status().as_deref() == Some("AUTH_OK") {
            self.session = Some(r.json()["session"].as_str().unwrap().to_owned());
        }
        r
    }

    /// ATTACH on the delivery port; returns the reply (from the delivery socket).
    pub fn attach(&mut self, token: &str) -> Received {
        let id = self.next_id();
        let p = json!({"session": self.session.clone().unwrap_or_default(), "token": token}).to_string();
        self.del.send_multipart(request(MsgType::Attach, Format::Bytes, 0, id, "", "", p.as_bytes()), 0).unwrap();
        let r = self.recv_delivery(Duration::from_secs(5)).expect("ATTACH reply");
        assert_eq!(r.header.request_id, id);
        r
    }

    /// AUTH + ATTACH, asserting both succeed.
    pub fn login(pub_port: u16, sub_port: u16, username: &str, token: &str) -> RawPeer {
        let mut p = RawPeer::connect(pub_port, sub_port);
        let r = p.auth(username, token);
        assert_eq!(r.status().as_deref(), Some("AUTH_OK"), "{:?}", r.json());
        let r = p.attach(token);
        assert_eq!(r.status().as_deref(), Some("ATTACH_OK"), "{:?}", r.json());
        p
    }

    pub fn sub(&mut self, ns: &str, pattern: &str) -> Received {
        self.call(MsgType::Sub, Format::Bytes, ns, pattern, b"")
    }

    pub fn unsub(&mut self, ns: &str, pattern: &str) -> Received {
        self.call(MsgType::Unsub, Format::Bytes, ns, pattern, b"")
    }

    pub fn publish(&mut self, ns: &str, topic: &str, format: Format, payload: &[u8]) -> Received {
        self.call(MsgType::Pub, format, ns, topic, payload)
    }

    /// NO_ACK publish: nothing comes back unless it fails.
    pub fn publish_no_ack(&mut self, ns: &str, topic: &str, payload: &[u8]) -> u32 {
        let id = self.next_id();
        self.send_raw(&request(MsgType::Pub, Format::Bytes, flags::NO_ACK, id, ns, topic, payload));
        id
    }

    pub fn query(&mut self, q: Value) -> Received {
        self.call(MsgType::Query, Format::String, "", "", q.to_string().as_bytes())
    }

    /// All deliveries arriving within `quiet` of each other.
    pub fn drain_deliveries(&self, quiet: Duration) -> Vec<Received> {
        let mut out = Vec::new();
        while let Some(r) = self.recv_delivery(quiet) {
            out.push(r);
        }
        out
    }
}
