//! Publish/subscribe through the real broker: the seed README's flow,
//! wildcard semantics, permissions taking effect at once, snapshots.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use pulsemq::perms::{Role, UserType};
use pulsemq_e2e::raw::RawPeer;
use pulsemq_e2e::{eventually, request, InProcBroker, TestConfig};
use pulsemq_shared::header::flags;
use pulsemq_shared::{Format, MsgType};
use serde_json::json;

const QUIET: Duration = Duration::from_millis(300);

/// Seed README §1: admin → namespace → publisher and subscriber users →
/// grants → K-lines published → `sz000651.kline.>` receives exactly those.
#[test]
fn seed_readme_full_flow() {
    let b = InProcBroker::start(&TestConfig::default());
    assert_eq!(b.admin.username, "admin");
    assert_eq!(b.admin.user_type, "super_admin");
    let ns = b.namespace("market_data");
    let publisher = b.user("publisher_01", UserType::MqNormal);
    let subscriber = b.user("subscriber_01", UserType::MqNormal);
    b.grant(&publisher, ns, Role::Pub);
    b.grant(&subscriber, ns, Role::Sub);

    let mut sub = RawPeer::login(b.pub_port, b.sub_port, "subscriber_01", &subscriber.token);
    assert_eq!(sub.sub("market_data", "sz000651.kline.>").status().as_deref(), Some("SUB_OK"));
    let mut publ = RawPeer::login(b.pub_port, b.sub_port, "publisher_01", &publisher.token);

    let topics = ["sz000651.kline.1m", "sz000651.kline.5m", "sz000651.trade", "sz000002.kline.1m", "sz000651.kline.1m"];
    for (i, t) in topics.iter().enumerate() {
        let kline = json!({"symbol": "sz000651", "close": 10.55 + i as f64 * 0.01}).to_string();
        // Frame 3 claims another publisher: the broker must stamp the real one.
        let id = publ.next_id();
        let mut frames = request(MsgType::Pub, Format::Bytes, 0, id, "market_data", t, kline.as_bytes());
        frames[3] = b"mallory".to_vec();
        publ.send_raw(&frames);
        let ack = publ.recv(Duration::from_secs(5)).unwrap();
        assert_eq!(ack.status().as_deref(), Some("PUB_OK"), "{:?}", ack.json());
    }
    let got = sub.drain_deliveries(QUIET);
    let received: Vec<String> = got.iter().map(|m| m.topic()).collect();
    assert_eq!(received, vec!["sz000651.kline.1m", "sz000651.kline.5m", "sz000651.kline.1m"]);
    for m in &got {
        assert_eq!(m.header.msg_type, MsgType::Msg);
        assert_eq!(m.frames[1], b"market_data");
        assert_eq!(m.frames[3], b"publisher_01", "publisher is stamped from the session");
    }
    let seqs: Vec<u64> = got.iter().map(|m| m.ext().seq).collect();
    assert_eq!(seqs, vec![1, 1, 2], "per-topic sequence numbers");
    assert!(got[0].ext().broker_time_us > 1_700_000_000_000_000);

    // The topics reached the database through the batching writer.
    let stored = eventually(Duration::from_secs(5), || {
        let rows = b.rt.block_on(pulsemq::store::topics::list(b.store(), Some("market_data"))).unwrap();
        (rows.len() == 4).then_some(rows)
    })
    .expect("4 topics registered");
    assert!(stored.iter().any(|t| t.name == "sz000002.kline.1m"));
}

/// One subscriber per pattern across two namespaces; each must receive
/// exactly the topics its pattern matches, once each.
#[test]
fn wildcard_table() {
    let b = InProcBroker::start(&TestConfig::default());
    b.namespace("md");
    b.namespace("other");
    let token = b.admin.token.clone();
    let patterns: &[(&str, &str)] = &[
        ("md", "sz000651.kline.*"),
        ("md", "sz000651.>"),
        ("md", "*.kline.1m"),
        ("md", ">"),
        ("md", "*"),
        ("md", "sz000651.trade"),
        ("md", "*.*"),
        ("other", ">"),
    ];
    let topics: &[(&str, &str)] = &[
        ("md", "sz000651.kline.1m"),
        ("md", "sz000651.kline.5m"),
        ("md", "sz000651.kline"),
        ("md", "sz000651.trade"),
        ("md", "sz000651"),
        ("md", "sz000002.kline.1m"),
        ("other", "sz000651.kline.1m"),
    ];
    let mut subs = Vec::new();
    for (ns, p) in patterns {
        let mut peer = RawPeer::login(b.pub_port, b.sub_port, "admin", &token);
        assert_eq!(peer.sub(ns, p).status().as_deref(), Some("SUB_OK"));
        subs.push(peer);
    }
    let mut publ = RawPeer::login(b.pub_port, b.sub_port, "admin", &token);
    for (ns, t) in topics {
        assert_eq!(publ.publish(ns, t, Format::Bytes, b"x").status().as_deref(), Some("PUB_OK"));
    }
    for ((ns, p), peer) in patterns.iter().zip(&subs) {
        let pat = pulsemq_shared::Pattern::parse(p).unwrap();
        let want: Vec<String> =
            topics.iter().filter(|(tns, t)| tns == ns && pat.matches(t)).map(|(_, t)| t.to_string()).collect();
        let got: Vec<String> = peer.drain_deliveries(QUIET).iter().map(|m| m.topic()).collect();
        assert_eq!(got, want, "pattern {ns}:{p}");
    }
}

/// Overlapping patterns in one session: one delivery per message.
#[test]
fn overlapping_patterns_deliver_once() {
    let b = InProcBroker::start(&TestConfig::default());
    let mut peer = RawPeer::login(b.pub_port, b.sub_port, "admin", &b.admin.token);
    for p in ["sz000651.>", "*.kline.1m", "sz000651.kline.1m", ">"] {
        assert_eq!(peer.sub("md", p).status().as_deref(), Some("SUB_OK"));
    }
    // Subscribing twice to the same pattern is harmless.
    assert_eq!(peer.sub("md", ">").status().as_deref(), Some("SUB_OK"));
    assert_eq!(peer.publish("md", "sz000651.kline.1m", Format::Bytes, b"1").status().as_deref(), Some("PUB_OK"));
    assert_eq!(peer.drain_deliveries(QUIET).len(), 1);
    // UNSUB of one pattern leaves the others.
    assert_eq!(peer.unsub("md", ">").status().as_deref(), Some("UNSUB_OK"));
    assert_eq!(peer.publish("md", "sz000002.trade", Format::Bytes, b"2").status().as_deref(), Some("PUB_OK"));
    assert!(peer.drain_deliveries(QUIET).is_empty(), "no pattern matches sz000002.trade any more");
    assert_eq!(peer.publish("md", "sz000651.trade", Format::Bytes, b"3").status().as_deref(), Some("PUB_OK"));
    assert_eq!(peer.drain_deliveries(QUIET).len(), 1);
}

/// A user without the sub role is refused and receives nothing.
#[test]
fn subscriber_without_sub_role_gets_nothing() {
    let b = InProcBroker::start(&TestConfig::default());
    let ns = b.namespace("md");
    let outsider = b.user("outsider", UserType::MqNormal);
    let other_ns = b.namespace("elsewhere");
    b.grant(&outsider, other_ns, Role::Admin);
    let mut peer = RawPeer::login(b.pub_port, b.sub_port, "outsider", &outsider.token);
    let r = peer.sub("md", ">");
    assert_eq!(r.error_code(), Some(3), "{:?}", r.json());
    let mut admin = RawPeer::login(b.pub_port, b.sub_port, "admin", &b.admin.token);
    for i in 0..10 {
        admin.publish("md", "a.b", Format::Bytes, format!("{i}").as_bytes());
    }
    assert!(peer.drain_deliveries(QUIET).is_empty());
    let _ = ns;
    assert!(
        b.stats().totals.perm_denied >= 1
            || eventually(Duration::from_secs(2), || (b.stats().totals.perm_denied >= 1).then_some(())).is_some()
    );
}

/// Revoking a role removes that namespace's subscriptions at once; the
/// session lives on. Deactivating the user ends the session.
#[test]
fn permission_changes_take_effect_immediately() {
    let b = InProcBroker::start(&TestConfig::default());
    let ns = b.namespace("md");
    let user = b.user("trader", UserType::MqNormal);
    b.grant(&user, ns, Role::Sub);
    let mut sub = RawPeer::login(b.pub_port, b.sub_port, "trader", &user.token);
    assert_eq!(sub.sub("md", ">").status().as_deref(), Some("SUB_OK"));
    let mut admin = RawPeer::login(b.pub_port, b.sub_port, "admin", &b.admin.token);
    admin.publish("md", "t", Format::Bytes, b"before");
    assert_eq!(sub.drain_deliveries(QUIET).len(), 1);

    b.revoke(&user, ns); // returns once the engine applied the new snapshot
    admin.publish("md", "t", Format::Bytes, b"after");
    assert!(sub.drain_deliveries(QUIET).is_empty(), "revoked subscriber receives nothing");
    let pong = sub.call(MsgType::Ping, Format::Bytes, "", "", b"");
    assert_eq!(pong.header.msg_type, MsgType::Pong, "session still alive");
    assert_eq!(sub.sub("md", ">").error_code(), Some(3));

    b.grant(&user, ns, Role::Sub);
    assert_eq!(sub.sub("md", ">").status().as_deref(), Some("SUB_OK"));
    b.set_active(&user, false);
    let notice = sub.recv(Duration::from_secs(2)).expect("the broker says the session ended");
    assert_eq!(notice.error_code(), Some(2));
    let r = sub.query(json!({"type": "permission"}));
    assert_eq!(r.error_code(), Some(2), "session is gone");
    let mut again = RawPeer::connect(b.pub_port, b.sub_port);
    assert_eq!(again.auth("trader", &user.token).error_code(), Some(1), "inactive users cannot AUTH");
}

#[test]
fn admin_kick_ends_sessions_and_connections_are_listed() {
    let b = InProcBroker::start(&TestConfig::default());
    let ns = b.namespace("md");
    let user = b.user("bot", UserType::MqNormal);
    b.grant(&user, ns, Role::Pub);
    let mut p1 = RawPeer::login(b.pub_port, b.sub_port, "bot", &user.token);
    let _p2 = RawPeer::login(b.pub_port, b.sub_port, "bot", &user.token);
    assert_eq!(p1.sub("md", "a.*").status().as_deref(), Some("SUB_OK"));
    p1.publish("md", "a.b", Format::Bytes, b"hello");
    let conns = b.connections();
    let mine: Vec<_> = conns.iter().filter(|c| c.username == "bot").collect();
    assert_eq!(mine.len(), 2);
    let c = mine.iter().find(|c| !c.subscriptions.is_empty()).unwrap();
    assert_eq!(c.subscriptions, vec!["md:a.*".to_string()]);
    assert_eq!((c.msgs_in, c.bytes_in, c.msgs_out), (1, 5, 1));
    assert!(c.attached);
    assert_eq!(c.peer_address, "127.0.0.1");
    let text = serde_json::to_string(&conns).unwrap();
    assert!(!text.contains(&hex::encode(p1.cmd.get_identity().unwrap())), "routing ids never leave the engine");
    assert_eq!(b.kick(&user), 2);
    assert!(b.connections().iter().all(|c| c.username != "bot"));
    assert_eq!(p1.recv(Duration::from_secs(2)).and_then(|r| r.error_code()), Some(2));
}

/// `{"snapshot": true}` replays each matching topic's last value first.
#[test]
fn snapshot_replays_last_values() {
    let b = InProcBroker::start(&TestConfig::default());
    let mut admin = RawPeer::login(b.pub_port, b.sub_port, "admin", &b.admin.token);
    for (t, v) in [("s1.quote", "1"), ("s1.quote", "2"), ("s2.quote", "3"), ("s2.trade", "4")] {
        admin.publish("md", t, Format::String, v.as_bytes());
    }
    let mut sub = RawPeer::login(b.pub_port, b.sub_port, "admin", &b.admin.token);
    let r = sub.call(MsgType::Sub, Format::Bytes, "md", "*.quote", br#"{"snapshot":true}"#);
    assert_eq!(r.status().as_deref(), Some("SUB_OK"));
    let got = sub.drain_deliveries(QUIET);
    let seen: BTreeMap<String, (Vec<u8>, u64)> =
        got.iter().map(|m| (m.topic(), (m.frames[4].clone(), m.ext().seq))).collect();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen["s1.quote"], (b"2".to_vec(), 2));
    assert_eq!(seen["s2.quote"], (b"3".to_vec(), 1));
    assert!(got.iter().all(|m| m.header.flags & flags::SNAPSHOT != 0));
    admin.publish("md", "s1.quote", Format::String, b"5");
    let live = sub.drain_deliveries(QUIET);
    assert_eq!(live.len(), 1);
    assert_eq!(live[0].header.flags & flags::SNAPSHOT, 0);
    assert_eq!(live[0].ext().seq, 3);
}

/// NO_ACK: silence on success, an ERROR carrying the request id on failure.
#[test]
fn no_ack_publishing() {
    let b = InProcBroker::start(&TestConfig::default());
    let mut sub = RawPeer::login(b.pub_port, b.sub_port, "admin", &b.admin.token);
    sub.sub("md", ">");
    let mut p = RawPeer::login(b.pub_port, b.sub_port, "admin", &b.admin.token);
    for i in 0..100 {
        p.publish_no_ack("md", "tick", format!("{i}").as_bytes());
    }
    let bad = p.publish_no_ack("md", "bad topic", b"x");
    let err = p.recv(Duration::from_secs(2)).expect("failure is reported");
    assert_eq!(err.error_code(), Some(4));
    assert_eq!(err.header.request_id, bad);
    assert!(p.recv(QUIET).is_none(), "successful NO_ACK publishes are silent");
    let got = sub.drain_deliveries(QUIET);
    assert_eq!(got.len(), 100);
    let seqs: Vec<u64> = got.iter().map(|m| m.ext().seq).collect();
    assert_eq!(seqs, (1..=100).collect::<Vec<_>>(), "order preserved");
}

/// QUERY shows only what the session may see.
#[test]
fn queries_are_filtered_by_permission() {
    let b = InProcBroker::start(&TestConfig::default());
    let md = b.namespace("md");
    b.namespace("secret");
    let user = b.user("q", UserType::MqNormal);
    b.grant(&user, md, Role::Pub);
    let mut admin = RawPeer::login(b.pub_port, b.sub_port, "admin", &b.admin.token);
    admin.publish("md", "b.x", Format::Bytes, b"1");
    admin.publish("md", "a.x", Format::Bytes, b"1");
    admin.publish("secret", "s", Format::Bytes, b"1");
    let mut q = RawPeer::login(b.pub_port, b.sub_port, "q", &user.token);
    let r = q.query(json!({"type": "namespaces"}));
    assert_eq!(r.status().as_deref(), Some("QUERY_OK"));
    assert_eq!(r.json()["data"], json!([{"name": "md", "topics": ["a.x", "b.x"], "topic_count": 2}]));
    assert_eq!(q.query(json!({"type": "topics", "namespace": "md"})).json()["data"], json!(["a.x", "b.x"]));
    assert_eq!(q.query(json!({"type": "topics", "namespace": "secret"})).error_code(), Some(3));
    assert_eq!(
        q.query(json!({"type": "permission"})).json()["data"],
        json!({"type": "mq_normal", "namespaces": {"md": "PUB"}})
    );
    let all = admin.query(json!({"type": "namespaces"})).json()["data"].clone();
    let names: BTreeSet<&str> = all.as_array().unwrap().iter().map(|n| n["name"].as_str().unwrap()).collect();
    assert_eq!(names, BTreeSet::from(["md", "secret"]));
}
