//! Protocol 6 against the real broker over TCP: one frame a message,
//! batches both ways, cumulative ACKs, errors answered one by one, byte
//! buffering for subscribers that fall behind, and v5 side by side.

use std::time::Duration;

use pulsemq::perms::{Role, UserType};
use pulsemq_e2e::raw::RawPeer;
use pulsemq_e2e::raw6::{split, RawPeer6};
use pulsemq_e2e::{eventually, InProcBroker, TestConfig};
use pulsemq_shared::header::flags;
use pulsemq_shared::{v6, Format, MsgType};

const QUIET: Duration = Duration::from_millis(1500);

/// Reads command-port replies until the cumulative ACK for `last` arrives;
/// returns everything read.
fn replies_until_ack(p: &RawPeer6, last: u32) -> Vec<pulsemq_e2e::raw6::Got> {
    let mut got = Vec::new();
    while !got.iter().any(|g: &pulsemq_e2e::raw6::Got| g.is_cumulative_ack() && g.header.request_id == last) {
        let more = p.recv(Duration::from_secs(5)).unwrap_or_else(|| panic!("no ACK up to {last}; got {got:?}"));
        got.extend(more);
    }
    got
}

#[test]
fn a_batch_of_publishes_is_confirmed_cumulatively_and_delivered_in_batches() {
    let b = InProcBroker::start(&TestConfig::default());
    b.namespace("md");
    let token = b.admin.token.clone();
    let mut sub = RawPeer6::login(b.pub_port, b.sub_port, "admin", &token);
    assert_eq!(sub.sub("md", "t.>").status().as_deref(), Some("SUB_OK"));
    let mut publ = RawPeer6::login(b.pub_port, b.sub_port, "admin", &token);

    let last = publ.publish_batches("md", "t.a", 200, 200, false);
    let replies = replies_until_ack(&publ, last);
    // One round handled the whole batch: one binary ACK confirms all 200.
    assert!(replies.iter().all(|r| r.is_cumulative_ack()), "{replies:?}");
    // The last ACK names the last publish and carries its topic sequence.
    assert_eq!(v6::cumulative_ack_seq(&replies.last().unwrap().payload), Some(200));
    assert!(replies.len() <= 2, "{} ACKs for one batch", replies.len());

    let got = sub.take_deliveries(200, QUIET);
    assert_eq!(got.len(), 200);
    for (i, m) in got.iter().enumerate() {
        assert_eq!(m.header.msg_type, MsgType::Msg);
        assert_eq!((m.namespace.as_str(), m.topic.as_str(), m.publisher.as_str()), ("md", "t.a", "admin"));
        assert_eq!(m.ext.seq, i as u64 + 1, "in order, no gap");
        assert!(m.ext.broker_time_us > 0);
        assert_eq!(m.payload, format!("{i:0100}").as_bytes());
        assert_eq!(m.header.flags & flags::NO_ACK, 0, "inbound-only flags are not forwarded");
    }
    assert!(sub.delivery_frames < 200, "deliveries were batched: {} frames for 200 messages", sub.delivery_frames);

    // A lone publish is not held back for a batch: it arrives alone, at once.
    publ.publish_batches("md", "t.b", 1, 1, true);
    let got = sub.take_deliveries(1, Duration::from_secs(2));
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].topic, "t.b");
}

#[test]
fn failures_are_answered_alone_with_their_id_and_in_order() {
    let b = InProcBroker::start(&TestConfig::default());
    let md = b.namespace("md");
    b.namespace("secret");
    let feed = b.user("feed", UserType::MqNormal);
    b.grant(&feed, md, Role::Pub);
    let mut p = RawPeer6::login(b.pub_port, b.sub_port, "feed", &feed.token);

    let mut w = v6::BatchWriter::new();
    let plan = [
        ("md", "a.b", true),
        ("md", "a.c", true),
        ("secret", "a.b", false),
        ("md", "bad..topic", false),
        ("md", "a.d", true),
    ];
    let mut ids = Vec::new();
    for (ns, topic, _) in plan {
        let id = p.next_id();
        ids.push(id);
        let mut f = v6::Fields::bare(MsgType::Pub, Format::Bytes, id, 0);
        f.namespace = ns;
        f.topic = topic;
        w.push(&f, b"x").unwrap();
    }
    p.send(&w.take_frame());
    let replies = replies_until_ack(&p, ids[4]);
    let seen: Vec<(MsgType, u32, Option<u64>)> =
        replies.iter().map(|r| (r.header.msg_type, r.header.request_id, r.error_code())).collect();
    assert_eq!(
        seen,
        [
            (MsgType::Ack, ids[1], None),
            (MsgType::Error, ids[2], Some(3)),
            (MsgType::Error, ids[3], Some(4)),
            (MsgType::Ack, ids[4], None),
        ],
        "successes before a failure are confirmed before it"
    );
}

#[test]
fn a_burst_larger_than_the_pipes_reaches_a_late_reader_whole() {
    // Pipes of one frame on both sides: all that holds the burst (15 MB)
    // beyond the kernel's socket buffers is the broker's byte buffer.
    let cfg = TestConfig { hwm: 1, ..TestConfig::default() };
    let b = InProcBroker::start(&cfg);
    b.namespace("md");
    let token = b.admin.token.clone();
    let mut sub = RawPeer6::login_with_rcvhwm(b.pub_port, b.sub_port, "admin", &token, 1);
    sub.sub("md", ">");
    let mut publ = RawPeer6::login(b.pub_port, b.sub_port, "admin", &token);
    // The subscriber reads nothing until the whole burst is in the broker.
    let total = 100_000;
    publ.publish_batches("md", "burst", total, 64, true);
    let ping = publ.call(MsgType::Ping, "", "", b"");
    assert_eq!(ping.header.msg_type, MsgType::Pong);
    std::thread::sleep(Duration::from_millis(300));

    let got = sub.take_deliveries(total, QUIET);
    assert_eq!(got.len(), total, "every message of the burst arrives");
    assert!(got.iter().enumerate().all(|(i, m)| m.ext.seq == i as u64 + 1), "in order, no gap");
    let stats = eventually(Duration::from_secs(3), || {
        let s = b.stats();
        (s.totals.msgs_out >= total as u64).then_some(s)
    })
    .expect("stats catch up");
    assert_eq!(stats.totals.drops, 0);
}

#[test]
fn beyond_its_byte_limit_only_the_stalled_subscriber_loses_messages() {
    let cfg = TestConfig { hwm: 20, session_buffer_bytes: 1024 * 1024, ..TestConfig::default() };
    let b = InProcBroker::start(&cfg);
    b.namespace("md");
    let (mut stalled, mut fast, mut publ) =
        RawPeer6::stalled_reader_publisher(b.pub_port, b.sub_port, &b.admin.token, 4, "md");

    // ~44 MB in all (far beyond 1 MiB + both ZeroMQ pipes + the kernel's
    // socket buffers), sent in windows the fast reader keeps up with.
    let total = 300_000;
    let mut fast_got = Vec::new();
    for _ in 0..(total / 5_000) {
        publ.publish_batches("md", "t", 5_000, 100, true);
        let want = fast_got.len() + 5_000;
        fast_got.extend(fast.take_deliveries(5_000, Duration::from_secs(5)));
        assert_eq!(fast_got.len(), want, "the fast subscriber keeps up");
    }
    assert!(fast_got.iter().enumerate().all(|(i, m)| m.ext.seq == i as u64 + 1));

    let late = stalled.take_deliveries(total, QUIET);
    assert!(late.len() < total, "a 1 MiB buffer cannot hold 44 MB");
    assert!(late.len() > 1_000, "but it held what fits: {}", late.len());
    // What it got is in order (sequence numbers show where it lost).
    assert!(late.windows(2).all(|w| w[0].ext.seq < w[1].ext.seq));
    let drops = b.drops_of("md:>");
    assert_eq!(drops.len(), 2);
    assert_eq!(drops[0], 0, "the fast subscriber lost nothing: {drops:?}");
    assert_eq!(drops[1] as usize, total - late.len(), "drops counted exactly: {drops:?}");
}

#[test]
fn protocol_5_and_6_peers_talk_to_each_other() {
    let b = InProcBroker::start(&TestConfig::default());
    b.namespace("md");
    let token = b.admin.token.clone();
    let mut sub5 = RawPeer::login(b.pub_port, b.sub_port, "admin", &token);
    assert_eq!(sub5.sub("md", "x.*").status().as_deref(), Some("SUB_OK"));
    let mut sub6 = RawPeer6::login(b.pub_port, b.sub_port, "admin", &token);
    sub6.sub("md", "x.*");
    let mut pub5 = RawPeer::login(b.pub_port, b.sub_port, "admin", &token);
    let mut pub6 = RawPeer6::login(b.pub_port, b.sub_port, "admin", &token);

    let r = pub5.publish("md", "x.five", Format::String, b"from v5");
    assert_eq!(r.status().as_deref(), Some("PUB_OK"));
    let last = pub6.publish_batches("md", "x.six", 3, 3, false);
    replies_until_ack(&pub6, last);

    let got5 = sub5.drain_deliveries(QUIET);
    assert_eq!(got5.len(), 4);
    assert!(got5.iter().all(|m| m.frames.len() == 6 && m.header.version == 5));
    assert_eq!(got5[0].topic(), "x.five");
    assert_eq!(got5[1].topic(), "x.six");
    let got6 = sub6.take_deliveries(4, QUIET);
    assert_eq!(got6.len(), 4);
    assert_eq!((got6[0].topic.as_str(), &got6[0].payload[..]), ("x.five", &b"from v5"[..]));
    assert_eq!(got6[0].header.format, Format::String);
    assert_eq!(got6[3].ext.seq, 3);
}

#[test]
fn malformed_frames_are_answered_and_cost_nothing_else() {
    let b = InProcBroker::start(&TestConfig::default());
    b.namespace("md");
    let token = b.admin.token.clone();
    let mut p = RawPeer6::login(b.pub_port, b.sub_port, "admin", &token);
    let doc: serde_json::Value = serde_json::from_str(include_str!("../../shared/testdata/frames_v6.json")).unwrap();
    for v in doc["invalid"].as_array().unwrap() {
        let name = v["name"].as_str().unwrap();
        let frame = hex::decode(v["frame"].as_str().unwrap()).unwrap();
        p.send(&frame);
        let r = p.recv(Duration::from_secs(5)).unwrap_or_else(|| panic!("{name}: no answer"));
        assert_eq!(r[0].error_code(), v["error_code"].as_u64(), "{name}: {:?}", r[0].json());
    }
    // A v6 message in two frames is refused with its id.
    p.cmd.send_multipart([RawPeer6::frame(MsgType::Ping, 0, 77, "", "", b""), b"extra".to_vec()], 0).unwrap();
    let r = p.recv(Duration::from_secs(5)).expect("answer");
    assert_eq!((r[0].error_code(), r[0].header.request_id), (Some(9), 77));
    // The session and the broker carry on.
    assert_eq!(p.call(MsgType::Ping, "", "", b"").header.msg_type, MsgType::Pong);
    let mut other = RawPeer6::login(b.pub_port, b.sub_port, "admin", &token);
    assert_eq!(other.sub("md", "a").status().as_deref(), Some("SUB_OK"));
    // And a frame the broker sends always splits cleanly.
    assert_eq!(split(&v6::cumulative_ack(5, 1, 0))[0].header.request_id, 5);
}
