//! The scenarios, each measured on PulseMQ and on its reference in the
//! same run. PulseMQ is driven by the Rust SDK (`pulsemq-client`) unless a
//! row says "raw": those use bare protocol sessions to isolate the broker.
//!
//! `drivers_sdk` and `drivers_ref` run one measurement each; `throughput`,
//! `latency`, `arrow` and `sessions` build the table rows from them.

mod arrow;
mod drivers_ref;
mod drivers_sdk;
mod latency;
mod sessions;
mod throughput;

use std::sync::atomic::AtomicUsize;
use std::time::Duration;

use crate::broker::Target;
use crate::forwarder::Forwarder;
use crate::raw::{self, RawSession, Received};
use crate::report::{now_ns, Lat, Run};

pub type R<T> = Result<T, String>;

const NS: &str = "bench";
const TOPIC: &str = "tick";
const SMALL: usize = 100;
/// How long a receiver waits for one more message before it stops counting.
const IDLE: Duration = Duration::from_secs(3);
/// How long the spinning consumer of the latency scenario busy-polls before
/// it parks: longer than the 100 µs between messages at 10 000 msg/s.
const SPIN_BUDGET: Duration = Duration::from_micros(500);
/// Acknowledged publishes in flight in the pipelined-ACK scenario.
const ACK_WINDOW: usize = 1024;

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// Everything the scenarios share.
pub struct Bench {
    pub rt: tokio::runtime::Runtime,
    pub target: Target,
    pub zctx: zmq::Context,
    pub router: Forwarder,
    pub xpub: Forwarder,
    pub quick: bool,
    /// The peer to beat, when `nats-server` is installed (else its rows are skipped with a note).
    pub nats: Option<crate::nats::Nats>,
    /// Notes printed under the table.
    pub notes: Vec<String>,
}

/// Sizes of one run, quick or full.
struct Counts {
    one_to_one: u64,
    acked: u64,
    latency: u64,
    fan4: u64,
    fan16: u64,
    wildcard: u64,
    arrow: usize,
    repeats: usize,
}

impl Bench {
    fn counts(&self) -> Counts {
        if self.quick {
            Counts {
                one_to_one: 50_000,
                acked: 10_000,
                latency: 5_000,
                fan4: 5_000,
                fan16: 2_000,
                wildcard: 20_000,
                arrow: 3,
                repeats: 1,
            }
        } else {
            Counts {
                one_to_one: 200_000,
                acked: 100_000,
                latency: 50_000,
                fan4: 50_000,
                fan16: 20_000,
                wildcard: 200_000,
                arrow: 20,
                repeats: 3,
            }
        }
    }
}

fn fmt_delta(a: Option<u64>, b: Option<u64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) => format!("{:.1}", (b as f64 - a as f64) / 1024.0),
        _ => "?".into(),
    }
}

fn best(a: Option<Run>, b: Run) -> Run {
    match a {
        Some(a) => Run::best(a, b),
        None => b,
    }
}

/// Sends `count` stamped PUB NO_ACK messages of `size` bytes as fast as the socket takes them.
fn pump<'a>(sock: &zmq::Socket, count: u64, size: usize, topic: impl Fn(u64) -> &'a str) {
    let header = raw::pub_header(size);
    let mut p = vec![0u8; size];
    for i in 0..count {
        raw::send_pub(sock, &header, NS, topic(i), &mut p);
    }
}

/// Calls `send` `count` times at a fixed `rate`, on this thread, with a
/// fresh payload; returns when the first call started (ns).
fn paced(rate: u64, count: u64, mut send: impl FnMut(&mut [u8])) -> u64 {
    // SAFETY: prctl on the calling thread only; 1 ns timer slack makes the
    // sleeps below precise (the default slack is 50 µs).
    unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, 1u64, 0u64, 0u64, 0u64) };
    let period = 1_000_000_000 / rate;
    let start = now_ns();
    let mut p = vec![0u8; SMALL];
    for i in 0..count {
        let due = start + i * period;
        loop {
            let now = now_ns();
            if now >= due {
                break;
            }
            std::thread::sleep(Duration::from_nanos(due - now));
        }
        send(&mut p);
    }
    start
}

/// Folds receivers' results into one run; the first 10 % of latency
/// samples are dropped as warm-up.
fn collect(start: u64, expected: u64, size: usize, got: Vec<Received>) -> Run {
    let delivered = got.iter().map(|r| r.count).sum();
    let end = got.iter().map(|r| r.last_ns).max().unwrap_or(start);
    let mut lat = Vec::new();
    for r in got {
        let skip = r.lat_ns.len() / 10;
        lat.extend_from_slice(&r.lat_ns[skip..]);
    }
    Run {
        expected,
        delivered,
        secs: (end.saturating_sub(start)) as f64 / 1e9,
        msg_bytes: size,
        lat: Lat::from_samples(lat),
    }
}

/// Load for profiling (`--drive KIND --count N`, usually with the broker
/// under `valgrind --tool=callgrind` or the whole run under `perf record`),
/// no reference. Bare sessions: `noack`, `ack` (ACK_WINDOW in flight),
/// `fan16`, `wild10`, `wild1000`; through the SDK, 1→1: `sdk-noack`, `sdk-ack`.
pub fn drive(b: &Bench, kind: &str, count: u64) -> R<Run> {
    let topics: Vec<String> = (0..1000).flat_map(|i| (0..10).map(move |j| format!("s{i:04}.k{j}"))).collect();
    let tick = vec![TOPIC.to_string()];
    match kind {
        "noack" => b.raw_one_to_one(&tick, count, &tick),
        "wild10" => b.raw_one_to_one(&(0..10).map(|j| format!("*.k{j}")).collect::<Vec<_>>(), count, &topics),
        "wild1000" => {
            let mut p: Vec<String> = (0..495).map(|i| format!("s{i:04}.*")).collect();
            p.extend((495..990).map(|i| format!("s{i:04}.>")));
            p.extend((0..10).map(|j| format!("*.k{j}")));
            b.raw_one_to_one(&p, count, &topics)
        }
        "fan16" => b.raw_fanout(16, count, None),
        "ack" => {
            let subs = 1;
            let mut receivers = Vec::new();
            let mut opened = Vec::new();
            for _ in 0..subs {
                let mut s = RawSession::open(&b.zctx, &b.target, true)?;
                s.subscribe_all(NS, &tick)?;
                opened.push(s);
            }
            for s in opened {
                receivers.push(std::thread::spawn(move || {
                    let r = raw::receive_loop(&s.del, count, IDLE, &AtomicUsize::new(0), false);
                    (r, s)
                }));
            }
            let mut publ = RawSession::open(&b.zctx, &b.target, false)?;
            let start = now_ns();
            publ.publish_acked(NS, TOPIC, SMALL, count, ACK_WINDOW as u64)?;
            let mut got = Vec::new();
            for h in receivers {
                let (r, s) = h.join().expect("receiver");
                s.bye();
                got.push(r);
            }
            publ.bye();
            Ok(collect(start, count * subs, SMALL, got))
        }
        "sdk-noack" => b.sdk_fanout(1, count, None),
        "sdk-ack" => b.sdk_fanout(1, count, Some(ACK_WINDOW)),
        other => Err(format!("unknown --drive kind '{other}'")),
    }
}
