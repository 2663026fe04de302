//! Session life: heartbeats and expiry freeing connection slots; slow
//! consumers dropped per session without touching anyone else.

use std::time::{Duration, Instant};

use pulsemq::perms::{Role, UserType};
use pulsemq_e2e::raw::RawPeer;
use pulsemq_e2e::{eventually, request, InProcBroker, TestConfig};
use pulsemq_shared::{Format, MsgType};

/// A session that stops PINGing is expired after 2 × ping_interval +
/// ping_timeout and its connection slot is free again; one that keeps
/// PINGing stays.
#[test]
fn silent_sessions_expire_and_free_their_slot() {
    let cfg = TestConfig { ping_interval: 1, ping_timeout: 1, max_connections_per_user: 1, ..TestConfig::default() };
    let b = InProcBroker::start(&cfg);
    let ns = b.namespace("md");
    let user = b.user("feed", UserType::MqNormal);
    b.grant(&user, ns, Role::Pub);
    let admin = b.admin.clone();

    let silent = RawPeer::login(b.pub_port, b.sub_port, "feed", &user.token);
    let mut blocked = RawPeer::connect(b.pub_port, b.sub_port);
    assert_eq!(blocked.auth("feed", &user.token).error_code(), Some(7), "slot taken");

    let mut alive = RawPeer::login(b.pub_port, b.sub_port, "admin", &admin.token);
    let started = Instant::now();
    let gone = eventually(Duration::from_secs(10), || {
        let pong = alive.call(MsgType::Ping, Format::Bytes, "", "", b"");
        assert_eq!(pong.header.msg_type, MsgType::Pong);
        std::thread::sleep(Duration::from_millis(300));
        b.connections().iter().all(|c| c.username != "feed").then_some(())
    });
    assert!(gone.is_some(), "silent session was not expired");
    let waited = started.elapsed();
    assert!(waited >= Duration::from_secs(2), "expired too early: {waited:?}");
    assert!(b.connections().iter().any(|c| c.username == "admin"), "the PINGing session lives on");
    assert!(
        b.stats().totals.sessions_expired >= 1
            || eventually(Duration::from_secs(2), || (b.stats().totals.sessions_expired >= 1).then_some(())).is_some()
    );

    // The slot is free: a new session is accepted; the old routing id is
    // no longer authenticated.
    let mut again = RawPeer::connect(b.pub_port, b.sub_port);
    assert_eq!(again.auth("feed", &user.token).status().as_deref(), Some("AUTH_OK"));
    let mut old = silent;
    assert_eq!(old.publish("md", "x", Format::Bytes, b"1").error_code(), Some(2));
}

/// A subscriber that never reads fills its pipe and then loses messages —
/// counted for it alone — while a subscriber that keeps up gets every
/// message in order and the publisher is never held up by the stalled one.
///
/// "Keeps up" is made true by construction: the publisher never runs more
/// than a window ahead of the fast reader, so a busy CI machine cannot turn
/// the fast subscriber into a slow one.
#[test]
fn slow_consumer_drops_alone() {
    let cfg = TestConfig { hwm: 200, ..TestConfig::default() };
    let b = InProcBroker::start(&cfg);
    let token = b.admin.token.clone();
    const N: usize = 3000;
    const SIZE: usize = 8 * 1024;

    let mut slow = RawPeer::login(b.pub_port, b.sub_port, "admin", &token);
    slow.del.set_rcvhwm(10).unwrap();
    slow.sub("md", "book.>");
    let mut fast = RawPeer::login(b.pub_port, b.sub_port, "admin", &token);
    fast.sub("md", "book.>");
    let fast_count = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = fast_count.clone();
    let fast_reader = std::thread::spawn(move || {
        let mut seqs = Vec::with_capacity(N);
        while seqs.len() < N {
            match fast.recv_delivery(Duration::from_secs(10)) {
                Some(m) => seqs.push(m.ext().seq),
                None => break,
            }
            counter.store(seqs.len(), std::sync::atomic::Ordering::Release);
        }
        seqs
    });

    let mut publ = RawPeer::login(b.pub_port, b.sub_port, "admin", &token);
    let payload = vec![7u8; SIZE];
    let started = Instant::now();
    let mut acked = 0;
    for window in 0..N / 50 {
        for i in 0..50u32 {
            publ.send_raw(&request(
                MsgType::Pub,
                Format::Bytes,
                0,
                (window * 50) as u32 + i + 1,
                "md",
                "book.sz000651",
                &payload,
            ));
        }
        for _ in 0..50 {
            let r = publ.recv(Duration::from_secs(10)).expect("publisher is never blocked by a subscriber");
            assert_eq!(r.status().as_deref(), Some("PUB_OK"));
            acked += 1;
        }
        let caught_up = eventually(Duration::from_secs(10), || {
            (fast_count.load(std::sync::atomic::Ordering::Acquire) + 100 >= acked).then_some(())
        });
        assert!(caught_up.is_some(), "the fast reader stopped reading");
    }
    let elapsed = started.elapsed();
    assert_eq!(acked, N);
    eprintln!(
        "published {N} × {SIZE} B in {elapsed:?} ({:.0} msg/s) with a stalled subscriber (paced by the fast one)",
        N as f64 / elapsed.as_secs_f64()
    );

    let seqs = fast_reader.join().unwrap();
    assert_eq!(seqs.len(), N, "fast subscriber lost messages");
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "fast subscriber saw a gap or reorder");

    let conns = b.connections();
    let drops: Vec<(u64, bool)> =
        conns.iter().filter(|c| !c.subscriptions.is_empty()).map(|c| (c.drops, c.slow)).collect();
    assert_eq!(drops.len(), 2);
    let slow_info = drops.iter().find(|(d, _)| *d > 0).expect("the stalled subscriber is counted as dropping");
    assert!(slow_info.1, "and flagged slow");
    assert_eq!(drops.iter().filter(|(d, _)| *d == 0).count(), 1, "the fast one dropped nothing");
    let topic_drops = eventually(Duration::from_secs(3), || {
        let s = b.stats();
        s.topics.iter().find(|t| &*t.topic == "book.sz000651" && t.drops > 0).map(|t| t.drops)
    })
    .expect("drops counted per topic");
    assert_eq!(topic_drops, slow_info.0);

    // The stalled subscriber, once it reads again, sees the gap in the
    // sequence numbers: the next message after the drops carries seq N + 1.
    let mut got = slow.drain_deliveries(Duration::from_millis(500));
    assert!(!got.is_empty() && got.len() < N);
    assert_eq!(publ.publish("md", "book.sz000651", Format::Bytes, b"after").status().as_deref(), Some("PUB_OK"));
    got.extend(slow.drain_deliveries(Duration::from_millis(500)));
    let seqs: Vec<u64> = got.iter().map(|m| m.ext().seq).collect();
    assert_eq!(*seqs.last().unwrap(), N as u64 + 1);
    assert!(seqs.windows(2).any(|w| w[1] > w[0] + 1), "a gap is visible: {} received of {}", got.len(), N + 1);
}
