//! Fan-out of one message to the sessions whose patterns match it.
//!
//! One delivery per session however many of its patterns match; a session
//! whose pipe is full loses this message alone (counted per session and per
//! topic) and the publisher never waits.

use std::time::Instant;

use pulsemq_shared::header::PROTOCOL_VERSION;
use pulsemq_shared::{v6, Ext, Format, Header, MsgType};

use super::outbox::LONE_MIN_BYTES;
use super::subscriptions::SessionKey;
use super::v6_io::{queue_delivery, Encoded};
use super::wire::{self, Sent};
use super::Engine;

/// The payload of a message on its way out.
pub(super) enum Body<'a> {
    /// Bytes copied into every delivery (last-value replay).
    Shared(&'a [u8]),
    /// The payload frame as received from the publisher: copied for every
    /// recipient but the last, which is handed the frame itself. A 1→1
    /// publish therefore forwards its payload without copying it (10 MB
    /// DataFrames: one copy less, and no fresh 10 MB allocation).
    Received(&'a mut zmq::Message),
}

impl Body<'_> {
    fn bytes(&self) -> &[u8] {
        match self {
            Body::Shared(b) => b,
            Body::Received(m) => m,
        }
    }
}

/// A message on its way out.
pub(super) struct Outgoing<'a> {
    pub namespace: &'a str,
    pub topic: &'a str,
    pub publisher: &'a str,
    pub format: Format,
    pub flags: u8,
    pub timestamp_ms: i64,
    pub payload: Body<'a>,
    pub seq: u64,
    pub broker_time_us: u64,
}

impl Outgoing<'_> {
    /// The payload as published.
    pub fn payload_bytes(&self) -> &[u8] {
        self.payload.bytes()
    }

    fn header(&self) -> [u8; 20] {
        Header {
            version: PROTOCOL_VERSION,
            msg_type: MsgType::Msg,
            format: self.format,
            flags: self.flags,
            payload_length: self.payload.bytes().len() as u32,
            request_id: 0,
            timestamp_ms: self.timestamp_ms,
        }
        .encode()
    }
}

impl Engine {
    /// Sends `out` to every matching session, or only to `only` (snapshot
    /// replay). Returns how many sessions it reached.
    pub(super) fn deliver(&mut self, out: &mut Outgoing, only: Option<SessionKey>) -> usize {
        if only.is_none() && !self.taps.is_empty() {
            self.taps.offer(out);
        }
        self.publish_count += 1;
        let mark = self.publish_count;
        let mut matched = std::mem::take(&mut self.matched);
        matched.clear();
        match only {
            Some(k) => matched.push(k),
            None => self.index.matches(out.namespace, out.topic, &mut matched),
        }
        // A session is listed once per matching pattern: count recipients,
        // not matches, before choosing how to send.
        if matched.len() > 1 {
            matched.sort_unstable();
            matched.dedup();
        }
        let header = out.header();
        let ext = Ext { seq: out.seq, broker_time_us: out.broker_time_us }.encode();
        let (ns, topic, publisher) = (out.namespace.as_bytes(), out.topic.as_bytes(), out.publisher.as_bytes());
        let len = out.payload.bytes().len() as u64;
        let (mut reached, mut dropped, mut lost) = (0usize, 0u64, 0u64);
        let mut now = None;
        let several = matched.len() > 1;
        // Protocol-5 recipients: with several recipients the six frames are
        // built once (at the first of them) and each recipient is handed
        // references (one payload copy per publish instead of one per
        // recipient). A single recipient is handed the received payload
        // frame itself (no copy at all).
        let mut shared: Option<[wire::SharedFrame; 6]> = None;
        // Protocol-6 recipients: the one-frame message is encoded once
        // (at the first of them) and copied into each recipient's batch.
        let mut v6_large: Option<std::sync::Arc<Vec<u8>>> = None;
        let mut v6_encoded = false;
        let limit = self.cfg.session_buffer_bytes;
        let last = matched.len().wrapping_sub(1);
        for (i, key) in matched.iter().enumerate() {
            let Some(s) = self.sessions.get_mut(*key) else { continue };
            if s.delivered_mark == mark {
                continue;
            }
            s.delivered_mark = mark;
            if s.delivery_rid.is_none() {
                continue; // not attached (yet): nothing to deliver to
            }
            let accepted = if s.protocol == v6::VERSION {
                if !v6_encoded {
                    self.v6_msg.clear();
                    let fields = v6::Fields {
                        msg_type: MsgType::Msg,
                        format: out.format,
                        flags: out.flags,
                        request_id: 0,
                        timestamp_ms: out.timestamp_ms,
                        namespace: out.namespace,
                        topic: out.topic,
                        publisher: out.publisher,
                        ext: Ext { seq: out.seq, broker_time_us: out.broker_time_us },
                    };
                    // Names were validated on PUB; a publisher name over
                    // 255 bytes would be a broker bug, so it is only logged.
                    if let Err(e) = v6::encode_into(&mut self.v6_msg, &fields, out.payload.bytes()) {
                        tracing::error!("cannot encode a protocol-6 delivery: {e}");
                    }
                    v6_encoded = true;
                    if self.v6_msg.len() >= LONE_MIN_BYTES {
                        v6_large = Some(std::sync::Arc::new(std::mem::take(&mut self.v6_msg)));
                    }
                }
                let encoded = match &v6_large {
                    Some(frame) => Encoded::Large(frame.clone()),
                    None => Encoded::Small(&self.v6_msg),
                };
                let q = queue_delivery(
                    &mut self.sockets.delivery,
                    s,
                    &encoded,
                    limit,
                    &mut self.out_due,
                    &mut self.backlogged,
                );
                lost += q.lost;
                q.accepted
            } else {
                let Some(rid) = &s.delivery_rid else { continue };
                let sent = match (several, &mut out.payload) {
                    (true, body) => {
                        let frames = shared.get_or_insert_with(|| {
                            [&header[..], ns, topic, publisher, body.bytes(), &ext[..]].map(wire::SharedFrame::new)
                        });
                        wire::send_routed_shared(&mut self.sockets.delivery, rid, frames)
                    }
                    (false, Body::Received(m)) if i == last => {
                        let payload = std::mem::replace(*m, zmq::Message::new());
                        wire::send_routed_payload(
                            &mut self.sockets.delivery,
                            rid,
                            [&header, ns, topic, publisher],
                            payload,
                            &ext,
                        )
                    }
                    (false, body) => wire::send_routed(
                        &mut self.sockets.delivery,
                        rid,
                        &[&header, ns, topic, publisher, body.bytes(), &ext],
                    ),
                };
                sent == Sent::Ok
            };
            if accepted {
                s.book_delivery(len, out.broker_time_us);
                reached += 1;
            } else {
                s.book_drops(1, *now.get_or_insert_with(Instant::now));
                dropped += 1;
            }
        }
        self.totals.drops += lost;
        self.matched = matched;
        self.totals.msgs_out += reached as u64;
        self.totals.bytes_out += reached as u64 * len;
        if dropped > 0 {
            self.totals.drops += dropped;
            self.topics.add_drops(out.namespace, out.topic, dropped);
        }
        reached
    }
}
