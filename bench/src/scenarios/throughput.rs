//! Throughput tables: 1→1 (NO_ACK and pipelined ACK), fan-out, wildcard cost.

use super::{best, drive, Bench, ACK_WINDOW, R, SMALL, TOPIC};
use crate::report::{fmt_rate, Row, Run};

impl Bench {
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
}
