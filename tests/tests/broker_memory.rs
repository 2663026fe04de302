//! What one subscriber that stops reading can make the broker hold (issue
//! 21, §4). Its own test binary: the check reads this process's resident
//! memory, which other tests running beside it would disturb.

use std::time::Duration;

use pulsemq_e2e::raw6::RawPeer6;
use pulsemq_e2e::{InProcBroker, TestConfig};
use pulsemq_shared::header::flags;
use pulsemq_shared::MsgType;

const MIB: usize = 1024 * 1024;

/// Resident memory of this process (the in-process broker and the test's
/// own peers), in bytes.
fn rss() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let kib: usize = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS");
    kib * 1024
}

/// A subscriber whose pipe is full used to be handed frames until
/// `broker.hwm` (10 000 by default) were queued in ZeroMQ, whatever their
/// size: 300 × 1 MiB made the broker hold 300 MiB for it. Now the pipe
/// holds at most the session's byte limit of frames the subscriber was not
/// seen to read and the outbox as much again (see `engine::drain`), the
/// rest is dropped for it alone and counted, and a subscriber that reads
/// gets every message.
#[test]
fn a_stalled_subscriber_makes_the_broker_hold_at_most_its_byte_limit() {
    let limit = 8 * MIB;
    let cfg = TestConfig { session_buffer_bytes: limit as u64, ..TestConfig::default() };
    let b = InProcBroker::start(&cfg);
    b.namespace("md");
    // The stalled one takes one frame into its own queue, then leaves the
    // rest in the kernel's socket buffers and the broker, like a hung process.
    let (mut stalled, mut reader, mut publ) =
        RawPeer6::stalled_reader_publisher(b.pub_port, b.sub_port, &b.admin.token, 1, "md");

    let payload = vec![7u8; MIB];
    let before = rss();
    let rounds = 75;
    let per_round = 4;
    for round in 0..rounds {
        for _ in 0..per_round {
            let id = publ.next_id();
            publ.send(&RawPeer6::frame(MsgType::Pub, flags::NO_ACK, id, "md", "big", &payload));
        }
        let got = reader.take_deliveries(per_round, Duration::from_secs(10));
        assert_eq!(got.len(), per_round, "round {round}: the reading subscriber gets every message");
    }
    let total = rounds * per_round;
    let grown = rss().saturating_sub(before);
    assert!(
        grown < 64 * MIB,
        "{total} MiB were published; the broker grew by {} MiB for a stalled subscriber with an {} MiB limit",
        grown / MIB,
        limit / MIB
    );
    assert!(reader.pings_answered > 0, "the reader was asked to confirm what it read");

    let late = stalled.take_deliveries(total, Duration::from_millis(1500));
    assert!(late.len() < total / 4, "the stalled subscriber got {} of {total}", late.len());
    assert!(!late.is_empty(), "it got what fitted before it stopped reading");
    assert!(late.windows(2).all(|w| w[0].ext.seq < w[1].ext.seq), "in order, gaps show the losses");
    let drops = b.drops_of("md:>");
    assert_eq!(drops.len(), 2, "{drops:?}");
    assert_eq!(drops[0], 0, "the reading subscriber lost nothing");
    assert_eq!(drops[1] as usize, total - late.len(), "the stalled one's losses are counted exactly");
}
