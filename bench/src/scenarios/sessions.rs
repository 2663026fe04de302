//! Broker memory with many idle authenticated sessions.

use std::time::Duration;

use super::{err, fmt_delta, Bench, R};
use crate::raw::{self, RawSession};
use crate::report::{rss_kib, Row};

impl Bench {
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
