//! SUB and UNSUB, and the last-value replay of `{"snapshot": true}`.

use pulsemq_shared::header::{flags, LEGACY_VERSION};
use pulsemq_shared::payloads::{SubOptions, SUB_OK, UNSUB_OK};
use pulsemq_shared::{validate_namespace, ErrorCode, Format, Pattern};

use super::delivery::{Body, Outgoing};
use super::session::REPEAT_SNAPSHOT_EVERY;
use super::subscriptions::SessionKey;
use super::{Engine, Request};
use crate::perms::Role;

impl Engine {
    /// Parses namespace and pattern, answering ERROR 4 when invalid.
    fn sub_target(&mut self, req: &Request) -> Option<Pattern> {
        let f = req.frames;
        match validate_namespace(f.namespace).and_then(|_| Pattern::parse(f.topic)) {
            Ok(p) => Some(p),
            Err(e) => {
                self.reply_error(req, e.code(), &e.to_string());
                None
            }
        }
    }

    pub(super) fn on_sub(&mut self, req: &Request) {
        let Some(key) = self.session_of(req) else { return };
        if req.frames.header.version == LEGACY_VERSION {
            // The original client reads deliveries from an open XPUB port,
            // which this broker deliberately does not offer (see README).
            return self.reply_error(
                req,
                ErrorCode::UnknownType,
                "protocol-4 subscriptions are not supported: use a protocol-5 client (pulse_mq >= 0.5 or pulsemq-client)",
            );
        }
        let Some(pattern) = self.sub_target(req) else { return };
        let ns = req.frames.namespace;
        let opts = if req.frames.payload.is_empty() {
            SubOptions::default()
        } else {
            match serde_json::from_slice::<SubOptions>(req.frames.payload) {
                Ok(o) => o,
                Err(e) => {
                    return self.reply_error(
                        req,
                        ErrorCode::Malformed,
                        &format!("SUB payload must be empty or {{\"snapshot\": true}}: {e}"),
                    )
                }
            }
        };
        let Some(s) = self.sessions.get(key) else { return };
        if !s.user.may(ns, Role::Sub) {
            self.totals.perm_denied += 1;
            let msg = format!("permission denied: '{}' has no sub role in namespace '{ns}'", s.user.username);
            return self.reply_error(req, ErrorCode::PermissionDenied, &msg);
        }
        let id = (ns.to_owned(), req.frames.topic.to_owned());
        let existed = s.subs.contains_key(&id);
        if existed && opts.snapshot {
            let now = std::time::Instant::now();
            if s.last_repeat_snapshot.is_some_and(|t| now.duration_since(t) < REPEAT_SNAPSHOT_EVERY) {
                return self.reply_error(
                    req,
                    ErrorCode::RateLimited,
                    "snapshot of an existing subscription: at most one replay per second per session; the \
                     subscription is in place, SUB with snapshot again later",
                );
            }
            if let Some(s) = self.sessions.get_mut(key) {
                s.last_repeat_snapshot = Some(now);
            }
        }
        let Some(s) = self.sessions.get(key) else { return };
        if !existed {
            let max = self.cfg.max_subscriptions_per_conn;
            if s.subs.len() >= max {
                return self.reply_error(
                    req,
                    ErrorCode::SubscriptionLimit,
                    &format!("this session already has {max} subscriptions (limits.max_subscriptions_per_conn)"),
                );
            }
            self.index.insert(ns, &pattern, key);
            if let Some(s) = self.sessions.get_mut(key) {
                s.subs.insert(id, pattern.clone());
            }
        }
        self.reply_ack(req, SUB_OK, None);
        if opts.snapshot {
            self.replay_last_values(key, ns, &pattern);
        }
    }

    pub(super) fn on_unsub(&mut self, req: &Request) {
        let Some(key) = self.session_of(req) else { return };
        let Some(pattern) = self.sub_target(req) else { return };
        let ns = req.frames.namespace;
        let id = (ns.to_owned(), req.frames.topic.to_owned());
        if let Some(s) = self.sessions.get_mut(key) {
            if s.subs.remove(&id).is_some() {
                self.index.remove(ns, &pattern, key);
            }
        }
        self.reply_ack(req, UNSUB_OK, None);
    }

    /// Sends the cached last message of every matching topic, flagged SNAPSHOT.
    fn replay_last_values(&mut self, key: SessionKey, ns: &str, pattern: &Pattern) {
        let Some(topics) = self.topics.namespaces.get(ns) else { return };
        let mut lasts: Vec<(String, super::topics::LastValue)> = topics
            .iter()
            .filter(|(t, _)| pattern.matches(t))
            .filter_map(|(t, st)| st.last.clone().map(|l| (t.to_string(), l)))
            .collect();
        lasts.sort_by(|a, b| a.0.cmp(&b.0));
        for (topic, last) in lasts {
            let mut out = Outgoing {
                namespace: ns,
                topic: &topic,
                publisher: &last.publisher,
                format: Format::from_u8(last.format).unwrap_or(Format::Bytes),
                flags: last.flags | flags::SNAPSHOT,
                timestamp_ms: last.timestamp_ms,
                payload: Body::Shared(&last.payload),
                seq: last.seq,
                broker_time_us: last.broker_time_us,
            };
            self.deliver(&mut out, Some(key));
        }
    }
}
