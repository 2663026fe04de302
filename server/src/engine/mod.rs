//! The engine: one OS thread that owns every ZeroMQ socket and all broker
//! state (sessions, the subscription index, topics, counters).
//!
//! Nothing here is shared or locked, nothing awaits, nothing touches the
//! database: the async side talks to the engine only through
//! [`crate::control`] and receives a [`stats::StatsUpdate`] every second.
//!
//! Files: `sockets.rs` binds and tunes the ROUTERs, `wire.rs` moves frames,
//! one file per command family (`auth.rs`, `publish.rs`, `subscribe.rs`,
//! `query.rs`), `delivery.rs` fans a message out, `admin_ops.rs` applies
//! control requests, `session.rs`, `subscriptions.rs` (the wildcard trie),
//! `topics.rs` and `stats.rs` hold state.

mod admin_ops;
mod auth;
/// Failed AUTHs (and ATTACHes) from one address per minute before ERROR 12.
pub use auth::MAX_FAILURES as AUTH_MAX_FAILURES;
mod delivery;
mod drain;
mod outbox;
mod publish;
mod query;
pub mod session;
pub mod sockets;
pub mod stats;
mod subscribe;
pub mod subscriptions;
pub mod tap;
pub mod topics;
mod v6_io;
pub mod wire;

use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use pulsemq_shared::header::LEGACY_VERSION;
use pulsemq_shared::payloads::ErrorBody;
use pulsemq_shared::{v6, ErrorCode, FrameRefs, MsgType};
use tracing::{debug, info, warn};

use crate::control::{Control, StoreEvent};
use crate::perms::PermSnapshot;
use auth::AuthThrottle;
use session::SessionTable;
use sockets::EngineSockets;
use stats::{FrameClock, Histogram, StatsSnapshot, Totals};
use subscriptions::{SessionKey, SubscriptionIndex};
use topics::TopicRegistry;

/// The engine's hash maps. Keys on the hot path are short (16-byte routing
/// ids, names of at most 32 bytes): SipHash cost more than the rest of a
/// lookup there. foldhash is several times faster on such keys and still
/// seeded per map at random, so clients choosing routing ids or topic names
/// cannot aim at collisions.
pub(crate) type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

/// Engine limits and timings, taken from the configuration.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    pub ping_interval: Duration,
    /// Silence after which a protocol-5 session is expired.
    pub session_timeout: Duration,
    /// Silence after which a protocol-4 session is expired. The original
    /// client never PINGs, so its sessions get a longer grace.
    pub legacy_session_timeout: Duration,
    pub max_connections_per_user: usize,
    pub max_subscriptions_per_conn: usize,
    /// See [`crate::config::BrokerConfig::session_buffer_bytes`].
    pub session_buffer_bytes: usize,
    /// See [`crate::config::LimitsConfig::max_topics_per_namespace`].
    pub max_topics_per_namespace: usize,
    /// See [`crate::config::LimitsConfig::max_topics_per_user`] (0 = none).
    pub max_topics_per_user: usize,
}

impl EngineConfig {
    pub fn from_config(c: &crate::config::Config) -> Self {
        let session_timeout = c.session_timeout();
        EngineConfig {
            ping_interval: Duration::from_secs(c.auth.ping_interval),
            session_timeout,
            legacy_session_timeout: session_timeout.max(Duration::from_secs(600)),
            max_connections_per_user: c.limits.max_connections_per_user,
            max_subscriptions_per_conn: c.limits.max_subscriptions_per_conn,
            session_buffer_bytes: usize::try_from(c.broker.session_buffer_bytes).unwrap_or(usize::MAX),
            max_topics_per_namespace: c.limits.max_topics_per_namespace,
            max_topics_per_user: c.limits.max_topics_per_user,
        }
    }
}

/// What the engine needs from the outside world at start.
pub struct EngineParts {
    pub sockets: EngineSockets,
    pub config: EngineConfig,
    pub perms: Arc<PermSnapshot>,
    /// (namespace, topic, creator) of every topic in the database.
    pub known_topics: Vec<(String, String, String)>,
    pub control: mpsc::Receiver<Control>,
    pub events: tokio::sync::mpsc::Sender<StoreEvent>,
    /// One update a second; see [`stats::TopicMirror`].
    pub stats: tokio::sync::mpsc::Sender<stats::StatsUpdate>,
}

/// Starts the engine thread.
pub fn spawn(parts: EngineParts) -> crate::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("pulsemq-engine".into())
        .spawn(move || Engine::new(parts).run())
        .map_err(|e| crate::Error::io("cannot start the engine thread", e))
}

/// Per-request context handed to the command handlers.
pub(crate) struct Request<'a> {
    pub rid: &'a [u8],
    pub frames: FrameRefs<'a>,
    pub peer: &'a str,
}

pub(crate) struct Engine {
    sockets: EngineSockets,
    cfg: EngineConfig,
    perms: Arc<PermSnapshot>,
    control: mpsc::Receiver<Control>,
    events: tokio::sync::mpsc::Sender<StoreEvent>,
    stats_tx: tokio::sync::mpsc::Sender<stats::StatsUpdate>,
    /// An update was lost (the mirror lagged): the next carries every topic.
    stats_resync: bool,
    sessions: SessionTable,
    index: SubscriptionIndex,
    topics: TopicRegistry,
    throttle: AuthThrottle,
    totals: Totals,
    latency: Histogram,
    /// The clock of the frame being handled (see [`FrameClock`]).
    frame: FrameClock,
    /// The console's message browser watchers (see [`tap`]).
    taps: tap::Taps,
    /// Reused buffer for the sessions a publish matches.
    matched: Vec<SessionKey>,
    /// Publishes processed so far (dedup mark for deliveries).
    publish_count: u64,
    /// Reused buffer for small JSON replies.
    scratch: Vec<u8>,
    /// Reused buffer: a protocol-6 delivery, encoded once per publish.
    v6_msg: Vec<u8>,
    /// Protocol-6 sessions with deliveries batched this round.
    out_due: Vec<SessionKey>,
    /// Protocol-6 sessions with frames their full pipe refused.
    backlogged: Vec<SessionKey>,
    /// Protocol-6 sessions owed a cumulative ACK at the end of the round.
    ack_due: Vec<SessionKey>,
    /// When a dropped reply was last logged (see [`Engine::send_reply`]).
    reply_drop_logged: Option<Instant>,
    started: Instant,
    running: bool,
}

impl Engine {
    fn new(p: EngineParts) -> Self {
        let mut topics = TopicRegistry::default();
        topics.load(p.known_topics);
        Engine {
            sockets: p.sockets,
            cfg: p.config,
            perms: p.perms,
            control: p.control,
            events: p.events,
            stats_tx: p.stats,
            stats_resync: false,
            sessions: SessionTable::default(),
            index: SubscriptionIndex::default(),
            topics,
            throttle: AuthThrottle::default(),
            totals: Totals::default(),
            latency: Histogram::default(),
            frame: FrameClock::start(),
            taps: tap::Taps::default(),
            matched: Vec::with_capacity(64),
            publish_count: 0,
            scratch: Vec::with_capacity(256),
            v6_msg: Vec::with_capacity(1024),
            out_due: Vec::new(),
            backlogged: Vec::new(),
            ack_due: Vec::new(),
            reply_drop_logged: None,
            started: Instant::now(),
            running: true,
        }
    }

    fn run(mut self) {
        info!("engine started: {} topics known", self.topics.len());
        let mut cmd_parts: Vec<zmq::Message> = Vec::with_capacity(wire::MAX_PARTS);
        let mut del_parts: Vec<zmq::Message> = Vec::with_capacity(wire::MAX_PARTS);
        let mut last_tick = Instant::now();
        let mut prev_totals = Totals::default();
        while self.running {
            let (cmd_ready, del_ready, wake_ready) = {
                let mut items = [
                    self.sockets.cmd.as_poll_item(zmq::POLLIN),
                    self.sockets.delivery.as_poll_item(zmq::POLLIN),
                    self.sockets.wake.as_poll_item(zmq::POLLIN),
                ];
                let mut timeout = 1000u128.saturating_sub(last_tick.elapsed().as_millis()).max(1) as i64;
                if !self.backlogged.is_empty() {
                    // A parked frame is retried soon: libzmq has no "this
                    // peer's pipe has room again" event on a ROUTER.
                    timeout = 1;
                }
                if let Err(e) = zmq::poll(&mut items, timeout) {
                    if e != zmq::Error::EINTR {
                        warn!("poll failed: {e}");
                    }
                    continue;
                }
                (items[0].is_readable(), items[1].is_readable(), items[2].is_readable())
            };
            if wake_ready {
                let mut m = zmq::Message::new();
                while self.sockets.wake.recv(&mut m, zmq::DONTWAIT).is_ok() {}
            }
            // Control requests are drained every iteration: cheap, and a
            // lost wake-up can never strand one.
            while let Ok(c) = self.control.try_recv() {
                self.apply_control(c);
            }
            // Bounded batches per socket keep the command and delivery
            // ports (and timers) fair under load.
            if cmd_ready {
                for _ in 0..512 {
                    match wire::recv_parts(&self.sockets.cmd, &mut cmd_parts) {
                        Ok(Some(n)) => self.on_command(&mut cmd_parts, n),
                        Ok(None) => break,
                        Err(e) => {
                            warn!("command socket receive failed: {e}");
                            break;
                        }
                    }
                }
            }
            if del_ready {
                for _ in 0..512 {
                    match wire::recv_parts(&self.sockets.delivery, &mut del_parts) {
                        Ok(Some(n)) => self.on_delivery_port(&mut del_parts, n),
                        Ok(None) => break,
                        Err(e) => {
                            warn!("delivery socket receive failed: {e}");
                            break;
                        }
                    }
                }
            }
            // Everything read this round has been handled: send the batches
            // and cumulative ACKs it produced (nothing waits for a batch to fill).
            self.end_round();
            if last_tick.elapsed() >= Duration::from_secs(1) {
                let elapsed = last_tick.elapsed().as_secs_f64();
                last_tick = Instant::now();
                self.expire_sessions();
                self.publish_stats(elapsed, &prev_totals);
                prev_totals = self.totals;
                self.throttle.prune();
            }
        }
        info!("engine stopped");
    }

    /// One message from the command port: `[rid, frames...]`, timed as one
    /// frame (a protocol-6 batch of publishes reads the clock once).
    fn on_command(&mut self, parts: &mut [zmq::Message], n: usize) {
        self.frame = FrameClock::start();
        self.on_command_frame(parts, n);
        self.frame.finish(&mut self.latency);
    }

    fn on_command_frame(&mut self, parts: &mut [zmq::Message], n: usize) {
        if n < 2 {
            return; // a bare routing id cannot be answered
        }
        if self.foreign_claim(parts) {
            return;
        }
        if parts[1].first() == Some(&v6::VERSION) {
            return self.on_command_v6(parts, n);
        }
        // The peer address is only needed to throttle and audit AUTH; reading
        // it for every PUB would cost an allocation on the hot path. libzmq
        // attaches it to received frames, not to the router's id frame.
        let peer = if parts[1].get(1) == Some(&(MsgType::Auth as u8)) {
            parts[1].gets("Peer-Address").unwrap_or("").to_owned()
        } else {
            String::new()
        };
        let rid: &[u8] = &parts[0];
        let f = match wire::decode_routed(parts, n) {
            Ok(f) => f,
            Err(e) => {
                debug!("malformed message from {peer}: {}", e.error);
                self.reply_error_raw(rid, e.version, e.request_id, e.error.code(), &e.error.to_string());
                return;
            }
        };
        let req = Request { rid, frames: f, peer: &peer };
        if f.header.msg_type == MsgType::Pub {
            // Checked and sequenced while the frames are borrowed; then
            // delivered with the payload frame owned (see finish_pub).
            if let Some(accepted) = self.on_pub(&req) {
                self.finish_pub(parts, accepted);
            }
        } else {
            self.on_request(&req);
        }
    }

    /// Every command-port request but PUB, whatever the protocol version.
    pub(crate) fn on_request(&mut self, req: &Request) {
        let f = req.frames;
        match f.header.msg_type {
            MsgType::Auth => self.on_auth(req),
            MsgType::Pub => unreachable!("PUB is handled by the caller, which owns the payload"),
            MsgType::Sub => self.on_sub(req),
            MsgType::Unsub => self.on_unsub(req),
            MsgType::Query => self.on_query(req),
            MsgType::Ping => self.on_ping(req),
            MsgType::Pong => self.touch(req.rid),
            MsgType::Bye => self.on_bye(req),
            MsgType::Attach => {
                self.reply_error(req, ErrorCode::AttachFailed, "ATTACH belongs on the delivery port (sub_port)")
            }
            MsgType::Msg | MsgType::Ack | MsgType::Error => self.reply_error(
                req,
                ErrorCode::UnknownType,
                &format!("{} is sent by the broker, not to it", f.header.msg_type.name()),
            ),
            MsgType::Batch => self.reply_error(req, ErrorCode::Malformed, "a batch may not contain a batch"),
        }
    }

    /// Marks the session behind a command routing id as alive.
    fn touch(&mut self, rid: &[u8]) {
        if let Some(s) = self.sessions.key_by_cmd(rid).and_then(|k| self.sessions.get_mut(k)) {
            s.last_seen = Instant::now();
        }
    }

    /// PONG, or — for a protocol-5 peer without a session — ERROR 2, so a
    /// client whose session expired learns it from its next heartbeat
    /// instead of from a failed publish. Protocol 4 keeps the original
    /// behaviour (PONG for anyone).
    fn on_ping(&mut self, req: &Request) {
        if self.sessions.key_by_cmd(req.rid).is_none() && req.frames.header.version != LEGACY_VERSION {
            return self.reply_error(req, ErrorCode::NotAuthenticated, "no session: AUTH again");
        }
        self.touch(req.rid);
        let h = wire::reply_header(req.frames.header.version, MsgType::Pong, req.frames.header.request_id, 0);
        self.send_reply(false, req.rid, &h, b"");
    }

    fn on_bye(&mut self, req: &Request) {
        if let Some(key) = self.sessions.key_by_cmd(req.rid) {
            self.end_session(key, "said BYE");
        }
        self.reply_ack(req, pulsemq_shared::payloads::BYE_OK, None);
    }

    /// The session behind a command routing id, or an ERROR 2 reply.
    fn session_of(&mut self, req: &Request) -> Option<SessionKey> {
        match self.sessions.key_by_cmd(req.rid) {
            Some(k) => {
                if let Some(s) = self.sessions.get_mut(k) {
                    s.last_seen = Instant::now();
                }
                Some(k)
            }
            None => {
                self.reply_error(req, ErrorCode::NotAuthenticated, "not authenticated: send AUTH first");
                None
            }
        }
    }

    /// ACK `{"status": <status>, ...extra}` (extra is a JSON object body without braces).
    fn reply_ack(&mut self, req: &Request, status: &str, extra: Option<&str>) {
        let legacy = req.frames.header.version == LEGACY_VERSION;
        self.start_ack(legacy, status);
        if let Some(e) = extra {
            self.scratch.extend_from_slice(if legacy { b", " } else { b"," });
            self.scratch.extend_from_slice(e.as_bytes());
        }
        self.finish_ack(req);
    }

    /// Starts an ACK body in the reused buffer: `{"status":"<status>"`
    /// (protocol 4 with the original's `": "`). Built without `format!`:
    /// every acknowledged PUB comes through here.
    fn start_ack(&mut self, legacy: bool, status: &str) {
        self.scratch.clear();
        self.scratch.extend_from_slice(if legacy { b"{\"status\": \"" } else { b"{\"status\":\"" });
        self.scratch.extend_from_slice(status.as_bytes());
        self.scratch.push(b'"');
    }

    /// Closes the body [`Engine::start_ack`] began and sends the ACK.
    fn finish_ack(&mut self, req: &Request) {
        self.send_ack(req.rid, req.frames.header.version, req.frames.header.request_id);
    }

    /// Closes the body [`Engine::start_ack`] began and sends it to `rid`.
    fn send_ack(&mut self, rid: &[u8], version: u8, request_id: u32) {
        self.scratch.push(b'}');
        let h = wire::reply_header(version, MsgType::Ack, request_id, self.scratch.len());
        let body = std::mem::take(&mut self.scratch);
        self.send_reply(false, rid, &h, &body);
        self.scratch = body;
    }

    /// Sends a reply on the command port or (`delivery = true`) the
    /// delivery port. A reply that cannot be handed over is counted, and a
    /// full pipe is logged (at most every ten seconds): the broker never
    /// blocks on one client, so a client that pipelines requests without
    /// reading its replies loses replies once `broker.hwm` are waiting.
    fn send_reply(&mut self, delivery: bool, rid: &[u8], h: &pulsemq_shared::Header, body: &[u8]) {
        let sent = if h.version == v6::VERSION {
            if !delivery {
                // Replies are in request order: confirm the successes
                // before this request first.
                self.flush_ack_of(rid);
            }
            let fields = v6::Fields::bare(h.msg_type, h.format, h.request_id, h.timestamp_ms);
            match v6::encode(&fields, body) {
                Ok(frame) => {
                    let sock = if delivery { &mut self.sockets.delivery } else { &mut self.sockets.cmd };
                    wire::send_routed(sock, rid, &[&frame])
                }
                Err(_) => wire::Sent::Gone, // a reply carries no names
            }
        } else {
            let sock = if delivery { &mut self.sockets.delivery } else { &mut self.sockets.cmd };
            wire::send_reply(sock, rid, h, body)
        };
        self.note_reply(sent, rid);
    }

    /// Counts a reply that could not be handed over, and logs a full pipe
    /// (at most every ten seconds).
    fn note_reply(&mut self, sent: wire::Sent, rid: &[u8]) {
        if sent == wire::Sent::Ok {
            return;
        }
        self.totals.replies_dropped += 1;
        if sent == wire::Sent::Full && self.reply_drop_logged.is_none_or(|t| t.elapsed() >= Duration::from_secs(10)) {
            self.reply_drop_logged = Some(Instant::now());
            let session = self.sessions.key_by_cmd(rid).or_else(|| self.sessions.key_by_delivery(rid));
            let who = session.and_then(|k| self.sessions.get(k)).map(|s| s.user.username.clone());
            warn!(
                "reply to {} dropped: its pipe is full (broker.hwm); the client is not reading its replies \
                 ({} replies dropped since start)",
                who.as_deref().unwrap_or("a peer without a session"),
                self.totals.replies_dropped
            );
        }
    }

    fn reply_error(&mut self, req: &Request, code: ErrorCode, message: &str) {
        self.reply_error_raw(req.rid, req.frames.header.version, req.frames.header.request_id, code, message);
    }

    fn reply_error_raw(&mut self, rid: &[u8], version: u8, request_id: u32, code: ErrorCode, message: &str) {
        self.send_error_on(false, rid, version, request_id, code, message);
    }

    /// Sends an ERROR on the command port or (`delivery = true`) the delivery port.
    fn send_error_on(
        &mut self,
        delivery: bool,
        rid: &[u8],
        version: u8,
        request_id: u32,
        code: ErrorCode,
        message: &str,
    ) {
        self.totals.errors_sent += 1;
        let body = serde_json::to_vec(&ErrorBody::new(code, message)).unwrap_or_default();
        let h = wire::reply_header(version, MsgType::Error, request_id, body.len());
        self.send_reply(delivery, rid, &h, &body);
    }

    /// Ends a session: its subscriptions leave the index, its slot is freed.
    fn end_session(&mut self, key: SessionKey, why: &str) {
        if let Some(s) = self.sessions.remove(key) {
            for ((ns, _), pattern) in &s.subs {
                self.index.remove(ns, pattern, key);
            }
            info!("session of '{}' from {} ended: {why}", s.user.username, s.peer);
        }
    }

    fn expire_sessions(&mut self) {
        let now = Instant::now();
        let expired: Vec<SessionKey> = self
            .sessions
            .iter()
            .filter(|s| {
                let limit = if s.protocol == LEGACY_VERSION {
                    self.cfg.legacy_session_timeout
                } else {
                    self.cfg.session_timeout
                };
                now.duration_since(s.last_seen) > limit
            })
            .map(|s| s.key)
            .collect();
        for key in expired {
            self.totals.sessions_expired += 1;
            self.end_session(key, "expired (no PING within the session timeout)");
        }
    }

    /// Queues an event for the storage writer without ever blocking.
    fn emit(&mut self, ev: StoreEvent) -> bool {
        match self.events.try_send(ev) {
            Ok(()) => true,
            Err(_) => {
                self.totals.events_dropped += 1;
                false
            }
        }
    }

    fn publish_stats(&mut self, elapsed: f64, prev: &Totals) {
        let t = self.totals;
        let rate = |now: u64, before: u64| (now - before) as f64 / elapsed.max(1e-3);
        let topics = self.topics.take_delta(std::mem::take(&mut self.stats_resync));
        let snap = StatsSnapshot {
            at_ms: pulsemq_shared::header::now_ms(),
            uptime_s: self.started.elapsed().as_secs(),
            totals: t,
            msg_rate: rate(t.msgs_in, prev.msgs_in),
            byte_rate: rate(t.bytes_in, prev.bytes_in),
            delivery_rate: rate(t.msgs_out, prev.msgs_out),
            drop_rate: rate(t.drops, prev.drops),
            connections: self.sessions.len(),
            online_users: self.sessions.online_users(),
            subscriptions: self.index.len(),
            topics_known: self.topics.len(),
            latency_p50_us: self.latency.quantile(0.50),
            latency_p90_us: self.latency.quantile(0.90),
            latency_p99_us: self.latency.quantile(0.99),
            latency_p999_us: self.latency.quantile(0.999),
            topics: Default::default(),
        };
        self.latency.clear();
        // Never waits: a full queue means the mirror lags, and the next
        // update then carries every topic instead of the changes.
        if let Err(tokio::sync::mpsc::error::TrySendError::Full(_)) =
            self.stats_tx.try_send(stats::StatsUpdate { snapshot: snap, topics })
        {
            self.stats_resync = true;
        }
    }
}
