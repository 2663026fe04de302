//! Latency at a fixed rate: SDK consumers (parked, spinning), bare sessions, forwarder, NATS.

use std::sync::atomic::AtomicUsize;
use std::sync::Arc;

use super::{collect, paced, Bench, IDLE, NS, R, SMALL, SPIN_BUDGET, TOPIC};
use crate::raw::{self};
use crate::report::{fmt_ns, Row, Run};

impl Bench {
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
}
