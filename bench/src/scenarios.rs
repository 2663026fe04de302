//! The scenarios, each measured on PulseMQ and on its reference in the
//! same run. PulseMQ is driven by the Rust SDK (`pulsemq-client`) unless a
//! row says "raw": those use bare protocol sessions to isolate the broker.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::Duration;

use futures_util::stream::{self, StreamExt};
use pulsemq_client::arrow_array::{ArrayRef, Float64Array, Int64Array, RecordBatch};
use pulsemq_client::{Client, ClientOptions, Format, Payload, Subscription};

use crate::broker::{Target, HWM};
use crate::forwarder::Forwarder;
use crate::raw::{self, RawSession, Received, PROBE_TOPIC};
use crate::report::{fmt_ns, fmt_rate, now_ns, read_stamp, rss_kib, stamp, Lat, Row, Run};

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

    fn options(&self, capacity: usize) -> ClientOptions {
        let t = &self.target;
        ClientOptions::new(&t.host, t.pub_port, t.sub_port, &t.user, &t.token)
            .hwm(HWM, HWM)
            .subscription_capacity(capacity.max(1000))
    }

    async fn client(&self, capacity: usize) -> R<Client> {
        Client::connect(self.options(capacity)).await.map_err(|e| format!("connect: {e}"))
    }

    // ---- drivers ---------------------------------------------------------

    /// Receives on an SDK subscription on its own thread: parked between
    /// messages (`next`, like most applications' consumers), or with
    /// `spin`, busy-polling that long before parking (`next_spin`).
    fn sdk_receiver(
        &self,
        mut sub: Subscription,
        expect: u64,
        keep_lat: bool,
        spin: Option<Duration>,
    ) -> JoinHandle<Received> {
        let handle = self.rt.handle().clone();
        std::thread::spawn(move || {
            handle.block_on(async move {
                let mut r = Received {
                    lat_ns: Vec::with_capacity(if keep_lat { expect as usize } else { 0 }),
                    ..Default::default()
                };
                while r.count < expect {
                    let got = match spin {
                        None => tokio::time::timeout(IDLE, sub.next()).await,
                        Some(budget) => tokio::time::timeout(IDLE, sub.next_spin(budget)).await,
                    };
                    let Ok(Some(m)) = got else { break };
                    let now = now_ns();
                    if m.topic == PROBE_TOPIC {
                        continue;
                    }
                    r.count += 1;
                    r.last_ns = now;
                    if keep_lat {
                        r.lat_ns.push(now.saturating_sub(read_stamp(&m.payload)));
                    }
                }
                r
            })
        })
    }

    /// 1→`subs` through PulseMQ with the SDK: NO_ACK, or ACKs pipelined
    /// `window` deep.
    fn sdk_fanout(&self, subs: usize, count: u64, window: Option<usize>) -> R<Run> {
        self.rt.block_on(async {
            let publ = self.client(0).await?;
            let mut receivers = Vec::new();
            let mut keep = Vec::new();
            for _ in 0..subs {
                let c = self.client(count as usize + 16).await?;
                let sub = c.subscribe(NS, TOPIC).await.map_err(err)?;
                receivers.push(self.sdk_receiver(sub, count, true, None));
                keep.push(c);
            }
            let start = now_ns();
            match window {
                None => {
                    for _ in 0..count {
                        let mut p = vec![0u8; SMALL];
                        stamp(&mut p);
                        publ.publish_no_ack(NS, TOPIC, Format::Bytes, p).await.map_err(err)?;
                    }
                }
                Some(w) => {
                    let failed = stream::iter(0..count)
                        .map(|_| {
                            let c = publ.clone();
                            let mut p = vec![0u8; SMALL];
                            stamp(&mut p);
                            async move { c.publish(NS, TOPIC, Format::Bytes, p).await.is_err() }
                        })
                        .buffer_unordered(w)
                        .fold(0u64, |n, failed| async move { n + failed as u64 })
                        .await;
                    if failed > 0 {
                        return Err(format!("{failed} acknowledged publishes failed"));
                    }
                }
            }
            let got: Vec<Received> = receivers.into_iter().map(|h| h.join().expect("receiver")).collect();
            for c in keep {
                c.close().await;
            }
            publ.close().await;
            Ok(collect(start, count * subs as u64, SMALL, got))
        })
    }

    /// One publisher, one subscriber through the SDK at a fixed rate; the
    /// consumer parks (`spin: None`) or spins that long first.
    fn sdk_latency(&self, rate: u64, count: u64, spin: Option<Duration>) -> R<Run> {
        self.rt.block_on(async {
            let publ = self.client(0).await?;
            let subc = self.client(count as usize).await?;
            let sub = subc.subscribe(NS, TOPIC).await.map_err(err)?;
            let h = self.sdk_receiver(sub, count, true, spin);
            let handle = self.rt.handle().clone();
            let p2 = publ.clone();
            let sender = std::thread::spawn(move || {
                paced(rate, count, |p| {
                    stamp(p);
                    handle
                        .block_on(p2.publish_no_ack(NS, TOPIC, Format::Bytes, p.to_vec()))
                        .map(|_| ())
                        .expect("publish")
                })
            });
            let start = sender.join().map_err(|_| "sender panicked".to_string())?;
            let r = h.join().expect("receiver");
            subc.close().await;
            publ.close().await;
            Ok::<_, String>(collect(start, count, SMALL, vec![r]))
        })
    }

    /// The same through a reference forwarder, driven by bare sockets.
    fn ref_fanout(&self, fwd: &Forwarder, xpub: bool, subs: usize, count: u64, size: usize) -> Run {
        let ready = Arc::new(AtomicUsize::new(0));
        let receivers: Vec<_> = (0..subs)
            .map(|_| {
                let (ctx, ready, out) = (self.zctx.clone(), ready.clone(), fwd.output());
                std::thread::spawn(move || {
                    let s = if xpub {
                        let s = raw::socket(&ctx, zmq::SUB, &out);
                        s.set_subscribe(b"").expect("subscribe");
                        s
                    } else {
                        let s = raw::socket(&ctx, zmq::DEALER, &out);
                        s.send(&b"hello"[..], 0).expect("hello");
                        s
                    };
                    raw::receive_loop(&s, count, IDLE, &ready, true)
                })
            })
            .collect();
        let publ = raw::socket(&self.zctx, zmq::DEALER, &fwd.input());
        raw::await_ready(&publ, &ready, subs);
        let start = now_ns();
        pump(&publ, count, size, |_| TOPIC);
        let got = receivers.into_iter().map(|h| h.join().expect("receiver")).collect();
        collect(start, count * subs as u64, size, got)
    }

    /// 1→1 through the ROUTER forwarder with single-frame (protocol-6
    /// sized) messages: the physical reference for a one-frame protocol.
    fn ref_single_frame(&self, count: u64) -> Run {
        let ready = Arc::new(AtomicUsize::new(0));
        let (ctx, r2, out) = (self.zctx.clone(), ready.clone(), self.router.output());
        let h = std::thread::spawn(move || {
            let s = raw::socket(&ctx, zmq::DEALER, &out);
            s.send(&b"hello"[..], 0).expect("hello");
            raw::receive_loop(&s, count, IDLE, &r2, true)
        });
        let publ = raw::socket(&self.zctx, zmq::DEALER, &self.router.input());
        raw::await_ready(&publ, &ready, 1);
        let start = now_ns();
        let (mut buf, mut p) = (Vec::with_capacity(256), vec![0u8; SMALL]);
        for _ in 0..count {
            raw::send_pub_v6(&publ, &mut buf, NS, TOPIC, &mut p);
        }
        collect(start, count, SMALL, vec![h.join().expect("receiver")])
    }

    /// 1→`subs` through NATS (`None` without a nats-server).
    fn nats_fanout(&self, subs: usize, count: u64) -> R<Option<Run>> {
        let Some(n) = &self.nats else { return Ok(None) };
        let (start, got) = n.fanout(subs, count, SMALL, IDLE)?;
        Ok(Some(collect(start, count * subs as u64, SMALL, got)))
    }

    /// 1→1 NO_ACK through PulseMQ with bare protocol sessions (no SDK).
    fn raw_one_to_one(&self, patterns: &[String], count: u64, topics: &[String]) -> R<Run> {
        let mut sub = RawSession::open(&self.zctx, &self.target, true)?;
        sub.subscribe_all(NS, patterns)?;
        let publ = RawSession::open(&self.zctx, &self.target, false)?;
        let ready = Arc::new(AtomicUsize::new(0));
        // Warm-up: every topic once (first sight of a topic costs a DB event).
        let n = topics.len() as u64;
        pump(&publ.cmd, n, SMALL, |i| &topics[i as usize]);
        let warm = raw::receive_loop(&sub.del, n, IDLE, &ready, false);
        if warm.count != n {
            return Err(format!("warm-up: {} of {n} delivered", warm.count));
        }
        let handle = std::thread::spawn(move || {
            let r = raw::receive_loop(&sub.del, count, IDLE, &AtomicUsize::new(0), true);
            (r, sub)
        });
        let start = now_ns();
        pump(&publ.cmd, count, SMALL, |i| &topics[(i % n) as usize]);
        let (r, sub) = handle.join().expect("receiver");
        sub.bye();
        publ.bye();
        Ok(collect(start, count, SMALL, vec![r]))
    }

    /// 1→`subs` NO_ACK through PulseMQ with bare sessions; with `rate`,
    /// paced instead of as fast as possible.
    fn raw_fanout(&self, subs: usize, count: u64, rate: Option<u64>) -> R<Run> {
        let tick = vec![TOPIC.to_string()];
        let mut receivers = Vec::new();
        for _ in 0..subs {
            let mut s = RawSession::open(&self.zctx, &self.target, true)?;
            s.subscribe_all(NS, &tick)?;
            receivers.push(std::thread::spawn(move || {
                let r = raw::receive_loop(&s.del, count, IDLE, &AtomicUsize::new(0), true);
                (r, s)
            }));
        }
        let publ = RawSession::open(&self.zctx, &self.target, false)?;
        let start = match rate {
            Some(rate) => {
                let header = raw::pub_header(SMALL);
                paced(rate, count, |p| raw::send_pub(&publ.cmd, &header, NS, TOPIC, p))
            }
            None => {
                let start = now_ns();
                pump(&publ.cmd, count, SMALL, |_| TOPIC);
                start
            }
        };
        let mut got = Vec::new();
        for h in receivers {
            let (r, s) = h.join().map_err(|_| "receiver panicked")?;
            s.bye();
            got.push(r);
        }
        publ.bye();
        Ok(collect(start, count * subs as u64, SMALL, got))
    }

    // ---- scenarios -------------------------------------------------------

    pub fn one_to_one(&mut self) -> R<Vec<Row>> {
        let c = self.counts();
        let mut fwd: Option<Run> = None;
        let mut ours: Option<Run> = None;
        let mut raw_run: Option<Run> = None;
        let tick = vec![TOPIC.to_string()];
        // At least twice even in --quick: this pair is the CI gate.
        let mut single: Option<Run> = None;
        let mut nats: Option<Run> = None;
        for _ in 0..c.repeats.max(2) {
            let f = self.ref_fanout(&self.router, false, 1, c.one_to_one, SMALL);
            fwd = Some(best(fwd, f));
            single = Some(best(single, self.ref_single_frame(c.one_to_one)));
            if let Some(n) = self.nats_fanout(1, c.one_to_one)? {
                nats = Some(best(nats, n));
            }
            let o = self.sdk_fanout(1, c.one_to_one, None)?;
            ours = Some(best(ours, o));
            let r = self.raw_one_to_one(&tick, c.one_to_one, &tick)?;
            raw_run = Some(best(raw_run, r));
        }
        let (fwd, ours, raw_run, single) =
            (fwd.expect("ran"), ours.expect("ran"), raw_run.expect("ran"), single.expect("ran"));
        let ratio = ours.rate() / fwd.rate();
        let mut acked: Option<Run> = None;
        for _ in 0..c.repeats {
            acked = Some(best(acked, self.sdk_fanout(1, c.acked, Some(ACK_WINDOW))?));
        }
        let acked = acked.expect("ran");
        let ack_ratio = acked.rate() / ours.rate();
        let mut raw_acked: Option<Run> = None;
        for _ in 0..c.repeats {
            raw_acked = Some(best(raw_acked, drive(self, "ack", c.acked)?));
        }
        let raw_acked = raw_acked.expect("ran");
        self.notes.push(format!(
            "1→1: {SMALL}-byte payloads, one publisher, one subscriber; msg/s = delivered ÷ (first send → last receipt); \
             latencies under saturation are queueing, not service time. Pipelined ACK = {ACK_WINDOW} publishes in flight, \
             compared with our own NO_ACK rate of the same run. The forwarders pass six-frame (v5) and one-frame \
             (v6-sized) messages unbatched; the SDK speaks v6 and batches what is queued. NATS: nats-server on \
             loopback, async-nats clients, the same burst; loss = published − delivered."
        ));
        let mut rows = vec![
            Row::throughput("ROUTER forwarder 1→1, 6 frames (reference)", &fwd, None),
            Row::throughput("ROUTER forwarder 1→1, 1 frame (reference)", &single, None),
            Row::throughput("1→1 NO_ACK (SDK)", &ours, Some(("fwd", &fwd))).with_min_ratio(ratio, 0.7),
            Row::throughput("1→1 pipelined ACK (SDK)", &acked, Some(("own NO_ACK", &ours)))
                .with_min_ratio(ack_ratio, 0.8),
            Row::throughput("1→1 NO_ACK (raw v5 sockets)", &raw_run, Some(("fwd", &fwd))),
            Row::throughput("1→1 pipelined ACK (raw v5 sockets)", &raw_acked, Some(("fwd", &fwd))),
        ];
        if let Some(nats) = nats {
            rows.push(Row::throughput("NATS 1→1 (async-nats, peer)", &nats, None));
            let mut row = Row::throughput("1→1 NO_ACK (SDK) vs NATS", &ours, Some(("nats", &nats)))
                .with_min_ratio(ours.rate() / nats.rate(), 1.5);
            row.target = "≥ 1.5×, 0 loss".into();
            row.met = row.met.map(|m| m && ours.loss() == 0);
            rows.push(row);
        }
        if let Some(n) = &self.nats {
            let (start, done, end) = n.request_reply(c.acked, ACK_WINDOW, SMALL)?;
            let rr = Run {
                expected: c.acked,
                delivered: done,
                secs: (end - start) as f64 / 1e9,
                msg_bytes: SMALL,
                lat: None,
            };
            rows.push(Row::throughput("NATS request/reply, pipelined (peer)", &rr, None));
            rows.push(Row::throughput("1→1 pipelined ACK (SDK) vs NATS req/reply", &acked, Some(("nats", &rr))));
        }
        Ok(rows)
    }

    /// Fixed rate, one publisher, one subscriber, end-to-end latency.
    pub fn latency(&mut self) -> R<Vec<Row>> {
        let c = self.counts();
        let rate = 10_000u64;
        // Reference first: forwarder, bare sockets.
        let fwd = {
            let ready = Arc::new(AtomicUsize::new(0));
            let (ctx, r2, out) = (self.zctx.clone(), ready.clone(), self.router.output());
            let n = c.latency;
            let h = std::thread::spawn(move || {
                let s = raw::socket(&ctx, zmq::DEALER, &out);
                s.send(&b"hello"[..], 0).expect("hello");
                raw::receive_loop(&s, n, IDLE, &r2, true)
            });
            let publ = raw::socket(&self.zctx, zmq::DEALER, &self.router.input());
            raw::await_ready(&publ, &ready, 1);
            let header = raw::pub_header(SMALL);
            let start = paced(rate, c.latency, |p| raw::send_pub(&publ, &header, NS, TOPIC, p));
            collect(start, c.latency, SMALL, vec![h.join().expect("receiver")])
        };
        let parked = self.sdk_latency(rate, c.latency, None)?;
        let spinning = self.sdk_latency(rate, c.latency, Some(SPIN_BUDGET))?;
        let raw_run = self.raw_fanout(1, c.latency, Some(rate))?;
        let nats = match &self.nats {
            Some(n) => {
                let (start, r) = n.latency(c.latency, IDLE, |send| paced(rate, c.latency, send))?;
                Some(collect(start, c.latency, SMALL, vec![r]))
            }
            None => None,
        };
        let nats_lat = nats.as_ref().and_then(|n| n.lat);
        let flat = fwd.lat.ok_or("no reference latency samples")?;
        let lat_row = |name: &str, run: &Run| -> R<Row> {
            let lat = run.lat.ok_or("no latency samples")?;
            let mut row = Row::throughput(name, run, None);
            row.reference = format!("fwd P50 {} P99 {}", fmt_ns(flat.p50), fmt_ns(flat.p99));
            row.ratio = format!("{:.2}× P50", lat.p50 as f64 / flat.p50.max(1) as f64);
            Ok(row)
        };
        // Against NATS in the same run when it is there: P50 and P99 no
        // worse than the peer's (issue 15); else the absolute figures of issue 6.
        let target_row = |name: &str, run: &Run| -> R<Row> {
            let mut row = lat_row(name, run)?;
            let lat = run.lat.ok_or("no latency samples")?;
            match nats_lat {
                Some(n) => {
                    row.reference = format!("nats P50 {} P99 {}", fmt_ns(n.p50), fmt_ns(n.p99));
                    row.ratio = format!(
                        "{:.2}× P50 {:.2}× P99",
                        lat.p50 as f64 / n.p50.max(1) as f64,
                        lat.p99 as f64 / n.p99.max(1) as f64
                    );
                    row.target = "P50, P99 ≤ NATS".into();
                    row.met = Some(lat.p50 <= n.p50 && lat.p99 <= n.p99);
                }
                None => {
                    row.target = "P50≤50µs P99≤200µs".into();
                    row.met = Some(lat.p50 <= 50_000 && lat.p99 <= 200_000);
                }
            }
            Ok(row)
        };
        let row = target_row("latency @10k msg/s NO_ACK (SDK, next)", &parked)?;
        let spin_row = target_row(
            &format!("latency @10k msg/s NO_ACK (SDK, next_spin {} µs)", SPIN_BUDGET.as_micros()),
            &spinning,
        )?;
        let raw_row = lat_row("latency @10k msg/s NO_ACK (raw v5 sockets)", &raw_run)?;
        let fwd_row = lat_row("latency @10k msg/s ROUTER forwarder (reference)", &fwd)?;
        self.notes.push(format!(
            "latency: {} messages of {SMALL} B at a fixed {rate} msg/s (sleeping sender); end-to-end = publish call → \
             the subscriber's task holding the message, stamped in the payload; the first 10 % are warm-up. \
             `next` parks the consumer between messages (each message pays a thread wake-up, like the forwarder's \
             and the raw sockets' blocking receive); `next_spin` busy-polls up to {} µs first (one CPU kept busy).",
            c.latency,
            SPIN_BUDGET.as_micros()
        ));
        let mut rows = vec![fwd_row, row, spin_row, raw_row];
        if let Some(n) = &nats {
            rows.push(lat_row("latency @10k msg/s NATS (async-nats, peer)", n)?);
        }
        Ok(rows)
    }

    pub fn fanout(&mut self) -> R<Vec<Row>> {
        let c = self.counts();
        let mut rows = Vec::new();
        for (n, count, target) in [(4usize, c.fan4, None), (16, c.fan16, Some(0.8))] {
            let (mut fwd, mut ours) = (None, None);
            for _ in 0..c.repeats {
                fwd = Some(best(fwd, self.ref_fanout(&self.xpub, true, n, count, SMALL)));
                ours = Some(best(ours, self.sdk_fanout(n, count, None)?));
            }
            let (fwd, ours) = (fwd.expect("ran"), ours.expect("ran"));
            rows.push(Row::throughput(&format!("XPUB forwarder 1→{n} (reference)"), &fwd, None));
            let row = Row::throughput(&format!("fan-out 1→{n} NO_ACK (SDK)"), &ours, Some(("xpub", &fwd)));
            rows.push(match target {
                Some(t) => row.with_min_ratio(ours.rate() / fwd.rate(), t),
                None => row,
            });
            if n == 16 {
                let mut nats: Option<Run> = None;
                for _ in 0..c.repeats {
                    if let Some(r) = self.nats_fanout(n, count)? {
                        nats = Some(best(nats, r));
                    }
                }
                if let Some(nats) = nats {
                    rows.push(Row::throughput("NATS 1→16 (async-nats, peer)", &nats, None));
                    rows.push(
                        Row::throughput("fan-out 1→16 NO_ACK (SDK) vs NATS", &ours, Some(("nats", &nats)))
                            .with_min_ratio(ours.rate() / nats.rate(), 1.2),
                    );
                }
            }
        }
        let raw16 = self.raw_fanout(16, c.fan16, None)?;
        let xpub16 = self.ref_fanout(&self.xpub, true, 16, c.fan16, SMALL);
        rows.push(Row::throughput("fan-out 1→16 NO_ACK (raw v5 sockets)", &raw16, Some(("xpub", &xpub16))));
        self.notes.push(
            "fan-out: msg/s counts deliveries (publishes × subscribers), one SDK client per subscriber; the raw row \
             uses bare sessions against a fresh XPUB run."
                .into(),
        );
        Ok(rows)
    }

    pub fn wildcard(&mut self) -> R<Vec<Row>> {
        let c = self.counts();
        // 10 000 topics s0000.k0 … s0999.k9.
        let topics: Vec<String> = (0..1000).flat_map(|i| (0..10).map(move |j| format!("s{i:04}.k{j}"))).collect();
        let ten: Vec<String> = (0..10).map(|j| format!("*.k{j}")).collect();
        // 1 000 patterns: 495 `sNNNN.*`, 495 `sNNNN.>`, and the 10 above, so
        // every topic matches one or two patterns of the one session (one delivery).
        let mut thousand: Vec<String> = (0..495).map(|i| format!("s{i:04}.*")).collect();
        thousand.extend((495..990).map(|i| format!("s{i:04}.>")));
        thousand.extend(ten.iter().cloned());
        let (mut few, mut many) = (None, None);
        for _ in 0..c.repeats {
            few = Some(best(few, self.raw_one_to_one(&ten, c.wildcard, &topics)?));
            many = Some(best(many, self.raw_one_to_one(&thousand, c.wildcard, &topics)?));
        }
        let (few, many) = (few.expect("ran"), many.expect("ran"));
        let cost = |r: &Run| r.secs / r.delivered.max(1) as f64;
        let ratio = cost(&many) / cost(&few);
        let mut row = Row::throughput("wildcard 1 000 patterns, 10 000 topics (raw)", &many, None);
        row.reference = format!("10 patterns {}", fmt_rate(few.rate()));
        row.ratio = format!("{ratio:.2}× cost");
        row.target = "cost ≤ 1.3×".into();
        row.met = Some(ratio <= 1.3);
        self.notes.push(
            "wildcard: bare protocol sessions (the SDK's own per-pattern dispatch would be measured otherwise); \
             publishes round-robin over 10 000 topics, each matched once per publish, NO_ACK; cost = time per delivered \
             message with 1 000 patterns ÷ with 10."
                .into(),
        );
        Ok(vec![row])
    }

    pub fn arrow(&mut self) -> R<Vec<Row>> {
        let c = self.counts();
        let rows = 10 * 1024 * 1024 / 48;
        let batch = ohlcv_batch(rows)?;
        let encoded_len = Payload::arrow(std::slice::from_ref(&batch)).map_err(err)?.len();
        // Reference: the same number of bytes through the ROUTER forwarder.
        let fwd = {
            let ready = Arc::new(AtomicUsize::new(0));
            let (ctx, r2, out) = (self.zctx.clone(), ready.clone(), self.router.output());
            let (tx, rx) = mpsc::channel::<u64>();
            let n = c.arrow;
            let h = std::thread::spawn(move || {
                let s = raw::socket(&ctx, zmq::DEALER, &out);
                s.send(&b"hello"[..], 0).expect("hello");
                let mut parts = Vec::new();
                let mut got = 0;
                while got < n && raw::recv_parts(&s, &mut parts, IDLE) {
                    r2.fetch_add(1, Ordering::SeqCst);
                    if parts.len() == 6 && &parts[2][..] != PROBE_TOPIC.as_bytes() {
                        got += 1;
                        let _ = tx.send(now_ns().saturating_sub(read_stamp(&parts[raw::PAYLOAD_FRAME])));
                    }
                }
            });
            let publ = raw::socket(&self.zctx, zmq::DEALER, &self.router.input());
            raw::await_ready(&publ, &ready, 1);
            let header = raw::pub_header_as(Format::DfArrow, encoded_len);
            let mut samples = Vec::new();
            for _ in 0..c.arrow {
                let mut p = vec![7u8; encoded_len];
                raw::send_pub(&publ, &header, NS, "df", &mut p);
                samples.push(rx.recv_timeout(Duration::from_secs(10)).map_err(|_| "reference 10 MB lost")?);
            }
            let _ = h.join();
            Lat::from_samples(samples).ok_or("no samples")?
        };
        let (total, parts) = self.rt.block_on(async {
            let publ = self.client(0).await?;
            let subc = self.client(16).await?;
            let mut sub = subc.subscribe(NS, "df").await.map_err(err)?;
            let (tx, rx) = mpsc::channel::<(u64, u64, usize)>();
            let handle = self.rt.handle().clone();
            let h = std::thread::spawn(move || {
                handle.block_on(async move {
                    while let Ok(Some(m)) = tokio::time::timeout(IDLE, sub.next()).await {
                        let got = now_ns();
                        let n = m.record_batches().map(|b| b.iter().map(|b| b.num_rows()).sum()).unwrap_or(0);
                        let _ = tx.send((got, now_ns(), n));
                    }
                })
            });
            let (mut total, mut enc, mut wire, mut dec) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
            for _ in 0..c.arrow {
                let t0 = now_ns();
                let payload = Payload::arrow(std::slice::from_ref(&batch)).map_err(err)?;
                let t1 = now_ns();
                publ.publish_payload(NS, "df", payload).await.map_err(err)?;
                let (got, decoded, n) = rx.recv_timeout(Duration::from_secs(10)).map_err(|_| "10 MB DataFrame lost")?;
                if n != rows {
                    return Err(format!("decoded {n} rows, sent {rows}"));
                }
                total.push(decoded - t0);
                enc.push(t1 - t0);
                wire.push(got - t1);
                dec.push(decoded - got);
            }
            subc.close().await;
            publ.close().await;
            let _ = h.join();
            let p50 = |v: Vec<u64>| Lat::from_samples(v).map(|l| l.p50).unwrap_or(0);
            Ok::<_, String>((total, (p50(enc), p50(wire), p50(dec))))
        })?;
        // The same bytes through the broker with bare sessions (no SDK).
        let raw_lat = {
            let mut sub = RawSession::open(&self.zctx, &self.target, true)?;
            sub.subscribe_all(NS, &["df".to_string()])?;
            let publ = RawSession::open(&self.zctx, &self.target, false)?;
            let (tx, rx) = mpsc::channel::<u64>();
            let n = c.arrow;
            let h = std::thread::spawn(move || {
                let mut parts = Vec::new();
                for _ in 0..n {
                    if !raw::recv_parts(&sub.del, &mut parts, IDLE) {
                        break;
                    }
                    let _ = tx.send(now_ns().saturating_sub(read_stamp(&parts[raw::PAYLOAD_FRAME])));
                }
                sub
            });
            let header = raw::pub_header_as(Format::DfArrow, encoded_len);
            let mut samples = Vec::new();
            for _ in 0..c.arrow {
                let mut p = vec![7u8; encoded_len];
                raw::send_pub(&publ.cmd, &header, NS, "df", &mut p);
                samples.push(rx.recv_timeout(Duration::from_secs(10)).map_err(|_| "raw 10 MB lost")?);
            }
            h.join().map_err(|_| "receiver panicked")?.bye();
            publ.bye();
            Lat::from_samples(samples).ok_or("no samples")?
        };
        let lat = Lat::from_samples(total).ok_or("no samples")?;
        let reference = ("fwd 10 MB", fwd.p50);
        let raw_row =
            Row::round_trip("10 MB one way through the broker (raw sockets)", c.arrow, encoded_len, raw_lat, reference);
        let row = Row {
            target: "P50 ≤ 20ms".into(),
            met: Some(lat.p50 <= 20_000_000),
            ..Row::round_trip("10 MB Arrow DataFrame round trip (SDK)", c.arrow, encoded_len, lat, reference)
        };
        self.notes.push(format!(
            "arrow: one RecordBatch of {rows} rows × 6 columns (i64 + 5 × f64) = {:.1} MB as an Arrow IPC stream \
             (DF_ARROW), published with ACK; round trip = encode → publish → broker → subscriber → decode. \
             P50 split: encode {}, publish→receipt {}, decode {}.",
            encoded_len as f64 / 1e6,
            fmt_ns(parts.0),
            fmt_ns(parts.1),
            fmt_ns(parts.2)
        ));
        Ok(vec![row, raw_row])
    }

    pub fn idle_sessions(&mut self, n: usize) -> R<Vec<Row>> {
        // A context holds at most 1023 sockets: one context per 200 sessions
        // (400 sockets here, as many pairs for the forwarder below).
        let contexts: Vec<zmq::Context> = (0..n.div_ceil(200)).map(|_| zmq::Context::new()).collect();
        let pid = self.target.pid;
        let before = pid.and_then(rss_kib);
        let mut sessions = Vec::with_capacity(n);
        for i in 0..n {
            sessions.push(RawSession::open(&contexts[i / 200], &self.target, true)?);
        }
        std::thread::sleep(Duration::from_millis(500));
        let after = pid.and_then(rss_kib);
        // The reference forwarder with as many connected DEALER pairs.
        let fwd_before = rss_kib(self.router.pid());
        let mut pairs = Vec::with_capacity(n);
        for _ in 0..n {
            let ctx = &contexts[pairs.len() / 200];
            let a = raw::socket(ctx, zmq::DEALER, &self.router.input());
            let b = raw::socket(ctx, zmq::DEALER, &self.router.output());
            b.send(&b"hello"[..], 0).map_err(err)?;
            let mut parts = Vec::new();
            if !raw::recv_parts(&b, &mut parts, Duration::from_secs(10)) {
                return Err("forwarder did not greet".into());
            }
            pairs.push((a, b));
        }
        std::thread::sleep(Duration::from_millis(500));
        let fwd_after = rss_kib(self.router.pid());
        for s in sessions {
            s.bye();
        }
        drop(pairs);
        let mb = |k: Option<u64>| k.map(|k| format!("{:.1} MB", k as f64 / 1024.0)).unwrap_or_else(|| "?".into());
        let mut row = Row {
            scenario: format!("{n} idle sessions: broker RSS"),
            msgs: n.to_string(),
            rate: mb(after),
            ..Row::default()
        };
        row.reference = format!("fwd {} (+{} MB)", mb(fwd_after), fmt_delta(fwd_before, fwd_after));
        match after {
            Some(kib) => {
                row.ratio = format!("+{} MB", fmt_delta(before, after));
                row.target = "≤ 100 MB".into();
                row.met = Some(kib <= 100 * 1024);
            }
            None => row.ratio = "RSS unknown (pass --broker-pid)".into(),
        }
        self.notes.push(format!(
            "idle sessions: {n} bare sessions (AUTH + ATTACH, two TCP connections each), VmRSS of the broker process \
             (msg/s column) and its growth (ratio column); the forwarder gets {n} DEALER pairs."
        ));
        Ok(vec![row])
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

/// A K-line-like batch: ts (i64), open, high, low, close, volume (f64).
fn ohlcv_batch(rows: usize) -> R<RecordBatch> {
    let ts: ArrayRef = Arc::new(Int64Array::from_iter_values((0..rows as i64).map(|i| 1_700_000_000_000 + i * 60_000)));
    let col = |k: f64| -> ArrayRef {
        Arc::new(Float64Array::from_iter_values((0..rows).map(|i| k + (i % 977) as f64 * 0.01)))
    };
    RecordBatch::try_from_iter([
        ("ts", ts),
        ("open", col(10.0)),
        ("high", col(10.5)),
        ("low", col(9.5)),
        ("close", col(10.2)),
        ("volume", col(1000.0)),
    ])
    .map_err(err)
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
