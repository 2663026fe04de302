//! PUB: check, stamp, sequence, deliver, acknowledge.

use std::io::Write as _;
use std::sync::Arc;

use pulsemq_shared::header::flags;
use pulsemq_shared::payloads::PUB_OK;
use pulsemq_shared::{validate_namespace, validate_topic, ErrorCode, Format};

use super::delivery::{Body, Outgoing};
use super::stats::FrameClock;
use super::subscriptions::SessionKey;
use super::topics::{LastValue, TopicLimitHit, TopicLimits, LVC_MAX_PAYLOAD};
use super::{Engine, Request};
use crate::control::StoreEvent;
use crate::perms::{Role, UserEntry};

/// What a publish carries, however it arrived.
pub(crate) struct PubIn<'a> {
    pub namespace: &'a str,
    pub topic: &'a str,
    pub format: Format,
    pub flags: u8,
    pub timestamp_ms: i64,
    pub payload: &'a [u8],
}

/// What [`Engine::sequence`] gave a publish.
pub(super) struct Sequenced {
    seq: u64,
    /// The flags it is delivered with.
    flags: u8,
    broker_time_us: u64,
}

/// A publish that passed every check and got its sequence number: what
/// [`Engine::finish_pub`] needs to deliver and acknowledge it once the
/// request's borrowed frames are released (so the received payload frame
/// can be handed to a single recipient instead of copied).
pub(super) struct Accepted {
    key: SessionKey,
    user: Arc<UserEntry>,
    format: Format,
    flags: u8,
    timestamp_ms: i64,
    seq: u64,
    broker_time_us: u64,
    ack: bool,
    version: u8,
    request_id: u32,
}

impl Engine {
    /// Order of checks: session (2), then those of [`Engine::sequence`].
    /// Only a message that passes all of them gets a sequence number; it is
    /// then delivered and acknowledged by [`Engine::finish_pub`].
    pub(super) fn on_pub(&mut self, req: &Request) -> Option<Accepted> {
        let key: SessionKey = self.session_of(req)?;
        let user = self.sessions.get(key).map(|s| s.user.clone())?;
        let f = req.frames;
        let h = f.header;
        let input = PubIn {
            namespace: f.namespace,
            topic: f.topic,
            format: h.format,
            flags: h.flags,
            timestamp_ms: h.timestamp_ms,
            payload: f.payload,
        };
        let sequenced = match self.sequence(&user, &input) {
            Ok(s) => s,
            Err((code, msg)) => {
                self.reply_error(req, code, &msg);
                return None;
            }
        };
        if let Some(s) = self.sessions.get_mut(key) {
            s.msgs_in += 1;
            s.bytes_in += f.payload.len() as u64;
        }
        self.frame.accepted += 1;
        Some(Accepted {
            key,
            user,
            format: h.format,
            flags: sequenced.flags,
            timestamp_ms: h.timestamp_ms,
            seq: sequenced.seq,
            broker_time_us: sequenced.broker_time_us,
            ack: !h.has_flag(flags::NO_ACK),
            version: h.version,
            request_id: h.request_id,
        })
    }

    /// The checks every publish passes, however it arrived — names (4),
    /// role (3), format and size (5), topic limits (13) — then its topic's
    /// next sequence number, the last-value cache and the counters. The
    /// error is the code and text the publisher is answered with.
    pub(super) fn sequence(&mut self, user: &UserEntry, p: &PubIn) -> Result<Sequenced, (ErrorCode, String)> {
        let fail = |e: pulsemq_shared::ProtocolError| (e.code(), e.to_string());
        validate_namespace(p.namespace).and_then(|_| validate_topic(p.topic)).map_err(fail)?;
        if !user.may(p.namespace, Role::Pub) {
            self.totals.perm_denied += 1;
            let msg = format!("permission denied: '{}' has no pub role in namespace '{}'", user.username, p.namespace);
            return Err((ErrorCode::PermissionDenied, msg));
        }
        let compressed = pulsemq_shared::Compression::from_flags(p.flags).map_err(fail)?.is_some();
        p.format.check_size(p.payload.len()).map_err(fail)?;
        if p.format == Format::String && !compressed && std::str::from_utf8(p.payload).is_err() {
            return Err((ErrorCode::PayloadInvalid, "STRING payload is not valid UTF-8".into()));
        }

        let broker_time_us = self.frame.broker_time_us;
        let len = p.payload.len() as u64;
        let (perms, cfg) = (&self.perms, &self.cfg);
        let limits = || TopicLimits {
            per_namespace: perms
                .namespaces
                .get(p.namespace)
                .and_then(|n| n.max_topics)
                .unwrap_or(cfg.max_topics_per_namespace),
            per_user: cfg.max_topics_per_user,
        };
        let st = match self.topics.get_or_create(p.namespace, p.topic, &user.username, limits) {
            Ok(st) => st,
            Err(TopicLimitHit(msg)) => {
                self.totals.topic_limit_hits += 1;
                return Err((ErrorCode::TopicLimit, msg));
            }
        };
        st.seq += 1;
        st.msgs += 1;
        st.bytes += len;
        st.last_publish_ms = (broker_time_us / 1000) as i64;
        let seq = st.seq;
        // Flags that only make sense on the way in are not forwarded.
        let out_flags = p.flags & !(flags::NO_ACK | flags::SNAPSHOT);
        if p.payload.len() <= LVC_MAX_PAYLOAD {
            let last = st.last.get_or_insert_with(LastValue::default);
            last.format = p.format as u8;
            last.flags = out_flags;
            last.timestamp_ms = p.timestamp_ms;
            last.publisher.clear();
            last.publisher.push_str(&user.username);
            last.payload.clear();
            last.payload.extend_from_slice(p.payload);
            last.seq = seq;
            last.broker_time_us = broker_time_us;
        } else {
            st.last = None;
        }
        if !st.persisted {
            let ev = StoreEvent::TopicSeen {
                namespace: p.namespace.to_owned(),
                topic: p.topic.to_owned(),
                created_by: user.username.clone(),
            };
            if self.emit(ev) {
                if let Some(st) = self.topics.get_mut(p.namespace, p.topic) {
                    st.persisted = true;
                }
            }
        }
        self.totals.msgs_in += 1;
        self.totals.bytes_in += len;
        Ok(Sequenced { seq, flags: out_flags, broker_time_us })
    }

    /// A publish from the admin API (the console's "publish a test
    /// message"): the same checks and delivery as a client's PUB, in the
    /// name and with the permissions of the logged-in account.
    pub(super) fn publish_from_admin(&mut self, username: &str, p: &PubIn) -> Result<u64, (ErrorCode, String)> {
        let Some(user) = self.perms.users_by_name.get(username).cloned() else {
            return Err((ErrorCode::PermissionDenied, format!("no such user '{username}'")));
        };
        self.frame = FrameClock::start();
        let sq = self.sequence(&user, p)?;
        let mut out = Outgoing {
            namespace: p.namespace,
            topic: p.topic,
            publisher: &user.username,
            format: p.format,
            flags: sq.flags,
            timestamp_ms: p.timestamp_ms,
            payload: Body::Shared(p.payload),
            seq: sq.seq,
            broker_time_us: sq.broker_time_us,
        };
        self.deliver(&mut out, None);
        Ok(sq.seq)
    }

    /// Delivers an accepted publish, then acknowledges it (unless NO_ACK).
    /// `parts` is the received `[rid, header, namespace, topic, username,
    /// payload, reserved]`, already checked by [`Engine::on_pub`].
    pub(super) fn finish_pub(&mut self, parts: &mut [zmq::Message], a: Accepted) {
        let (head, tail) = parts.split_at_mut(5);
        let (Ok(namespace), Ok(topic)) = (std::str::from_utf8(&head[2]), std::str::from_utf8(&head[3])) else {
            return; // validated by on_pub: cannot happen
        };
        let mut out = Outgoing {
            namespace,
            topic,
            publisher: &a.user.username,
            format: a.format,
            flags: a.flags,
            timestamp_ms: a.timestamp_ms,
            payload: Body::Received(&mut tail[0]),
            seq: a.seq,
            broker_time_us: a.broker_time_us,
        };
        self.deliver(&mut out, None);

        if a.ack {
            let rid: &[u8] = &head[0];
            if a.version == pulsemq_shared::header::LEGACY_VERSION {
                self.start_ack(true, PUB_OK);
            } else {
                // `{"status":"PUB_OK","seq":N}`, written into the reused buffer.
                self.start_ack(false, PUB_OK);
                let _ = write!(self.scratch, ",\"seq\":{}", a.seq);
            }
            self.send_ack(rid, a.version, a.request_id);
        }
    }

    /// Delivers an accepted protocol-6 publish (its payload a slice of the
    /// received frame) and owes its session a cumulative ACK (unless NO_ACK).
    pub(super) fn finish_pub_v6(&mut self, req: &Request, a: Accepted) {
        let f = req.frames;
        let mut out = Outgoing {
            namespace: f.namespace,
            topic: f.topic,
            publisher: &a.user.username,
            format: a.format,
            flags: a.flags,
            timestamp_ms: a.timestamp_ms,
            payload: Body::Shared(f.payload),
            seq: a.seq,
            broker_time_us: a.broker_time_us,
        };
        self.deliver(&mut out, None);
        if a.ack {
            self.owe_ack(a.key, a.request_id, a.seq);
        }
    }
}
