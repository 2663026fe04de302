//! Sessions: who is connected, through which routing ids, with which
//! subscriptions and counters.
//!
//! A session is created by a successful AUTH on the command port and keyed
//! by that routing id; ATTACH on the delivery port binds a second routing id
//! to it. Clients choose 16 random routing ids and reuse them on reconnect
//! (with `ROUTER_HANDOVER`), which is why routing ids are secrets and never
//! leave the engine.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use pulsemq_shared::Pattern;

use super::subscriptions::SessionKey;
use super::FastMap;
use crate::control::ConnectionInfo;
use crate::perms::UserEntry;

/// A session counts as slow while it dropped a message this recently.
pub const SLOW_WINDOW: std::time::Duration = std::time::Duration::from_secs(5);

#[derive(Debug)]
pub struct Session {
    pub key: SessionKey,
    /// Hex id handed out in AUTH_OK; the client presents it in ATTACH.
    pub id: String,
    pub user: Arc<UserEntry>,
    pub cmd_rid: Vec<u8>,
    pub delivery_rid: Option<Vec<u8>>,
    pub protocol: u8,
    pub peer: String,
    pub connected_at: i64,
    pub last_seen: Instant,
    /// (namespace, pattern text) → parsed pattern.
    pub subs: HashMap<(String, String), Pattern>,
    pub msgs_in: u64,
    pub bytes_in: u64,
    pub msgs_out: u64,
    pub bytes_out: u64,
    pub drops: u64,
    pub last_drop: Option<Instant>,
    /// Runs of drops (see [`Session::book_drops`]).
    pub gaps: u64,
    /// The last delivery attempt was dropped: the next drop continues the
    /// same gap, the next accepted delivery ends it.
    pub dropping: bool,
    /// Broker time (µs since the epoch) of the last delivery to the session.
    pub last_out_us: u64,
    /// Number of the last publish delivered to this session, so a session
    /// with several matching patterns still gets one copy.
    pub delivered_mark: u64,
    /// Protocol 6: deliveries waiting to go out (batch and parked frames).
    pub out: super::outbox::Outbox,
    /// Protocol 6: deliveries handed to libzmq and not yet seen read.
    pub drain: super::drain::DrainWindow,
    /// Protocol 6: the highest request id whose success is not yet
    /// confirmed (and the topic sequence its publish got); one cumulative
    /// ACK answers it and every earlier one.
    pub ack_pending: Option<(u32, u64)>,
    /// When a snapshot was last replayed for a SUB of a subscription the
    /// session already had (see [`REPEAT_SNAPSHOT_EVERY`]).
    pub last_repeat_snapshot: Option<Instant>,
}

/// A repeated `SUB {"snapshot": true}` of an existing subscription replays
/// the last values again at most this often per session: each replay walks
/// the namespace's topics on the engine thread (issue 21). A new
/// subscription always gets its snapshot.
pub const REPEAT_SNAPSHOT_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

impl Session {
    pub fn is_slow(&self, now: Instant) -> bool {
        self.last_drop.is_some_and(|t| now.duration_since(t) < SLOW_WINDOW)
    }

    /// Books `n` messages lost for this session. A run of drops is one gap
    /// in the sequence numbers the subscriber sees, however long it is.
    pub fn book_drops(&mut self, n: u64, now: Instant) {
        if n == 0 {
            return;
        }
        self.drops += n;
        self.last_drop = Some(now);
        if !self.dropping {
            self.gaps += 1;
            self.dropping = true;
        }
    }

    /// Books one accepted delivery (ends a run of drops).
    pub fn book_delivery(&mut self, len: u64, broker_time_us: u64) {
        self.msgs_out += 1;
        self.bytes_out += len;
        self.dropping = false;
        self.last_out_us = broker_time_us;
    }

    /// Bytes waiting for the subscriber: protocol 6 only (see
    /// [`ConnectionInfo::pending_bytes`]).
    pub fn pending_bytes(&self) -> u64 {
        self.out.queued_bytes() as u64 + self.drain.unconfirmed()
    }

    /// The session as the admin API lists it; `now` and `now_us` are one
    /// reading of the clocks for the whole list.
    pub fn info(&self, now: Instant, now_us: u64) -> ConnectionInfo {
        let seen_us = now_us.saturating_sub(now.saturating_duration_since(self.last_seen).as_micros() as u64);
        let mut subscriptions: Vec<String> = self.subs.keys().map(|(ns, p)| format!("{ns}:{p}")).collect();
        subscriptions.sort();
        ConnectionInfo {
            session: self.id.clone(),
            user_id: self.user.id,
            username: self.user.username.clone(),
            peer_address: self.peer.clone(),
            connected_since: self.connected_at,
            protocol: self.protocol,
            attached: self.delivery_rid.is_some(),
            subscriptions,
            msgs_in: self.msgs_in,
            bytes_in: self.bytes_in,
            msgs_out: self.msgs_out,
            bytes_out: self.bytes_out,
            drops: self.drops,
            slow: self.is_slow(now),
            gaps: self.gaps,
            pending_bytes: self.pending_bytes(),
            last_activity_ms: (seen_us.max(self.last_out_us) / 1000) as i64,
        }
    }
}

/// All live sessions and the lookups into them.
#[derive(Debug, Default)]
pub struct SessionTable {
    sessions: FastMap<SessionKey, Session>,
    by_cmd: FastMap<Vec<u8>, SessionKey>,
    by_delivery: FastMap<Vec<u8>, SessionKey>,
    by_id: FastMap<String, SessionKey>,
    per_user: FastMap<i64, usize>,
    next_key: SessionKey,
}

impl SessionTable {
    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }

    pub fn online_users(&self) -> usize {
        self.per_user.len()
    }

    pub fn count_for_user(&self, user_id: i64) -> usize {
        self.per_user.get(&user_id).copied().unwrap_or(0)
    }

    pub fn create(
        &mut self,
        id: String,
        user: Arc<UserEntry>,
        cmd_rid: &[u8],
        protocol: u8,
        peer: String,
    ) -> SessionKey {
        self.next_key += 1;
        let key = self.next_key;
        *self.per_user.entry(user.id).or_default() += 1;
        self.by_cmd.insert(cmd_rid.to_vec(), key);
        self.by_id.insert(id.clone(), key);
        let connected_at = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
        self.sessions.insert(
            key,
            Session {
                key,
                id,
                user,
                cmd_rid: cmd_rid.to_vec(),
                delivery_rid: None,
                protocol,
                peer,
                connected_at,
                last_seen: Instant::now(),
                subs: HashMap::new(),
                msgs_in: 0,
                bytes_in: 0,
                msgs_out: 0,
                bytes_out: 0,
                drops: 0,
                last_drop: None,
                gaps: 0,
                dropping: false,
                last_out_us: 0,
                delivered_mark: 0,
                out: Default::default(),
                drain: Default::default(),
                ack_pending: None,
                last_repeat_snapshot: None,
            },
        );
        key
    }

    /// Binds a delivery routing id to a session (replacing an older binding).
    pub fn attach(&mut self, key: SessionKey, rid: &[u8]) {
        if let Some(old) = self.by_delivery.insert(rid.to_vec(), key) {
            if old != key {
                if let Some(s) = self.sessions.get_mut(&old) {
                    s.delivery_rid = None;
                }
            }
        }
        if let Some(s) = self.sessions.get_mut(&key) {
            if let Some(prev) = s.delivery_rid.replace(rid.to_vec()) {
                if prev != rid {
                    self.by_delivery.remove(&prev);
                }
            }
        }
    }

    /// Removes a session and returns it (its subscriptions still listed, for
    /// the caller to remove from the index).
    pub fn remove(&mut self, key: SessionKey) -> Option<Session> {
        let s = self.sessions.remove(&key)?;
        self.by_cmd.remove(&s.cmd_rid);
        if let Some(d) = &s.delivery_rid {
            self.by_delivery.remove(d);
        }
        self.by_id.remove(&s.id);
        if let Some(n) = self.per_user.get_mut(&s.user.id) {
            *n -= 1;
            if *n == 0 {
                self.per_user.remove(&s.user.id);
            }
        }
        Some(s)
    }

    pub fn key_by_cmd(&self, rid: &[u8]) -> Option<SessionKey> {
        self.by_cmd.get(rid).copied()
    }

    pub fn key_by_delivery(&self, rid: &[u8]) -> Option<SessionKey> {
        self.by_delivery.get(rid).copied()
    }

    pub fn key_by_id(&self, id: &str) -> Option<SessionKey> {
        self.by_id.get(id).copied()
    }

    pub fn get(&self, key: SessionKey) -> Option<&Session> {
        self.sessions.get(&key)
    }

    pub fn get_mut(&mut self, key: SessionKey) -> Option<&mut Session> {
        self.sessions.get_mut(&key)
    }

    pub fn keys(&self) -> Vec<SessionKey> {
        self.sessions.keys().copied().collect()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Session> {
        self.sessions.values()
    }
}
