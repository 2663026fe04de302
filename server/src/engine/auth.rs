//! AUTH on the command port, ATTACH on the delivery port, and the throttle
//! that makes guessing tokens pointless.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use pulsemq_shared::header::{Header, LEGACY_VERSION};
use pulsemq_shared::payloads::{AttachRequest, AuthRequest, ATTACH_OK, AUTH_OK};
use pulsemq_shared::{v6, ErrorCode, FrameRefs, MsgType};
use tracing::{info, warn};

use super::{wire, Engine, Request};
use crate::control::StoreEvent;
use crate::perms::UserType;
use crate::tokens;

/// Failed AUTHs allowed per peer address per window before ERROR 12.
pub const MAX_FAILURES: u32 = 10;
pub const WINDOW: Duration = Duration::from_secs(60);

/// The one message every failed credential check gets, so a caller cannot
/// tell an unknown user from a wrong token.
const AUTH_FAILED: &str = "authentication failed: unknown user, wrong token or inactive account";

/// Failed-AUTH counts per peer IP address.
#[derive(Debug, Default)]
pub struct AuthThrottle {
    peers: HashMap<String, (Instant, u32)>,
}

impl AuthThrottle {
    /// Seconds to wait when `peer` is over the limit.
    pub fn blocked(&self, peer: &str) -> Option<u64> {
        let (start, n) = self.peers.get(peer)?;
        let age = start.elapsed();
        (*n >= MAX_FAILURES && age < WINDOW).then(|| (WINDOW - age).as_secs() + 1)
    }

    pub fn fail(&mut self, peer: &str) {
        let e = self.peers.entry(peer.to_owned()).or_insert((Instant::now(), 0));
        if e.0.elapsed() >= WINDOW {
            *e = (Instant::now(), 0);
        }
        e.1 += 1;
    }

    pub fn prune(&mut self) {
        self.peers.retain(|_, (start, _)| start.elapsed() < WINDOW);
    }
}

impl Engine {
    pub(super) fn on_auth(&mut self, req: &Request) {
        let peer = req.peer;
        if let Some(wait) = self.throttle.blocked(peer) {
            self.totals.auth_throttled += 1;
            self.reply_error(
                req,
                ErrorCode::RateLimited,
                &format!("too many failed authentications from {peer}: retry in {wait} s"),
            );
            return;
        }
        let Ok(ask) = serde_json::from_slice::<AuthRequest>(req.frames.payload) else {
            self.auth_failed(req, "", "malformed AUTH payload");
            self.reply_error(
                req,
                ErrorCode::AuthFailed,
                "malformed AUTH payload: expected {\"username\": ..., \"token\": ...}",
            );
            return;
        };
        let user = match self.perms.users_by_name.get(&ask.username) {
            Some(u) if u.is_active && u.token_hash.is_some_and(|h| tokens::token_matches(&h, &ask.token)) => u.clone(),
            Some(u) if !u.is_active => return self.auth_rejected(req, &ask.username, "inactive user"),
            Some(_) => return self.auth_rejected(req, &ask.username, "wrong token"),
            None => return self.auth_rejected(req, &ask.username, "unknown user"),
        };
        if user.user_type == UserType::AdminOnly {
            self.auth_failed(req, &ask.username, "admin_only user");
            self.reply_error(
                req,
                ErrorCode::AuthFailed,
                "admin_only users may use the admin API but not open MQ sessions",
            );
            return;
        }
        // A second AUTH on the same routing id replaces the session
        // (a client re-authenticating after a broker restart or a hiccup).
        if let Some(old) = self.sessions.key_by_cmd(req.rid) {
            self.end_session(old, "re-authenticated");
        }
        let max = self.cfg.max_connections_per_user;
        if self.sessions.count_for_user(user.id) >= max {
            self.totals.connection_limit_hits += 1;
            self.reply_error(
                req,
                ErrorCode::ConnectionLimit,
                &format!("user '{}' already has {max} sessions (limits.max_connections_per_user)", user.username),
            );
            return;
        }
        let version = req.frames.header.version;
        let id = tokens::new_session_id();
        self.sessions.create(id.clone(), user.clone(), req.rid, version, peer.to_owned());
        self.totals.auth_ok += 1;
        info!("'{}' (id {}) authenticated from {peer}, protocol {version}", user.username, user.id);
        let extra = if version == LEGACY_VERSION {
            format!("\"user_id\": {}", user.id)
        } else {
            format!(
                "\"user_id\":{},\"session\":\"{id}\",\"protocol\":{version},\"ping_interval\":{}",
                user.id,
                self.cfg.ping_interval.as_secs()
            )
        };
        self.reply_ack(req, AUTH_OK, Some(&extra));
    }

    /// A session whose routing id libzmq assigned ([`wire::assigned_by_libzmq`])
    /// is bound to the address that authenticated it as well: a request
    /// under that id from any other address is refused with ERROR 2 (and
    /// logged), as if the id were unknown. Client-chosen ids (both SDKs: 16
    /// random bytes) are secret enough on their own and skip this check, so
    /// the hot path reads no peer address for them.
    pub(super) fn foreign_claim(&mut self, parts: &mut [zmq::Message]) -> bool {
        if !wire::assigned_by_libzmq(&parts[0]) {
            return false;
        }
        let Some(owner) = self.sessions.key_by_cmd(&parts[0]).and_then(|k| self.sessions.get(k)) else {
            return false;
        };
        let from = parts[1].gets("Peer-Address").unwrap_or("").to_owned();
        if owner.peer == from {
            return false;
        }
        warn!(
            "refused a request from {from} under the routing id of '{}' (authenticated from {}): the id is libzmq's, \
             so the session is bound to its address",
            owner.user.username, owner.peer
        );
        let frame: &[u8] = &parts[1];
        let version = Header::peek_version(frame);
        let id = if version == v6::VERSION { v6::peek_request_id(frame) } else { Header::peek_request_id(frame) };
        self.reply_error_raw(&parts[0], version, id, ErrorCode::NotAuthenticated, "not authenticated: send AUTH first");
        true
    }

    fn auth_rejected(&mut self, req: &Request, username: &str, reason: &str) {
        self.auth_failed(req, username, reason);
        self.reply_error(req, ErrorCode::AuthFailed, AUTH_FAILED);
    }

    /// Counts, throttles and audits a failed AUTH.
    fn auth_failed(&mut self, req: &Request, username: &str, reason: &str) {
        self.totals.auth_fail += 1;
        self.throttle.fail(req.peer);
        // Not yet authenticated: the name is whatever the peer sent, shown short.
        warn!("AUTH failed for '{}' from {}: {reason}", pulsemq_shared::names::shown(username), req.peer);
        self.emit(StoreEvent::AuthFailure {
            username: username.chars().take(64).collect(),
            peer: req.peer.to_owned(),
            reason: reason.to_owned(),
        });
    }

    /// One message from the delivery port: ATTACH, PING or nonsense.
    pub(super) fn on_delivery_port(&mut self, parts: &mut [zmq::Message], n: usize) {
        if n < 2 {
            return;
        }
        let peer = parts[1].gets("Peer-Address").unwrap_or("").to_owned();
        if parts[1].first() == Some(&pulsemq_shared::v6::VERSION) {
            return self.on_delivery_port_v6(parts, n, &peer);
        }
        let rid: &[u8] = &parts[0];
        let f = match wire::decode_routed(parts, n) {
            Ok(f) => f,
            Err(e) => {
                self.send_error_on(true, rid, e.version, e.request_id, e.error.code(), &e.error.to_string());
                return;
            }
        };
        self.on_delivery_request(rid, &f, &peer);
    }

    /// A decoded delivery-port request, whatever the protocol version.
    pub(super) fn on_delivery_request(&mut self, rid: &[u8], f: &FrameRefs, peer: &str) {
        match f.header.msg_type {
            MsgType::Attach => self.on_attach(rid, f, peer),
            MsgType::Ping => {
                if let Some(s) = self.sessions.key_by_delivery(rid).and_then(|k| self.sessions.get_mut(k)) {
                    s.last_seen = std::time::Instant::now();
                }
                let h = wire::reply_header(f.header.version, MsgType::Pong, f.header.request_id, 0);
                self.send_reply(true, rid, &h, b"");
            }
            MsgType::Pong => {
                // A marker's PONG (see `drain`): frames held back may go.
                if let Some(s) = self.sessions.key_by_delivery(rid).and_then(|k| self.sessions.get_mut(k)) {
                    s.drain.on_pong(f.header.request_id);
                }
            }
            other => self.send_error_on(
                true,
                rid,
                f.header.version,
                f.header.request_id,
                ErrorCode::UnknownType,
                &format!("the delivery port only takes ATTACH and PING, not {}", other.name()),
            ),
        }
    }

    fn on_attach(&mut self, rid: &[u8], f: &FrameRefs, peer: &str) {
        let (v, id) = (f.header.version, f.header.request_id);
        // Failed ATTACHes are throttled and audited like failed AUTHs: the
        // token travels here too, so this port must not be a free oracle.
        if let Some(wait) = self.throttle.blocked(peer) {
            self.totals.auth_throttled += 1;
            let msg = format!("too many failed authentications from {peer}: retry in {wait} s");
            return self.send_error_on(true, rid, v, id, ErrorCode::RateLimited, &msg);
        }
        let fail = |e: &mut Engine, username: &str, reason: &str, msg: &str| {
            e.totals.auth_fail += 1;
            e.throttle.fail(peer);
            e.emit(StoreEvent::AuthFailure {
                username: username.chars().take(64).collect(),
                peer: peer.to_owned(),
                reason: format!("ATTACH: {reason}"),
            });
            e.send_error_on(true, rid, v, id, ErrorCode::AttachFailed, msg)
        };
        let Ok(ask) = serde_json::from_slice::<AttachRequest>(f.payload) else {
            return fail(
                self,
                "",
                "malformed payload",
                "malformed ATTACH payload: expected {\"session\": ..., \"token\": ...}",
            );
        };
        let Some(key) = self.sessions.key_by_id(&ask.session) else {
            return fail(
                self,
                "",
                "unknown session",
                "unknown session: AUTH on the command port first, then ATTACH with the session it returned",
            );
        };
        let owner = self.sessions.get(key).map(|s| s.user.clone());
        let ok = owner.as_ref().and_then(|u| u.token_hash).is_some_and(|h| tokens::token_matches(&h, &ask.token));
        if !ok {
            let username = owner.map(|u| u.username.clone()).unwrap_or_default();
            warn!("ATTACH with a wrong token for a session of '{username}' from {peer}");
            return fail(self, &username, "wrong token", "ATTACH refused: the token does not belong to this session");
        }
        self.sessions.attach(key, rid);
        if let Some(s) = self.sessions.get_mut(key) {
            s.last_seen = std::time::Instant::now();
        }
        let body = format!("{{\"status\":\"{ATTACH_OK}\"}}");
        let h = wire::reply_header(v, MsgType::Ack, id, body.len());
        self.send_reply(true, rid, &h, body.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttle_blocks_after_the_limit_and_only_that_peer() {
        let mut t = AuthThrottle::default();
        for _ in 0..MAX_FAILURES - 1 {
            t.fail("10.0.0.1");
        }
        assert!(t.blocked("10.0.0.1").is_none());
        t.fail("10.0.0.1");
        let wait = t.blocked("10.0.0.1").unwrap();
        assert!(wait >= 1 && wait <= WINDOW.as_secs() + 1);
        assert!(t.blocked("10.0.0.2").is_none());
    }
}
