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
