//! Reading the broker's frames: replies go to their waiters, deliveries
//! to the local subscriptions, which are woken once per batch.

use pulsemq_shared::MsgType;

use super::outbox::Out;
use super::{IoThread, HOLDS_CMD, RECV_BATCH};
use crate::events::Event;
use crate::sockets::recv_frame;
use crate::stats::bump;
use crate::wire::{self, Incoming};

impl IoThread {
    /// Reads a batch from one socket, then wakes the subscriptions that got
    /// messages (once each, not once per message).
    pub(super) fn read_socket(&mut self, command_socket: bool) {
        self.read_batch(command_socket);
        for w in self.wakes.drain(..) {
            w.wake();
        }
    }

    pub(super) fn read_batch(&mut self, command_socket: bool) {
        for _ in 0..RECV_BATCH {
            let sock = if command_socket { self.cmd.as_ref().expect(HOLDS_CMD) } else { &self.dlv };
            match recv_frame(sock, &mut self.rx) {
                Ok(true) => {}
                Ok(false) => {
                    tracing::warn!("unreadable message from the broker: protocol 6 is one frame per message");
                    continue;
                }
                Err(zmq::Error::EAGAIN) => return,
                Err(e) => {
                    tracing::warn!("recv failed: {e}");
                    return;
                }
            }
            let mut parsed = std::mem::take(&mut self.parsed);
            wire::parse_frame(&mut self.rx, |r| parsed.push(r));
            for r in parsed.drain(..) {
                match r {
                    Ok(Incoming::Deliver(msg)) => self.on_delivery(msg),
                    Ok(Incoming::Reply(r)) => self.on_reply(r),
                    Ok(Incoming::Ping(id)) => {
                        let pong = wire::control(MsgType::Pong, id);
                        if command_socket {
                            self.outq.push_back(Out::plain(pong));
                        } else {
                            self.send_delivery_socket(pong);
                        }
                    }
                    Err(e) => tracing::warn!("unreadable message from the broker: {e}"),
                }
            }
            self.parsed = parsed;
        }
    }

    pub(super) fn on_delivery(&mut self, msg: crate::message::Message) {
        bump(&self.tel.counters.received, 1);
        if !msg.snapshot {
            if let Some(g) = self.seqs.observe(&msg.namespace, &msg.topic, msg.seq) {
                bump(&self.tel.counters.gaps, 1);
                bump(&self.tel.counters.missed, g.received - g.expected);
                self.tel.emit(Event::SequenceGap {
                    namespace: msg.namespace.clone(),
                    topic: msg.topic.clone(),
                    expected: g.expected,
                    received: g.received,
                });
            }
        }
        let d = self.subs.dispatch(msg, &mut self.wakes);
        bump(&self.tel.counters.dispatched, d.delivered as u64);
        if d.dropped > 0 {
            bump(&self.tel.counters.dropped, d.dropped as u64);
        }
        if d.delivered == 0 && d.dropped == 0 {
            bump(&self.tel.counters.unmatched, 1);
        }
        if let Some(namespace) = d.slow_namespace {
            for (pattern, dropped) in d.newly_slow {
                self.tel.emit(Event::SlowConsumer { namespace: namespace.clone(), pattern, dropped });
            }
        }
    }
}
