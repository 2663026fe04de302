//! Drivers of the references (plain libzmq forwarders, NATS) and of bare protocol sessions.

use std::sync::atomic::AtomicUsize;
use std::sync::Arc;

use super::{collect, paced, pump, Bench, IDLE, NS, R, SMALL, TOPIC};
use crate::forwarder::Forwarder;
use crate::raw::{self, RawSession};
use crate::report::{now_ns, Run};

impl Bench {
    /// The same through a reference forwarder, driven by bare sockets.
    pub(super) fn ref_fanout(&self, fwd: &Forwarder, xpub: bool, subs: usize, count: u64, size: usize) -> Run {
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
    pub(super) fn ref_single_frame(&self, count: u64) -> Run {
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
    pub(super) fn nats_fanout(&self, subs: usize, count: u64) -> R<Option<Run>> {
        let Some(n) = &self.nats else { return Ok(None) };
        let (start, got) = n.fanout(subs, count, SMALL, IDLE)?;
        Ok(Some(collect(start, count * subs as u64, SMALL, got)))
    }

    /// 1→1 NO_ACK through PulseMQ with bare protocol sessions (no SDK).
    pub(super) fn raw_one_to_one(&self, patterns: &[String], count: u64, topics: &[String]) -> R<Run> {
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
    pub(super) fn raw_fanout(&self, subs: usize, count: u64, rate: Option<u64>) -> R<Run> {
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
}
