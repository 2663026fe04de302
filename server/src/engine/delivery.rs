//! Fan-out of one message to the sessions whose patterns match it.
//!
//! One delivery per session however many of its patterns match; a session
//! whose pipe is full loses this message alone (counted per session and per
//! topic) and the publisher never waits.

use std::time::Instant;

use pulsemq_shared::header::PROTOCOL_VERSION;
use pulsemq_shared::{Ext, Format, Header, MsgType};

use super::subscriptions::SessionKey;
use super::wire::{self, Sent};
use super::Engine;

/// A message on its way out.
pub(super) struct Outgoing<'a> {
    pub namespace: &'a str,
    pub topic: &'a str,
    pub publisher: &'a str,
    pub format: Format,
    pub flags: u8,
    pub timestamp_ms: i64,
    pub payload: &'a [u8],
    pub seq: u64,
    pub broker_time_us: u64,
}

impl Outgoing<'_> {
    fn header(&self) -> [u8; 20] {
        Header {
            version: PROTOCOL_VERSION,
            msg_type: MsgType::Msg,
            format: self.format,
            flags: self.flags,
            payload_length: self.payload.len() as u32,
            request_id: 0,
            timestamp_ms: self.timestamp_ms,
        }
        .encode()
    }
}

impl Engine {
    /// Sends `out` to every matching session, or only to `only` (snapshot
    /// replay). Returns how many sessions it reached.
    pub(super) fn deliver(&mut self, out: &Outgoing, only: Option<SessionKey>) -> usize {
        self.publish_count += 1;
        let mark = self.publish_count;
        let mut matched = std::mem::take(&mut self.matched);
        matched.clear();
        match only {
            Some(k) => matched.push(k),
            None => self.index.matches(out.namespace, out.topic, &mut matched),
        }
        let header = out.header();
        let ext = Ext { seq: out.seq, broker_time_us: out.broker_time_us }.encode();
        let frames: [&[u8]; 6] =
            [&header, out.namespace.as_bytes(), out.topic.as_bytes(), out.publisher.as_bytes(), out.payload, &ext];
        let len = out.payload.len() as u64;
        let (mut reached, mut dropped) = (0usize, 0u64);
        let mut now = None;
        for key in &matched {
            let Some(s) = self.sessions.get_mut(*key) else { continue };
            if s.delivered_mark == mark {
                continue;
            }
            s.delivered_mark = mark;
            let Some(rid) = &s.delivery_rid else { continue };
            match wire::send_routed(&self.sockets.delivery, rid, &frames) {
                Sent::Ok => {
                    s.msgs_out += 1;
                    s.bytes_out += len;
                    reached += 1;
                }
                Sent::Full | Sent::Gone => {
                    s.drops += 1;
                    s.last_drop = Some(*now.get_or_insert_with(Instant::now));
                    dropped += 1;
                }
            }
        }
        self.matched = matched;
        self.totals.msgs_out += reached as u64;
        self.totals.bytes_out += reached as u64 * len;
        if dropped > 0 {
            self.totals.drops += dropped;
            if let Some(t) = self.topics.namespaces.get_mut(out.namespace).and_then(|m| m.get_mut(out.topic)) {
                t.drops += dropped;
            }
        }
        reached
    }
}
