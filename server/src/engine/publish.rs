//! PUB: check, stamp, sequence, deliver, acknowledge.

use std::time::Instant;

use pulsemq_shared::header::flags;
use pulsemq_shared::payloads::PUB_OK;
use pulsemq_shared::{validate_namespace, validate_topic, ErrorCode, Format};

use super::delivery::Outgoing;
use super::topics::{LastValue, LVC_MAX_PAYLOAD};
use super::{Engine, Request};
use crate::control::StoreEvent;
use crate::perms::Role;

/// µs since the Unix epoch.
pub(super) fn now_us() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_micros() as u64).unwrap_or(0)
}

impl Engine {
    /// Order of checks: session (2), names (4), role (3), format and size
    /// (5). Only a message that passes all of them gets a sequence number.
    pub(super) fn on_pub(&mut self, req: &Request) {
        let started = Instant::now();
        let Some(key) = self.session_of(req) else { return };
        let f = req.frames;
        let h = f.header;
        if let Err(e) = validate_namespace(f.namespace).and_then(|_| validate_topic(f.topic)) {
            return self.reply_error(req, e.code(), &e.to_string());
        }
        let Some(user) = self.sessions.get(key).map(|s| s.user.clone()) else { return };
        if !user.may(f.namespace, Role::Pub) {
            self.totals.perm_denied += 1;
            let msg = format!("permission denied: '{}' has no pub role in namespace '{}'", user.username, f.namespace);
            return self.reply_error(req, ErrorCode::PermissionDenied, &msg);
        }
        let compressed = match h.compression() {
            Ok(c) => c.is_some(),
            Err(e) => return self.reply_error(req, e.code(), &e.to_string()),
        };
        if let Err(e) = h.format.check_size(f.payload.len()) {
            return self.reply_error(req, e.code(), &e.to_string());
        }
        if h.format == Format::String && !compressed && std::str::from_utf8(f.payload).is_err() {
            return self.reply_error(req, ErrorCode::PayloadInvalid, "STRING payload is not valid UTF-8");
        }

        let broker_time_us = now_us();
        let len = f.payload.len() as u64;
        let st = self.topics.get_or_create(f.namespace, f.topic);
        st.seq += 1;
        st.msgs += 1;
        st.bytes += len;
        st.last_publish_ms = (broker_time_us / 1000) as i64;
        let seq = st.seq;
        // Flags that only make sense on the way in are not forwarded.
        let out_flags = h.flags & !(flags::NO_ACK | flags::SNAPSHOT);
        if f.payload.len() <= LVC_MAX_PAYLOAD {
            let last = st.last.get_or_insert_with(LastValue::default);
            last.format = h.format as u8;
            last.flags = out_flags;
            last.timestamp_ms = h.timestamp_ms;
            last.publisher.clear();
            last.publisher.push_str(&user.username);
            last.payload.clear();
            last.payload.extend_from_slice(f.payload);
            last.seq = seq;
            last.broker_time_us = broker_time_us;
        } else {
            st.last = None;
        }
        if !st.persisted {
            let ev = StoreEvent::TopicSeen {
                namespace: f.namespace.to_owned(),
                topic: f.topic.to_owned(),
                created_by: user.username.clone(),
            };
            if self.emit(ev) {
                self.topics.get_or_create(f.namespace, f.topic).persisted = true;
            }
        }
        if let Some(s) = self.sessions.get_mut(key) {
            s.msgs_in += 1;
            s.bytes_in += len;
        }
        self.totals.msgs_in += 1;
        self.totals.bytes_in += len;

        let out = Outgoing {
            namespace: f.namespace,
            topic: f.topic,
            publisher: &user.username,
            format: h.format,
            flags: out_flags,
            timestamp_ms: h.timestamp_ms,
            payload: f.payload,
            seq,
            broker_time_us,
        };
        self.deliver(&out, None);
        self.latency.record(started.elapsed().as_micros() as u64);

        if !h.has_flag(flags::NO_ACK) {
            let extra =
                if h.version == pulsemq_shared::header::LEGACY_VERSION { None } else { Some(format!("\"seq\":{seq}")) };
            self.reply_ack(req, PUB_OK, extra.as_deref());
        }
    }
}
