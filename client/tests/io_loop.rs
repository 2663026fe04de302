//! Socket-level checks of the client's I/O thread against a scripted peer.
//!
//! This is NOT the client's end-to-end test: those run against the real
//! `pulsemq` broker in the workspace's `tests/` crate. The scripted peer
//! below only answers by the protocol's rules so that the I/O thread's
//! pairing, pipelining, dispatch, re-authentication and shutdown can be
//! exercised over real TCP sockets without a broker.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pulsemq_client::{Client, ClientError, ClientOptions, Format};
use pulsemq_shared::header::flags;
use pulsemq_shared::payloads::ErrorBody;
use pulsemq_shared::v6::{self, Fields};
use pulsemq_shared::{ErrorCode, Ext, MsgType, Pattern};

const TOKEN: &str = "good-token";

#[derive(Default)]
struct Log {
    /// (type, namespace, topic) of every request received.
    seen: Vec<(MsgType, String, String)>,
}

struct Peer {
    pub_port: u16,
    sub_port: u16,
    /// Set to make the peer forget every session (a broker restart).
    forget: Arc<AtomicBool>,
    log: Arc<Mutex<Log>>,
    stop: Arc<AtomicBool>,
}

fn port_of(s: &zmq::Socket) -> u16 {
    let ep = s.get_last_endpoint().unwrap().unwrap();
    ep.rsplit(':').next().unwrap().parse().unwrap()
}

fn reply(id: u32, t: MsgType, body: &[u8]) -> Vec<u8> {
    v6::encode(&Fields::bare(t, Format::String, id, 0), body).unwrap()
}

fn ack(id: u32, body: serde_json::Value) -> Vec<u8> {
    reply(id, MsgType::Ack, &serde_json::to_vec(&body).unwrap())
}

fn error(id: u32, code: ErrorCode) -> Vec<u8> {
    let body = ErrorBody::new(code, format!("{code:?}"));
    reply(id, MsgType::Error, &serde_json::to_vec(&body).unwrap())
}

fn send(sock: &zmq::Socket, to: &[u8], frame: Vec<u8>) {
    sock.send(to, zmq::SNDMORE).unwrap();
    sock.send(frame, 0).unwrap();
}

/// The messages of one received protocol-6 frame (a batch or one message).
fn messages(frame: &[u8]) -> Vec<v6::Message<'_>> {
    if v6::is_batch(frame) {
        v6::batch_items(frame).unwrap().map(|(_, m)| m.unwrap()).collect()
    } else {
        vec![v6::decode_message(frame).unwrap()]
    }
}

impl Peer {
    fn start() -> Peer {
        let ctx = zmq::Context::new();
        let cmd = ctx.socket(zmq::ROUTER).unwrap();
        let dlv = ctx.socket(zmq::ROUTER).unwrap();
        cmd.set_router_handover(true).unwrap();
        cmd.bind("tcp://127.0.0.1:*").unwrap();
        dlv.bind("tcp://127.0.0.1:*").unwrap();
        let (pub_port, sub_port) = (port_of(&cmd), port_of(&dlv));
        let forget = Arc::new(AtomicBool::new(false));
        let log = Arc::new(Mutex::new(Log::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (f2, l2, s2) = (forget.clone(), log.clone(), stop.clone());
        std::thread::spawn(move || serve(cmd, dlv, f2, l2, s2));
        Peer { pub_port, sub_port, forget, log, stop }
    }

    fn opts(&self, token: &str) -> ClientOptions {
        ClientOptions::new("127.0.0.1", self.pub_port, self.sub_port, "alice", token)
            .request_timeout(Duration::from_secs(3))
            .connect_timeout(Duration::from_secs(3))
    }

    fn count(&self, t: MsgType) -> usize {
        self.log.lock().unwrap().seen.iter().filter(|s| s.0 == t).count()
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn serve(cmd: zmq::Socket, dlv: zmq::Socket, forget: Arc<AtomicBool>, log: Arc<Mutex<Log>>, stop: Arc<AtomicBool>) {
    let mut authed: HashSet<Vec<u8>> = HashSet::new();
    let mut delivery_peer: Option<Vec<u8>> = None;
    let mut subs: Vec<(String, String)> = Vec::new();
    let mut seq = 0u64;
    while !stop.load(Ordering::SeqCst) {
        if forget.swap(false, Ordering::SeqCst) {
            authed.clear();
            subs.clear();
        }
        let mut items = [cmd.as_poll_item(zmq::POLLIN), dlv.as_poll_item(zmq::POLLIN)];
        zmq::poll(&mut items, 50).unwrap();
        if items[1].is_readable() {
            let parts = dlv.recv_multipart(0).unwrap();
            assert_eq!(parts.len(), 2, "routing id + one frame");
            let f = v6::decode_message(&parts[1]).unwrap();
            assert_eq!(f.header.msg_type, MsgType::Attach);
            delivery_peer = Some(parts[0].clone());
            send(&dlv, &parts[0], ack(f.header.request_id, serde_json::json!({"status": "ATTACH_OK"})));
        }
        if !items[0].is_readable() {
            continue;
        }
        let parts = cmd.recv_multipart(0).unwrap();
        assert_eq!(parts.len(), 2, "routing id + one frame");
        let who = parts[0].clone();
        assert_eq!(who.len(), 16);
        assert_ne!(who[0], 0);
        // As the broker does: successful PUBs of one frame are confirmed by
        // one cumulative ACK, sent before any other reply and at the end.
        let mut owed: Option<u32> = None;
        let flush = |owed: &mut Option<u32>| {
            if let Some(id) = owed.take() {
                send(&cmd, &who, v6::cumulative_ack(id, 0, 0));
            }
        };
        for f in messages(&parts[1]) {
            let id = f.header.request_id;
            assert_ne!(id, 0, "requests carry an id");
            log.lock().unwrap().seen.push((f.header.msg_type, f.namespace.to_owned(), f.topic.to_owned()));
            if f.header.msg_type == MsgType::Auth {
                flush(&mut owed);
                let body: serde_json::Value = serde_json::from_slice(f.payload).unwrap();
                if body["token"] == TOKEN {
                    authed.insert(who.clone());
                    let ok = serde_json::json!({"status": "AUTH_OK", "user_id": 7, "session": "ab12",
                        "protocol": 6, "ping_interval": 1});
                    send(&cmd, &who, ack(id, ok));
                } else {
                    send(&cmd, &who, error(id, ErrorCode::AuthFailed));
                }
                continue;
            }
            if !authed.contains(&who) {
                flush(&mut owed);
                send(&cmd, &who, error(id, ErrorCode::NotAuthenticated));
                continue;
            }
            if f.header.msg_type == MsgType::Pub {
                if f.topic == "deny" {
                    flush(&mut owed);
                    send(&cmd, &who, error(id, ErrorCode::PermissionDenied));
                    continue;
                }
                if f.header.flags & flags::NO_ACK == 0 {
                    owed = Some(id);
                }
                let matched =
                    subs.iter().any(|(ns, p)| ns == f.namespace && Pattern::parse(p).unwrap().matches(f.topic));
                if let (true, Some(d)) = (matched, &delivery_peer) {
                    seq += 1;
                    let m = Fields {
                        msg_type: MsgType::Msg,
                        format: f.header.format,
                        flags: f.header.flags,
                        request_id: 0,
                        timestamp_ms: f.header.timestamp_ms,
                        namespace: f.namespace,
                        topic: f.topic,
                        publisher: "alice",
                        ext: Ext { seq, broker_time_us: 1 },
                    };
                    send(&dlv, d, v6::encode(&m, f.payload).unwrap());
                }
                continue;
            }
            flush(&mut owed);
            match f.header.msg_type {
                MsgType::Sub => {
                    subs.push((f.namespace.to_owned(), f.topic.to_owned()));
                    send(&cmd, &who, ack(id, serde_json::json!({"status": "SUB_OK"})));
                }
                MsgType::Unsub => {
                    subs.retain(|s| !(s.0 == f.namespace && s.1 == f.topic));
                    send(&cmd, &who, ack(id, serde_json::json!({"status": "UNSUB_OK"})));
                }
                MsgType::Query => {
                    let data = serde_json::json!(["a.x", "b.x"]);
                    send(&cmd, &who, ack(id, serde_json::json!({"status": "QUERY_OK", "data": data})));
                }
                MsgType::Ping => send(&cmd, &who, reply(id, MsgType::Pong, b"")),
                MsgType::Bye => {
                    authed.remove(&who);
                    send(&cmd, &who, ack(id, serde_json::json!({"status": "BYE_OK"})));
                }
                _ => send(&cmd, &who, error(id, ErrorCode::UnknownType)),
            }
        }
        flush(&mut owed);
    }
}

async fn eventually<F: FnMut() -> bool>(what: &str, mut f: F) {
    for _ in 0..100 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn io_thread_against_a_scripted_peer() {
    let peer = Peer::start();

    // Wrong token: typed error.
    let err = Client::connect(peer.opts("bad")).await.unwrap_err();
    assert!(matches!(err, ClientError::AuthFailed(_)), "{err:?}");

    let client = Client::connect(peer.opts(TOKEN)).await.unwrap();
    assert_eq!(client.session().unwrap().user_id, 7);

    // Overlapping subscriptions; the same key twice means one SUB on the wire.
    let mut a1 = client.subscribe("md", "a.>").await.unwrap();
    let mut x = client.subscribe("md", "*.x").await.unwrap();
    let a2 = client.subscribe("md", "a.>").await.unwrap();
    assert_eq!(peer.count(MsgType::Sub), 2);

    // Pipelined publishes from many tasks: each gets its own ACK.
    let mut tasks = Vec::new();
    for i in 0..200 {
        let c = client.clone();
        tasks.push(tokio::spawn(async move {
            let topic = ["a.x", "a.y", "b.x"][i % 3];
            c.publish("md", topic, Format::String, format!("{i}")).await.unwrap().request_id
        }));
    }
    let mut ids = HashSet::new();
    for t in tasks {
        assert!(ids.insert(t.await.unwrap()));
    }
    let mut got_a1 = 0;
    let mut got_x = 0;
    while got_a1 < 134 {
        let m = tokio::time::timeout(Duration::from_secs(3), a1.next()).await.unwrap().unwrap();
        assert!(m.topic.starts_with("a."));
        assert!(m.seq > 0);
        got_a1 += 1;
    }
    while got_x < 133 {
        let m = tokio::time::timeout(Duration::from_secs(3), x.next()).await.unwrap().unwrap();
        assert!(m.topic.ends_with(".x"));
        got_x += 1;
    }

    // Local checks fail before anything is sent.
    let big = vec![b'a'; 9000];
    assert!(matches!(client.publish("md", "a.x", Format::String, big).await, Err(ClientError::TooLarge { .. })));
    assert!(matches!(
        client.publish("md", "a.*", Format::Bytes, b"x".to_vec()).await,
        Err(ClientError::InvalidName(_))
    ));

    // Errors: with ACK the caller gets it; with NO_ACK it is collected.
    assert!(matches!(
        client.publish("md", "deny", Format::Bytes, b"x".to_vec()).await,
        Err(ClientError::PermissionDenied(_))
    ));
    let id = client.publish_no_ack("md", "deny", Format::Bytes, b"x".to_vec()).await.unwrap();
    let mut errors = Vec::new();
    eventually("the NO_ACK failure", || {
        errors.extend(client.take_async_errors());
        !errors.is_empty()
    })
    .await;
    assert_eq!(errors[0].request_id, id);
    assert!(matches!(errors[0].error, ClientError::PermissionDenied(_)));

    assert_eq!(client.query_topics("md").await.unwrap(), vec!["a.x", "b.x"]);
    client.ping().await.unwrap();

    // The broker forgets the session: the request fails, the client
    // re-authenticates and re-subscribes by itself.
    peer.forget.store(true, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let r = client.publish("md", "b.x", Format::Bytes, b"x".to_vec()).await;
    // (A heartbeat may have noticed first, in which case the publish was
    // held until the new session and succeeded.)
    assert!(matches!(r, Ok(_) | Err(ClientError::NotAuthenticated(_))), "{r:?}");
    eventually("re-authentication", || peer.count(MsgType::Auth) >= 3 && peer.count(MsgType::Sub) >= 4).await;
    client.publish("md", "a.z", Format::Bytes, b"again".to_vec()).await.unwrap();
    let m = tokio::time::timeout(Duration::from_secs(3), a1.next()).await.unwrap().unwrap();
    assert_eq!(m.topic, "a.z");
    assert_eq!(client.stats().reauths, 1);

    // UNSUB only when the last local subscription of a key goes.
    drop(a2);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(peer.count(MsgType::Unsub), 0);
    a1.unsubscribe().await.unwrap();
    assert_eq!(peer.count(MsgType::Unsub), 1);

    // Heartbeats (ping_interval 1 s from AUTH_OK).
    let pings = peer.count(MsgType::Ping);
    tokio::time::sleep(Duration::from_millis(1300)).await;
    assert!(peer.count(MsgType::Ping) > pings);

    client.close().await;
    assert_eq!(peer.count(MsgType::Bye), 1);
    assert!(matches!(client.publish("md", "a.x", Format::Bytes, b"x".to_vec()).await, Err(ClientError::Disconnected)));
    // The publish refused during the lost session was resent in the new
    // one, so `*.x` may still hold it; then the stream ends.
    let mut rest = Vec::new();
    while let Some(m) = x.next().await {
        rest.push(m.topic);
    }
    assert!(rest.len() <= 1 && rest.iter().all(|t| t == "b.x"), "{rest:?}");
}

#[tokio::test]
async fn connect_times_out_without_a_broker() {
    // A bound-then-closed port: nothing answers.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let opts = ClientOptions::new("127.0.0.1", port, port, "u", "t").connect_timeout(Duration::from_millis(300));
    let start = std::time::Instant::now();
    let err = Client::connect(opts).await.unwrap_err();
    assert!(matches!(err, ClientError::Timeout(_)), "{err:?}");
    assert!(start.elapsed() < Duration::from_secs(2));
}
