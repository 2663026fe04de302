//! Every ERROR code of design.md §3.2, and bad input that must be answered
//! without disturbing anyone else.

use std::time::Duration;

use pulsemq::perms::{Role, UserType};
use pulsemq_e2e::raw::RawPeer;
use pulsemq_e2e::{request, InProcBroker, TestConfig};
use pulsemq_shared::header::flags;
use pulsemq_shared::{Format, Header, MsgType};
use serde_json::json;

fn code(r: &pulsemq_e2e::raw::Received) -> u64 {
    r.error_code().unwrap_or_else(|| panic!("expected an ERROR, got {:?} {:?}", r.header.msg_type, r.json()))
}

#[test]
fn error_codes_1_to_11() {
    let cfg = TestConfig { max_connections_per_user: 2, max_subscriptions_per_conn: 3, ..TestConfig::default() };
    let b = InProcBroker::start(&cfg);
    let ns = b.namespace("md");
    let reader = b.user("reader", UserType::MqNormal);
    b.grant(&reader, ns, Role::Sub);
    let console = b.user("console", UserType::AdminOnly);

    // 1: wrong token, unknown user, malformed AUTH, admin_only — the first
    // two with the same message (no username enumeration).
    let mut p = RawPeer::connect(b.pub_port, b.sub_port);
    let wrong = p.auth("reader", "00000000000000000000000000000000");
    let unknown = p.auth("nobody", "00000000000000000000000000000000");
    assert_eq!((code(&wrong), code(&unknown)), (1, 1));
    assert_eq!(wrong.json()["error_message"], unknown.json()["error_message"]);
    assert_eq!(code(&p.call(MsgType::Auth, Format::Bytes, "", "", b"not json")), 1);
    assert_eq!(code(&p.auth("console", &console.token)), 1);

    // 2: commands before AUTH.
    let mut anon = RawPeer::connect(b.pub_port, b.sub_port);
    assert_eq!(code(&anon.publish("md", "a", Format::Bytes, b"x")), 2);
    assert_eq!(code(&anon.sub("md", "a")), 2);
    assert_eq!(code(&anon.query(json!({"type": "namespaces"}))), 2);

    // 3: no pub role.
    let mut r = RawPeer::login(b.pub_port, b.sub_port, "reader", &reader.token);
    assert_eq!(code(&r.publish("md", "a", Format::Bytes, b"x")), 3);

    // 4: invalid names and patterns.
    let mut admin = RawPeer::login(b.pub_port, b.sub_port, "admin", &b.admin.token);
    for (ns, topic) in
        [("md", "a..b"), ("md", "a.*"), ("md", "a.b.c.d"), ("bad ns", "a"), ("system", "a"), ("md", "x\n")]
    {
        assert_eq!(code(&admin.publish(ns, topic, Format::Bytes, b"x")), 4, "{ns:?} {topic:?}");
    }
    for pattern in ["a.>.b", "", "a.b.c.d", "a#"] {
        assert_eq!(code(&admin.sub("md", pattern)), 4, "{pattern:?}");
    }
    let mut bad_utf8 = request(MsgType::Pub, Format::Bytes, 0, 77, "md", "a", b"x");
    bad_utf8[2] = vec![0xff, 0xfe];
    admin.send_raw(&bad_utf8);
    assert_eq!(code(&admin.recv(Duration::from_secs(2)).unwrap()), 4);

    // 5: too large for the format, STRING not UTF-8, unknown format, bad compression bits.
    let big = vec![b'a'; Format::String.limit() + 1];
    assert_eq!(code(&admin.publish("md", "a", Format::String, &big)), 5);
    let at_limit = admin.publish("md", "a", Format::String, &big[..Format::String.limit()]);
    assert_eq!(at_limit.status().as_deref(), Some("PUB_OK"), "exactly the limit is accepted");
    assert_eq!(code(&admin.publish("md", "a", Format::String, &[0xc3, 0x28])), 5);
    let mut unknown_format = request(MsgType::Pub, Format::Bytes, 0, 78, "md", "a", b"x");
    unknown_format[0][2] = 9;
    admin.send_raw(&unknown_format);
    assert_eq!(code(&admin.recv(Duration::from_secs(2)).unwrap()), 5);
    admin.send_raw(&request(MsgType::Pub, Format::Bytes, flags::COMPRESSED, 79, "md", "a", b"x"));
    assert_eq!(code(&admin.recv(Duration::from_secs(2)).unwrap()), 5, "compressed without an algorithm");

    // 6: unknown type, and types only the broker sends.
    let mut unknown_type = request(MsgType::Ping, Format::Bytes, 0, 80, "", "", b"");
    unknown_type[0][1] = 0x42;
    admin.send_raw(&unknown_type);
    assert_eq!(code(&admin.recv(Duration::from_secs(2)).unwrap()), 6);
    assert_eq!(code(&admin.call(MsgType::Msg, Format::Bytes, "md", "a", b"")), 6);
    assert_eq!(code(&admin.call(MsgType::Ack, Format::Bytes, "", "", b"")), 6);

    // 7: connection limit (2 per user here).
    let _second = RawPeer::login(b.pub_port, b.sub_port, "reader", &reader.token);
    let mut third = RawPeer::connect(b.pub_port, b.sub_port);
    assert_eq!(code(&third.auth("reader", &reader.token)), 7);

    // 8: subscription limit (3 per session here).
    for p in ["a", "b", "c"] {
        assert_eq!(admin.sub("md", p).status().as_deref(), Some("SUB_OK"));
    }
    assert_eq!(code(&admin.sub("md", "d")), 8);
    assert_eq!(admin.sub("md", "a").status().as_deref(), Some("SUB_OK"), "re-subscribing is not a new subscription");

    // 9: malformed: bad SUB options, wrong frame counts, truncated header, length mismatch.
    assert_eq!(code(&admin.call(MsgType::Sub, Format::Bytes, "md", "e", b"{not json")), 9);
    let good = request(MsgType::Ping, Format::Bytes, 0, 81, "", "", b"");
    admin.send_raw(&good[..5]);
    let r = admin.recv(Duration::from_secs(2)).unwrap();
    assert_eq!((code(&r), r.header.request_id), (9, 81), "request id still echoed");
    let mut seven = good.clone();
    seven.push(vec![]);
    admin.send_raw(&seven);
    assert_eq!(code(&admin.recv(Duration::from_secs(2)).unwrap()), 9);
    let mut truncated = good.clone();
    truncated[0].truncate(7);
    admin.send_raw(&truncated);
    assert_eq!(code(&admin.recv(Duration::from_secs(2)).unwrap()), 9);
    let mut mismatch = request(MsgType::Pub, Format::Bytes, 0, 82, "md", "a", b"abc");
    mismatch[0][4..8].copy_from_slice(&10u32.to_be_bytes());
    admin.send_raw(&mismatch);
    assert_eq!(code(&admin.recv(Duration::from_secs(2)).unwrap()), 9);
    admin.send_raw(&[b"just one frame".to_vec()]);
    assert_eq!(code(&admin.recv(Duration::from_secs(2)).unwrap()), 9);

    // 10: query errors.
    assert_eq!(code(&admin.call(MsgType::Query, Format::String, "", "", b"[]")), 10);
    assert_eq!(code(&admin.query(json!({"type": "everything"}))), 10);
    assert_eq!(code(&admin.query(json!({"type": "topics"}))), 10);

    // 11: attach failures.
    let mut x = RawPeer::connect(b.pub_port, b.sub_port);
    x.session = Some("feedface".into());
    assert_eq!(code(&x.attach(&b.admin.token)), 11);
    let mut z = RawPeer::login(b.pub_port, b.sub_port, "admin", &b.admin.token);
    assert_eq!(code(&z.attach(&reader.token)), 11, "token of another user");
    assert_eq!(code(&z.call(MsgType::Attach, Format::Bytes, "", "", b"{}")), 11, "ATTACH on the command port");

    // After all this the broker still serves everyone.
    let mut fresh = RawPeer::connect(b.pub_port, b.sub_port);
    assert_eq!(code(&fresh.call(MsgType::Ping, Format::Bytes, "", "", b"")), 2, "PING without a session says so");
    assert_eq!(admin.call(MsgType::Ping, Format::Bytes, "", "", b"").header.msg_type, MsgType::Pong);
    assert_eq!(admin.publish("md", "still.alive", Format::Bytes, b"1").status().as_deref(), Some("PUB_OK"));
}

/// 12: a flood of wrong tokens from one address is throttled (even the
/// right token is refused until the window passes) and every failure that
/// was checked is audited.
#[test]
fn auth_flood_is_throttled_and_audited() {
    let b = InProcBroker::start(&TestConfig::default());
    let mut other = RawPeer::login(b.pub_port, b.sub_port, "admin", &b.admin.token);
    let mut guesser = RawPeer::connect(b.pub_port, b.sub_port);
    let mut codes = Vec::new();
    for i in 0..15 {
        codes.push(code(&guesser.auth("admin", &format!("{i:032x}"))));
    }
    assert!(codes.iter().filter(|c| **c == 1).count() <= 10, "{codes:?}");
    assert_eq!(*codes.last().unwrap(), 12, "{codes:?}");
    // Even the right token is refused while throttled: guessing is pointless.
    assert_eq!(code(&guesser.auth("admin", &b.admin.token)), 12);

    let audited = pulsemq_e2e::eventually(Duration::from_secs(5), || {
        let f = pulsemq::store::audit::AuditFilter { op_type: Some("auth_failure".into()), ..Default::default() };
        let n = b.rt.block_on(pulsemq::store::audit::count(b.store(), &f)).unwrap();
        (n == 10).then_some(n)
    });
    assert!(audited.is_some(), "the 10 checked failures are audited");
    // Sessions opened before keep working.
    assert_eq!(other.publish("md", "a", Format::Bytes, b"1").status().as_deref(), Some("PUB_OK"));
}

/// A request as the original Python client (protocol 4) sends it: version
/// 4, request id 0, its client id in the publisher frame.
fn v4(t: MsgType, fmt: Format, ns: &str, topic: &str, payload: &[u8]) -> Vec<Vec<u8>> {
    let mut f = request(t, fmt, 0, 0, ns, topic, payload);
    f[0][0] = 4;
    f[3] = b"publisher_01".to_vec();
    f
}

/// Protocol 4 (the original Python client): AUTH, PUB and QUERY answered
/// with the original reply shapes; its SUB path refused with a clear error.
#[test]
fn protocol_4_requests_get_original_reply_shapes() {
    let b = InProcBroker::start(&TestConfig::default());
    b.namespace("md");
    let p = RawPeer::connect(b.pub_port, b.sub_port);
    let auth = format!(r#"{{"username": "admin", "token": "{}"}}"#, b.admin.token);
    p.send_raw(&v4(MsgType::Auth, Format::Bytes, "", "", auth.as_bytes()));
    let r = p.recv(Duration::from_secs(2)).unwrap();
    assert_eq!(
        (r.header.version, r.header.msg_type, r.header.format, r.header.request_id),
        (4, MsgType::Ack, Format::String, 0)
    );
    assert_eq!(String::from_utf8(r.frames[4].clone()).unwrap(), r#"{"status": "AUTH_OK", "user_id": 1}"#);
    assert!(r.frames[1].is_empty() && r.frames[2].is_empty() && r.frames[3].is_empty() && r.frames[5].is_empty());

    let mut sub = RawPeer::login(b.pub_port, b.sub_port, "admin", &b.admin.token);
    sub.sub("md", ">");
    p.send_raw(&v4(MsgType::Pub, Format::String, "md", "sz000651.kline.1m", br#"{"close":10.55}"#));
    let r = p.recv(Duration::from_secs(2)).unwrap();
    assert_eq!(String::from_utf8(r.frames[4].clone()).unwrap(), r#"{"status": "PUB_OK"}"#);
    let m = sub.recv_delivery(Duration::from_secs(2)).expect("v4 publish reaches v5 subscribers");
    assert_eq!(m.frames[3], b"admin", "publisher stamped from the session, not frame 3");

    p.send_raw(&v4(MsgType::Query, Format::String, "", "", br#"{"type": "namespaces"}"#));
    let r = p.recv(Duration::from_secs(2)).unwrap();
    let v: serde_json::Value = serde_json::from_slice(&r.frames[4]).unwrap();
    assert_eq!(
        v,
        json!({"status": "QUERY_OK", "data": [{"name": "md", "topics": ["sz000651.kline.1m"], "topic_count": 1}]})
    );

    p.send_raw(&v4(MsgType::Sub, Format::Bytes, "md", ">", b""));
    let r = p.recv(Duration::from_secs(2)).unwrap();
    assert_eq!((r.header.version, code(&r)), (4, 6));

    p.send_raw(&v4(MsgType::Ping, Format::Bytes, "", "", b""));
    let r = p.recv(Duration::from_secs(2)).unwrap();
    assert_eq!((r.header.version, r.header.msg_type, r.header.format), (4, MsgType::Pong, Format::Bytes));
    // The original client answers broker PINGs with PONG: swallowed, never an ERROR.
    p.send_raw(&v4(MsgType::Pong, Format::Bytes, "", "", b""));
    assert!(p.recv(Duration::from_millis(300)).is_none());
}

/// Issue 21 §14. The original client sets no routing id, so libzmq gives
/// it `00` + a 4-byte counter that grows by one per connection: shown here
/// on a plain ROUTER. Anyone can set such an id on a DEALER, so a session
/// keyed by it alone could be taken over from another machine for its
/// 10-minute life. The broker binds such sessions to the address that
/// authenticated them; client-chosen (random 16-byte) ids are unaffected.
#[test]
fn sessions_under_libzmq_assigned_ids_are_bound_to_their_address() {
    let ctx = zmq::Context::new();
    let router = ctx.socket(zmq::ROUTER).unwrap();
    router.bind("tcp://127.0.0.1:*").unwrap();
    let endpoint = router.get_last_endpoint().unwrap().unwrap();
    let mut ids = Vec::new();
    for _ in 0..2 {
        let d = ctx.socket(zmq::DEALER).unwrap();
        d.connect(&endpoint).unwrap();
        d.send("hi", 0).unwrap();
        ids.push(router.recv_multipart(0).unwrap().remove(0));
    }
    assert!(ids.iter().all(|id| id.len() == 5 && id[0] == 0), "{ids:?}");
    let n = |id: &[u8]| u32::from_be_bytes([id[1], id[2], id[3], id[4]]);
    assert_eq!(n(&ids[1]), n(&ids[0]).wrapping_add(1), "sequential, hence guessable from a neighbour");

    let b = InProcBroker::start(&TestConfig::default());
    b.namespace("md");
    let libzmq_id = [0u8, 0x6b, 0x8b, 0x45, 0x67];
    let mut watcher = RawPeer::login(b.pub_port, b.sub_port, "admin", &b.admin.token);
    watcher.sub("md", ">");
    let owner = RawPeer::connect_with_ids(b.pub_port, b.sub_port, &libzmq_id, b"owner-delivery");
    let auth = format!(r#"{{"username": "admin", "token": "{}"}}"#, b.admin.token);
    owner.send_raw(&v4(MsgType::Auth, Format::String, "", "", auth.as_bytes()));
    assert!(owner.recv(Duration::from_secs(2)).unwrap().status().is_some());
    owner.send_raw(&v4(MsgType::Pub, Format::String, "md", "t", b"1"));
    assert_eq!(owner.recv(Duration::from_secs(2)).unwrap().status().as_deref(), Some("PUB_OK"));
    drop(owner);
    std::thread::sleep(Duration::from_millis(200));

    // The same id from another machine (127.0.0.2) gets nothing.
    let thief = RawPeer::connect_from("127.0.0.2", b.pub_port, b.sub_port, &libzmq_id, b"thief-delivery");
    for (t, ns, topic, payload) in
        [(MsgType::Pub, "md", "t", &b"2"[..]), (MsgType::Query, "", "", br#"{"type": "namespaces"}"#)]
    {
        thief.send_raw(&v4(t, Format::String, ns, topic, payload));
        let r = thief.recv(Duration::from_secs(2)).expect("an answer");
        assert_eq!(code(&r), 2, "{t:?} under a stolen libzmq id");
    }
    let first = watcher.recv_delivery(Duration::from_secs(2)).expect("the owner's publish");
    assert_eq!(first.frames[4], b"1");
    assert!(watcher.recv_delivery(Duration::from_millis(300)).is_none(), "the thief published nothing");
    drop(thief);
    std::thread::sleep(Duration::from_millis(200));

    // A client-chosen id is not checked against the address: the SDKs
    // reconnect under the same random id, and it is as secret as a token.
    let mut random = RawPeer::connect(b.pub_port, b.sub_port);
    assert_eq!(random.auth("admin", &b.admin.token).status().as_deref(), Some("AUTH_OK"));
    // The owner's own address still reaches its session (a new TCP
    // connection of the same host, e.g. after a reconnect).
    let again = RawPeer::connect_with_ids(b.pub_port, b.sub_port, &libzmq_id, b"owner-delivery-2");
    again.send_raw(&v4(MsgType::Pub, Format::String, "md", "t", b"3"));
    assert_eq!(again.recv(Duration::from_secs(2)).unwrap().status().as_deref(), Some("PUB_OK"));
    assert_eq!(watcher.recv_delivery(Duration::from_secs(2)).expect("delivered").frames[4], b"3");
}

/// `limits.max_topics_per_user` bounds the topics one user creates over all
/// namespaces (an `mq_super` may create namespaces by publishing); ERROR 13
/// names the limit, and other users are not affected.
#[test]
fn a_user_creates_at_most_max_topics_per_user() {
    let b = InProcBroker::start(&TestConfig { max_topics_per_user: 2, ..TestConfig::default() });
    let feed = b.user("feed", UserType::MqSuper);
    let mut p = RawPeer::login(b.pub_port, b.sub_port, "feed", &feed.token);
    assert!(p.call(MsgType::Pub, Format::String, "n1", "a", b"1").status().is_some());
    assert!(p.call(MsgType::Pub, Format::String, "n2", "b", b"1").status().is_some());
    let r = p.call(MsgType::Pub, Format::String, "n3", "c", b"1");
    assert_eq!(code(&r), 13);
    assert!(r.json()["error_message"].as_str().unwrap().contains("limits.max_topics_per_user"), "{:?}", r.json());
    assert!(p.call(MsgType::Pub, Format::String, "n1", "a", b"2").status().is_some(), "existing topics still work");
    let mut admin = RawPeer::login(b.pub_port, b.sub_port, "admin", &b.admin.token);
    assert!(admin.call(MsgType::Pub, Format::String, "n3", "c", b"1").status().is_some(), "another user has room");
}

/// A peer hammering the broker with garbage and oversized messages does
/// not slow down or disconnect a normal publisher/subscriber pair.
#[test]
fn garbage_from_one_peer_costs_others_nothing() {
    let b = InProcBroker::start(&TestConfig::default());
    let mut sub = RawPeer::login(b.pub_port, b.sub_port, "admin", &b.admin.token);
    sub.sub("md", ">");
    let mut publ = RawPeer::login(b.pub_port, b.sub_port, "admin", &b.admin.token);
    let garbage = RawPeer::connect(b.pub_port, b.sub_port);
    let huge = vec![0u8; 11 * 1024 * 1024];
    for i in 0..200u32 {
        match i % 5 {
            0 => garbage.send_raw(&[vec![1, 2, 3]]),
            1 => garbage.send_raw(&[
                vec![0u8; 20],
                vec![],
                vec![],
                vec![],
                vec![],
                vec![],
                vec![],
                vec![],
                vec![],
                vec![],
            ]),
            2 => garbage.send_raw(&request(MsgType::Pub, Format::Bytes, 0, i, "md", "x", b"no auth")),
            3 => {
                let mut h = Header::new(MsgType::Pub, Format::Bytes, 0, 0, i).encode().to_vec();
                h[1] = 0xEE;
                garbage.send_raw(&[h, vec![], vec![], vec![], vec![], vec![]]);
            }
            _ => {}
        }
        let r = publ.publish("md", "tick", Format::Bytes, &i.to_be_bytes());
        assert_eq!(r.status().as_deref(), Some("PUB_OK"));
    }
    // An authenticated BYTES payload over the 10 MiB limit: ERROR 5, nothing delivered.
    assert_eq!(code(&publ.publish("md", "big", Format::Bytes, &huge)), 5);
    let got = sub.drain_deliveries(Duration::from_millis(300));
    assert_eq!(got.len(), 200);
    assert!(got.iter().all(|m| m.topic() == "tick"));
    // Every piece of garbage got its answer.
    let mut answers = 0;
    while let Some(r) = garbage.recv(Duration::from_millis(200)) {
        assert!(r.error_code().is_some());
        answers += 1;
    }
    assert_eq!(answers, 160);
}

/// Issue 21 §1, the part libzmq allows: the delivery port only ever takes
/// ATTACH, PING and PONG, so it refuses frames over 64 KiB before the engine
/// (or any buffer of the broker's) sees them: libzmq drops the connection.
/// The command port still takes frames up to the largest payload limit.
#[test]
fn the_delivery_port_refuses_big_frames_before_anything_is_buffered() {
    let b = InProcBroker::start(&TestConfig::default());
    let mut sub = RawPeer::login(b.pub_port, b.sub_port, "admin", &b.admin.token);
    sub.sub("md", ">");
    let mut publ = RawPeer::login(b.pub_port, b.sub_port, "admin", &b.admin.token);
    let stranger = RawPeer::connect(b.pub_port, b.sub_port);
    let small = request(MsgType::Pub, Format::Bytes, 0, 7, "md", "x", b"small");
    stranger.del.send_multipart(&small, 0).unwrap();
    let r = stranger.recv_delivery(Duration::from_secs(2)).expect("a small frame is answered");
    assert_eq!(code(&r), 6, "the delivery port takes only ATTACH and PING");
    let big = request(MsgType::Pub, Format::Bytes, 0, 8, "md", "x", &vec![0u8; 1024 * 1024]);
    stranger.del.send_multipart(&big, 0).unwrap();
    assert!(stranger.recv_delivery(Duration::from_millis(500)).is_none(), "a 1 MiB frame is never read");
    // Everyone else goes on; the command port still takes a 1 MiB payload.
    let r = publ.publish("md", "t", Format::Bytes, &vec![1u8; 1024 * 1024]);
    assert_eq!(r.status().as_deref(), Some("PUB_OK"));
    assert_eq!(sub.drain_deliveries(Duration::from_millis(500)).len(), 1);
}

/// A client that pipelines acknowledged publishes and never reads the
/// replies: once `broker.hwm` replies wait for it (and its TCP buffers are
/// full), further replies to it are dropped and counted — the engine never
/// blocks on it, another client is served meanwhile, and every publish is
/// accounted for: replies received + replies dropped = publishes sent.
#[test]
fn a_client_that_never_reads_its_replies_loses_replies_not_the_broker() {
    let b = InProcBroker::start(&TestConfig { hwm: 20, ..TestConfig::default() });
    b.namespace("md");
    let ctx = zmq::Context::new();
    let slow = ctx.socket(zmq::DEALER).unwrap();
    // Small kernel and pipe buffers, so the broker's side fills quickly.
    slow.set_rcvbuf(4096).unwrap();
    slow.set_rcvhwm(1).unwrap();
    slow.set_linger(0).unwrap();
    slow.connect(&format!("tcp://127.0.0.1:{}", b.pub_port)).unwrap();
    let auth = json!({"username": "admin", "token": b.admin.token}).to_string();
    slow.send_multipart(request(MsgType::Auth, Format::Bytes, 0, 1, "", "", auth.as_bytes()), 0).unwrap();
    assert_eq!(slow.poll(zmq::POLLIN, 5000).unwrap(), 1, "AUTH reply");
    let reply = slow.recv_multipart(0).unwrap();
    assert_eq!(pulsemq_e2e::body(&reply)["status"], "AUTH_OK");

    let mut sent = 0u32;
    let dropped = loop {
        for _ in 0..5_000 {
            sent += 1;
            slow.send_multipart(request(MsgType::Pub, Format::Bytes, 0, sent, "md", "t", b"x"), 0).unwrap();
        }
        let d = pulsemq_e2e::eventually(Duration::from_millis(1500), || {
            Some(b.stats().totals.replies_dropped).filter(|&d| d > 0)
        });
        if let Some(d) = d {
            break d;
        }
        assert!(sent < 400_000, "no reply dropped after {sent} unread publishes");
    };
    assert!(dropped > 0);

    // Everyone else is served as usual meanwhile.
    let mut other = RawPeer::login(b.pub_port, b.sub_port, "admin", &b.admin.token);
    assert_eq!(other.publish("md", "u", Format::Bytes, b"fine").status().as_deref(), Some("PUB_OK"));

    // The slow client finally reads: what was not dropped arrives, in order.
    let mut received = 0u32;
    let mut last_id = 0u32;
    while slow.poll(zmq::POLLIN, 1000).unwrap() == 1 {
        let r = slow.recv_multipart(0).unwrap();
        let h = Header::decode(&r[0]).unwrap();
        assert_eq!(h.msg_type, MsgType::Ack, "{:?}", pulsemq_e2e::body(&r));
        assert!(h.request_id > last_id, "replies keep their order");
        last_id = h.request_id;
        received += 1;
    }
    let accounted = pulsemq_e2e::eventually(Duration::from_secs(3), || {
        let dropped = b.stats().totals.replies_dropped;
        (u64::from(received) + dropped == u64::from(sent)).then_some(dropped)
    });
    assert!(accounted.is_some(), "{sent} publishes, {received} replies, {} dropped", b.stats().totals.replies_dropped);
}
