//! What one hostile or buggy peer can make the broker spend (issue 21),
//! against the real broker process: each test shows the cost is bounded
//! and that the broker keeps serving.

use std::time::Duration;

use pulsemq_e2e::raw::RawPeer;
use pulsemq_e2e::{request, BinaryBroker, TestConfig};
use pulsemq_shared::{Format, MsgType};

/// Peak resident memory of a process (VmHWM), in KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM line")
}

/// A topic or pattern of 16 MiB of dots (a v5 frame may be that large) is
/// refused with ERROR 4 before anything splits it, the error echoes a
/// short form of it, and the broker's peak memory grows by little more
/// than the frame itself. (Splitting it first once cost 16 bytes per dot.)
#[test]
fn huge_names_cost_no_more_than_their_frame() {
    let b = BinaryBroker::start(&TestConfig::default());
    let pid = b.pid();
    let mut p = RawPeer::login(b.pub_port, b.sub_port, "admin", &b.admin.token);
    let dots = ".".repeat(16 << 20);
    let before = peak_rss_kib(pid);
    for t in [MsgType::Sub, MsgType::Pub, MsgType::Unsub] {
        let id = p.next_id();
        p.send_raw(&request(t, Format::Bytes, 0, id, "md", &dots, b"x"));
        let r = p.recv(Duration::from_secs(20)).unwrap_or_else(|| panic!("no answer to {t:?}"));
        assert_eq!(r.header.request_id, id);
        assert_eq!(r.error_code(), Some(4), "{t:?}: {:?}", r.json());
        let text = r.json()["error_message"].as_str().unwrap().to_owned();
        assert!(text.len() < 300, "{t:?}: an error message of {} bytes", text.len());
        assert!(text.contains(&format!("({} bytes)", dots.len())), "{text}");
    }
    let grown_mib = (peak_rss_kib(pid).saturating_sub(before)) / 1024;
    assert!(grown_mib < 120, "peak RSS grew by {grown_mib} MiB for a 16 MiB name");
    // Control characters in a name cannot inflate the JSON error body.
    let id = p.next_id();
    let ctl = "\u{1}".repeat(5000);
    p.send_raw(&request(MsgType::Sub, Format::Bytes, 0, id, "md", &ctl, b""));
    let r = p.recv(Duration::from_secs(5)).expect("answer");
    assert_eq!(r.error_code(), Some(4));
    assert!(r.frames[4].len() < 400, "error body of {} bytes", r.frames[4].len());
    // The session and the broker carry on.
    assert_eq!(p.sub("md", "a.*").status().as_deref(), Some("SUB_OK"));
}

/// A client that repeats `SUB {"snapshot": true}` on a subscription it
/// already has cannot make the broker replay every last value each time:
/// one repeat per second per session, ERROR 12 for the others, while a new
/// subscription always gets its snapshot.
#[test]
fn repeated_snapshot_subs_are_rate_limited() {
    let b = BinaryBroker::start(&TestConfig::default());
    let token = b.admin.token.clone();
    let mut publ = RawPeer::login(b.pub_port, b.sub_port, "admin", &token);
    let topics = 500;
    for i in 0..topics {
        assert_eq!(publ.publish("md", &format!("t.n{i}"), Format::Bytes, b"v").status().as_deref(), Some("PUB_OK"));
    }
    let mut sub = RawPeer::login(b.pub_port, b.sub_port, "admin", &token);
    let started = std::time::Instant::now();
    let (mut ok, mut limited) = (0, 0);
    for _ in 0..20 {
        let r = sub.call(MsgType::Sub, Format::Bytes, "md", "t.*", br#"{"snapshot":true}"#);
        match (r.status().as_deref(), r.error_code()) {
            (Some("SUB_OK"), _) => ok += 1,
            (_, Some(12)) => limited += 1,
            other => panic!("unexpected reply {other:?}"),
        }
    }
    let elapsed = started.elapsed().as_secs() as usize;
    let replayed = sub.drain_deliveries(Duration::from_millis(700)).len();
    assert!(ok >= 2 && limited >= 1, "first SUB and one repeat pass, the rest are limited: {ok} ok, {limited} limited");
    assert!(ok <= 2 + elapsed, "{ok} replays in {elapsed} s");
    assert_eq!(replayed, ok * topics, "each accepted SUB replayed every topic once");
    // A new subscription always gets its snapshot, limit or not.
    let r = sub.call(MsgType::Sub, Format::Bytes, "md", "t.n7", br#"{"snapshot":true}"#);
    assert_eq!(r.status().as_deref(), Some("SUB_OK"));
    assert_eq!(sub.drain_deliveries(Duration::from_millis(500)).len(), 1);
}

/// A failed ATTACH (the token travels on the delivery port too) is audited
/// and throttled like a failed AUTH: after the free failures from one
/// address, ERROR 12 instead of another check.
#[test]
fn failed_attaches_are_audited_and_throttled() {
    let b = BinaryBroker::start(&TestConfig::default());
    let mut p = RawPeer::connect(b.pub_port, b.sub_port);
    let mut codes = Vec::new();
    for _ in 0..12 {
        p.session = Some("00".repeat(16));
        codes.push(p.attach("0".repeat(32).as_str()).error_code().unwrap());
    }
    let free = pulsemq::engine::AUTH_MAX_FAILURES as usize;
    assert!(codes[..free].iter().all(|&c| c == 11), "{codes:?}");
    assert!(codes[free..].iter().all(|&c| c == 12), "{codes:?}");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let rows = pulsemq_e2e::eventually(Duration::from_secs(5), || {
        rt.block_on(async {
            let store = pulsemq::store::Store::open(&b.db_path()).await.ok()?;
            let filter =
                pulsemq::store::audit::AuditFilter { op_type: Some("auth_failure".into()), ..Default::default() };
            let rows = pulsemq::store::audit::query(&store, &filter).await.ok()?;
            let attach: Vec<_> =
                rows.into_iter().filter(|r| r.new_value.as_deref().is_some_and(|v| v.starts_with("ATTACH"))).collect();
            (attach.len() >= free).then_some(attach)
        })
    })
    .expect("failed ATTACHes audited");
    assert!(rows.iter().all(|r| r.operator.starts_with("127.0.0.1")), "audited with the peer address");
}
