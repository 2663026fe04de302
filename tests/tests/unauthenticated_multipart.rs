//! Issue 21 §1, confirmed with the real broker: before AUTH, a peer that
//! sends one multipart message that never ends makes the broker hold every
//! frame of it. libzmq (4.3.4, vendored) hands a message to the broker only
//! once its last frame arrived, `ZMQ_MAXMSGSIZE` bounds each frame, not the
//! message, and a partial message is not counted against the HWM, so the
//! broker never sees these bytes and cannot refuse them.
//!
//! This test measures the hole instead of pretending it is closed: the
//! memory grows with what the peer sends, the broker keeps serving everyone
//! else meanwhile, and everything is given back the moment the connection
//! closes (large frames are separate allocations). A fix needs a byte
//! guard below libzmq (a patched decoder or a ZMTP front); when one lands,
//! the first assertion flips. Until then the README's "What one peer can
//! make the broker hold" names the mitigations (firewall the ports,
//! systemd `MemoryMax=`).
//!
//! Its own test binary: it reads the broker process's resident memory.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use pulsemq_e2e::raw::RawPeer;
use pulsemq_e2e::{BinaryBroker, TestConfig};

const MIB: usize = 1024 * 1024;

/// Resident memory of a process, in bytes.
fn rss(pid: u32) -> usize {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    let kib: usize = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS line");
    kib * 1024
}

/// A ZMTP 3.0 peer written by hand: libzmq's own sockets never send a
/// partial message (they flush at message boundaries), so the attack needs
/// the bytes on the wire directly.
struct ZmtpPeer(TcpStream);

impl ZmtpPeer {
    /// Greeting (NULL mechanism) and READY as a DEALER, both ways.
    fn connect(port: u16) -> ZmtpPeer {
        let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut greeting = [0u8; 64];
        greeting[0] = 0xff;
        greeting[9] = 0x7f;
        greeting[10] = 3; // version 3.0
        greeting[12..16].copy_from_slice(b"NULL");
        s.write_all(&greeting).unwrap();
        let mut theirs = [0u8; 64];
        s.read_exact(&mut theirs).expect("the broker's greeting");
        assert_eq!((theirs[0], theirs[9], &theirs[12..16]), (0xff, 0x7f, &b"NULL"[..]));
        let mut ready = vec![5u8];
        ready.extend_from_slice(b"READY");
        ready.push(11);
        ready.extend_from_slice(b"Socket-Type");
        ready.extend_from_slice(&6u32.to_be_bytes());
        ready.extend_from_slice(b"DEALER");
        s.write_all(&[0x04, ready.len() as u8]).unwrap();
        s.write_all(&ready).unwrap();
        let mut head = [0u8; 2];
        s.read_exact(&mut head).expect("the broker's READY");
        let mut body = vec![0u8; head[1] as usize];
        s.read_exact(&mut body).unwrap();
        assert_eq!(&body[..6], b"\x05READY", "a READY command");
        ZmtpPeer(s)
    }

    /// One long frame with the MORE flag: the message goes on.
    fn send_more(&mut self, body: &[u8]) {
        self.0.write_all(&[0x03]).unwrap();
        self.0.write_all(&(body.len() as u64).to_be_bytes()).unwrap();
        self.0.write_all(body).unwrap();
    }
}

#[test]
fn known_hole_a_never_ending_multipart_before_auth_is_held_until_the_peer_goes() {
    let b = BinaryBroker::start(&TestConfig::default());
    let pid = b.pid();
    std::thread::sleep(Duration::from_millis(300));
    let before = rss(pid);

    let mut attacker = ZmtpPeer::connect(b.pub_port);
    let frame = vec![0x55u8; MIB];
    let sent = 256;
    for _ in 0..sent {
        attacker.send_more(&frame);
    }
    // Let the broker's I/O thread read what the kernel holds.
    let mut grown = 0;
    for _ in 0..50 {
        std::thread::sleep(Duration::from_millis(100));
        grown = rss(pid).saturating_sub(before);
        if grown > 200 * MIB {
            break;
        }
    }
    assert!(
        grown > 200 * MIB,
        "{sent} MiB of one unfinished message before AUTH grew the broker by only {} MiB: has a byte guard \
         landed? Then turn this test around (issue 21 §1)",
        grown / MIB
    );

    // Everyone else is served meanwhile.
    let mut other = RawPeer::login(b.pub_port, b.sub_port, "admin", &b.admin.token);
    assert_eq!(other.sub("md", "a.*").status().as_deref(), Some("SUB_OK"));

    // Gone with the connection: libzmq drops the partial message and each
    // 1 MiB frame was its own allocation, returned to the system.
    drop(attacker);
    let mut left = usize::MAX;
    for _ in 0..50 {
        std::thread::sleep(Duration::from_millis(100));
        left = rss(pid).saturating_sub(before);
        if left < 64 * MIB {
            break;
        }
    }
    assert!(left < 64 * MIB, "{} MiB still held after the peer left", left / MIB);
    eprintln!(
        "unfinished message of {sent} MiB: broker grew by {} MiB, {} MiB left after close",
        grown / MIB,
        left / MIB
    );
    assert_eq!(other.sub("md", "b.*").status().as_deref(), Some("SUB_OK"));
}
