//! The I/O thread: the only place that touches ZeroMQ sockets.
//!
//! ZeroMQ sockets are neither async nor thread-safe, so each client runs one
//! OS thread that owns its two DEALERs (command port, delivery port) and an
//! inproc PULL socket that only carries wake-ups. The async API puts
//! [`Command`]s on a tokio channel (bounded for data, unbounded for control)
//! and pokes the PULL socket; the thread `zmq::poll`s the three sockets with
//! a timeout computed from the next heartbeat and the next request deadline.
//!
//! Loop, one iteration:
//! 1. poll (timeout 0 when work is left over from the previous round);
//! 2. consume wake-ups, then drain the control channel and a batch of the
//!    data channel (stops taking data while the command socket is at its
//!    high-water mark, so back-pressure reaches `publish().await`);
//! 3. read a batch from each DEALER: replies are paired with their waiter
//!    by request id, deliveries are dispatched to local subscriptions
//!    (`try_send`, never blocking);
//! 4. flush queued frames, expire requests past their deadline, send a
//!    heartbeat PING when due.
//!
//! Session state machine: `Authenticating → Attaching → Ready`. Commands
//! that need a session wait in `held` until `Ready`. When a reply says
//! "not authenticated" (broker restarted) the thread re-AUTHs, re-ATTACHes
//! and re-SUBs every active (namespace, pattern) by itself, once per lost
//! session (requests from the old session are failed, not retried).
//! Issue 3 will add socket monitoring, re-creating sockets and back-off here.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use pulsemq_shared::payloads::{ATTACH_OK, SUB_OK, UNSUB_OK};
use pulsemq_shared::{ErrorCode, Format, MsgType, Pattern};
use tokio::sync::{mpsc, oneshot};

use crate::dispatch::{AddOutcome, LocalId, LocalSub, SubTable};
use crate::error::{ClientError, Result};
use crate::options::ClientOptions;
use crate::pending::{is_after, Pending};
use crate::stats::{bump, SessionInfo, Telemetry};
use crate::wire::{self, Incoming, Reply, ReplyKind, WireFrames};

/// Messages read from one socket per loop iteration (fairness between sockets).
const RECV_BATCH: usize = 512;
/// Commands taken from the data channel per loop iteration.
const CMD_BATCH: usize = 512;
/// Frames queued for the command socket beyond which no new data commands are taken.
const OUTQ_LIMIT: usize = 1024;
/// Longest poll sleep, so deadlines are checked at least this often.
const MAX_POLL: Duration = Duration::from_millis(500);
/// How long `close` waits for the broker's reply to BYE.
const BYE_WAIT: Duration = Duration::from_millis(500);

/// Reply channel of a request: the ACK body, or the mapped error.
pub(crate) type ReplyTx = oneshot::Sender<Result<Vec<u8>>>;

/// What the async API asks the I/O thread to do.
#[derive(Debug)]
pub(crate) enum Command {
    /// Send prepared frames on the command socket (PUB, QUERY, PING). The id
    /// is the request id in the frames' header. `reply: None` = nobody waits
    /// (NO_ACK publish): an ERROR reply becomes an async error.
    Send {
        id: u32,
        frames: WireFrames,
        reply: Option<ReplyTx>,
        publish: bool,
    },
    /// Register a local subscription; SUB on the wire if its key is new (or a
    /// snapshot is wanted).
    Subscribe {
        namespace: String,
        pattern: Pattern,
        snapshot: bool,
        local: LocalSub,
        reply: oneshot::Sender<Result<()>>,
    },
    /// Remove a local subscription; UNSUB on the wire if it was the last of its key.
    Unsubscribe {
        local: LocalId,
        reply: Option<oneshot::Sender<Result<()>>>,
    },
    /// Send BYE, wait briefly for its reply, stop.
    Close { reply: Option<oneshot::Sender<()>> },
}

/// Who waits for a reply.
#[derive(Debug)]
enum Waiter {
    User(ReplyTx),
    /// A SUB: local subscriptions to remove if it fails, and their callers.
    Subscribe {
        namespace: String,
        pattern: String,
        callers: Vec<(LocalId, Option<oneshot::Sender<Result<()>>>)>,
    },
    Unsubscribe(Option<oneshot::Sender<Result<()>>>),
    Auth,
    Attach,
    Heartbeat,
    Bye,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Authenticating,
    Attaching,
    Ready,
    Closing,
}

/// The sockets and channels handed to the thread.
pub(crate) struct Parts {
    pub cmd: zmq::Socket,
    pub dlv: zmq::Socket,
    pub wake: zmq::Socket,
    pub data_rx: mpsc::Receiver<Command>,
    pub ctl_rx: mpsc::UnboundedReceiver<Command>,
}

/// The process-wide ZeroMQ context all clients share.
pub(crate) fn context() -> &'static zmq::Context {
    static CTX: OnceLock<zmq::Context> = OnceLock::new();
    CTX.get_or_init(zmq::Context::new)
}

/// 16 random bytes, first byte non-zero (ZeroMQ reserves a leading 0).
pub(crate) fn routing_id() -> [u8; 16] {
    let mut id: [u8; 16] = rand::random();
    if id[0] == 0 {
        id[0] = 1;
    }
    id
}

/// Creates the sockets: two DEALERs with their routing ids and an inproc
/// PULL (returned with the PUSH end the API keeps for wake-ups).
pub(crate) fn open_sockets(
    opts: &ClientOptions,
) -> Result<(zmq::Socket, zmq::Socket, zmq::Socket, zmq::Socket)> {
    static WAKE_SEQ: AtomicU64 = AtomicU64::new(0);
    let ctx = context();
    let dealer = |port: u16| -> Result<zmq::Socket> {
        let s = ctx.socket(zmq::DEALER)?;
        s.set_identity(&routing_id())?;
        s.set_linger(opts.linger.as_millis().min(i32::MAX as u128) as i32)?;
        s.set_sndhwm(opts.send_hwm)?;
        s.set_rcvhwm(opts.recv_hwm)?;
        s.set_maxmsgsize((Format::MAX_LIMIT + 64 * 1024) as i64)?;
        s.set_reconnect_ivl(100)?;
        s.set_reconnect_ivl_max(5_000)?;
        s.set_heartbeat_ivl(5_000)?;
        s.set_heartbeat_timeout(15_000)?;
        if opts.host.contains(':') {
            s.set_ipv6(true)?;
        }
        s.connect(&opts.endpoint(port))?;
        Ok(s)
    };
    let cmd = dealer(opts.pub_port)?;
    let dlv = dealer(opts.sub_port)?;
    let endpoint = format!(
        "inproc://pulsemq-client-wake-{}",
        WAKE_SEQ.fetch_add(1, Ordering::Relaxed)
    );
    let pull = ctx.socket(zmq::PULL)?;
    pull.set_linger(0)?;
    pull.bind(&endpoint)?;
    let push = ctx.socket(zmq::PUSH)?;
    push.set_linger(0)?;
    push.set_sndhwm(16)?;
    push.connect(&endpoint)?;
    Ok((cmd, dlv, pull, push))
}

/// The I/O thread's state.
pub(crate) struct IoThread {
    opts: ClientOptions,
    cmd: zmq::Socket,
    dlv: zmq::Socket,
    wake: zmq::Socket,
    data_rx: mpsc::Receiver<Command>,
    ctl_rx: mpsc::UnboundedReceiver<Command>,
    tel: Arc<Telemetry>,

    phase: Phase,
    /// Id of the latest AUTH: requests with a later id belong to the current session.
    auth_id: u32,
    session: Option<String>,
    connect_reply: Option<oneshot::Sender<Result<SessionInfo>>>,
    held: VecDeque<Command>,
    pending: Pending<Waiter>,
    /// SUBs on the wire without a reply yet: key → request id.
    subs_in_flight: HashMap<(String, String), u32>,
    subs: SubTable,
    outq: VecDeque<WireFrames>,

    ping_every: Duration,
    next_ping: Option<Instant>,
    heartbeat_out: bool,
    close_deadline: Option<Instant>,
    close_replies: Vec<oneshot::Sender<()>>,
    exit: bool,
}

impl IoThread {
    pub(crate) fn new(
        opts: ClientOptions,
        parts: Parts,
        tel: Arc<Telemetry>,
        connect_reply: oneshot::Sender<Result<SessionInfo>>,
    ) -> Self {
        IoThread {
            opts,
            cmd: parts.cmd,
            dlv: parts.dlv,
            wake: parts.wake,
            data_rx: parts.data_rx,
            ctl_rx: parts.ctl_rx,
            tel,
            phase: Phase::Authenticating,
            auth_id: 0,
            session: None,
            connect_reply: Some(connect_reply),
            held: VecDeque::new(),
            pending: Pending::default(),
            subs_in_flight: HashMap::new(),
            subs: SubTable::default(),
            outq: VecDeque::new(),
            ping_every: Duration::from_secs(30),
            next_ping: None,
            heartbeat_out: false,
            close_deadline: None,
            close_replies: Vec::new(),
            exit: false,
        }
    }

    /// Runs until closed or until the session cannot be (re)established.
    pub(crate) fn run(mut self) {
        self.start_auth();
        let mut more_work = false;
        while !self.exit {
            let timeout = if more_work { 0 } else { self.poll_timeout_ms() };
            let want_out = !self.outq.is_empty();
            let (wake_in, cmd_in, dlv_in) = {
                let mut items = [
                    self.wake.as_poll_item(zmq::POLLIN),
                    self.cmd.as_poll_item(if want_out {
                        zmq::POLLIN | zmq::POLLOUT
                    } else {
                        zmq::POLLIN
                    }),
                    self.dlv.as_poll_item(zmq::POLLIN),
                ];
                match zmq::poll(&mut items, timeout) {
                    Ok(_) | Err(zmq::Error::EINTR) => {}
                    Err(e) => {
                        tracing::error!("zmq poll failed: {e}");
                        self.tel.push_error(0, ClientError::Zmq(e));
                        break;
                    }
                }
                (
                    items[0].is_readable(),
                    items[1].is_readable(),
                    items[2].is_readable(),
                )
            };
            if wake_in {
                while self.wake.recv_msg(zmq::DONTWAIT).is_ok() {}
            }
            // Clear before draining: a command queued after this point either
            // is seen by the drain below or sends a fresh wake-up.
            self.tel.wake_pending.store(false, Ordering::SeqCst);
            more_work = self.drain_commands();
            if cmd_in {
                self.read_socket(true);
            }
            if dlv_in {
                self.read_socket(false);
            }
            self.flush();
            self.on_timers(Instant::now());
        }
        self.shutdown();
    }

    fn poll_timeout_ms(&self) -> i64 {
        let now = Instant::now();
        let mut until = now + MAX_POLL;
        for t in [
            self.pending.next_deadline(),
            self.next_ping,
            self.close_deadline,
        ]
        .into_iter()
        .flatten()
        {
            until = until.min(t);
        }
        // Round up so we do not spin just before a deadline.
        let ms = until
            .saturating_duration_since(now)
            .as_micros()
            .div_ceil(1000);
        ms as i64
    }

    // ---- commands -------------------------------------------------------

    /// Returns true when the data channel may hold more commands to take now.
    fn drain_commands(&mut self) -> bool {
        loop {
            match self.ctl_rx.try_recv() {
                Ok(c) => self.on_command(c),
                Err(mpsc::error::TryRecvError::Empty) => break,
                Err(mpsc::error::TryRecvError::Disconnected) => {
                    // Every API handle is gone.
                    self.begin_close(None);
                    break;
                }
            }
        }
        for _ in 0..CMD_BATCH {
            if self.outq.len() >= OUTQ_LIMIT || self.exit {
                return false;
            }
            match self.data_rx.try_recv() {
                Ok(c) => self.on_command(c),
                Err(_) => return false,
            }
        }
        true
    }

    fn on_command(&mut self, c: Command) {
        if let Command::Close { reply } = c {
            self.begin_close(reply);
            return;
        }
        match self.phase {
            Phase::Ready => {}
            Phase::Closing => return fail_command(c, ClientError::Disconnected),
            Phase::Authenticating | Phase::Attaching => {
                self.held.push_back(c);
                return;
            }
        }
        match c {
            Command::Send {
                id,
                frames,
                reply,
                publish,
            } => {
                if publish {
                    bump(&self.tel.counters.published, 1);
                }
                if let Some(tx) = reply {
                    self.wait(id, Waiter::User(tx), self.opts.request_timeout);
                }
                self.outq.push_back(frames);
            }
            Command::Subscribe {
                namespace,
                pattern,
                snapshot,
                local,
                reply,
            } => {
                let id = local.id;
                let text = pattern.to_string();
                let outcome = self.subs.add(&namespace, &pattern, local);
                let key = (namespace, text);
                if outcome == AddOutcome::FirstForKey || snapshot {
                    let req = self.tel.ids.next();
                    self.outq
                        .push_back(wire::subscribe(req, &key.0, &key.1, snapshot));
                    self.subs_in_flight.insert(key.clone(), req);
                    let waiter = Waiter::Subscribe {
                        namespace: key.0,
                        pattern: key.1,
                        callers: vec![(id, Some(reply))],
                    };
                    self.wait(req, waiter, self.opts.request_timeout);
                } else if let Some(req) = self.subs_in_flight.get(&key) {
                    // Same key, SUB still on its way: share its outcome.
                    match self.pending.get_mut(*req) {
                        Some(Waiter::Subscribe { callers, .. }) => callers.push((id, Some(reply))),
                        _ => {
                            let _ = reply.send(Ok(()));
                        }
                    }
                } else {
                    let _ = reply.send(Ok(()));
                }
            }
            Command::Unsubscribe { local, reply } => match self.subs.remove(local) {
                Some((ns, pattern)) => {
                    let req = self.tel.ids.next();
                    self.outq.push_back(wire::unsubscribe(req, &ns, &pattern));
                    self.subs_in_flight.remove(&(ns, pattern));
                    self.wait(req, Waiter::Unsubscribe(reply), self.opts.request_timeout);
                }
                None => {
                    if let Some(tx) = reply {
                        let _ = tx.send(Ok(()));
                    }
                }
            },
            Command::Close { .. } => unreachable!("handled above"),
        }
    }

    fn wait(&mut self, id: u32, waiter: Waiter, timeout: Duration) {
        if let Some(old) = self.pending.insert(id, waiter, Instant::now() + timeout) {
            self.fail_waiter(id, old, ClientError::Protocol("request id reused".into()));
        }
    }

    fn begin_close(&mut self, reply: Option<oneshot::Sender<()>>) {
        if let Some(tx) = reply {
            self.close_replies.push(tx);
        }
        if self.phase == Phase::Closing {
            return;
        }
        let was_ready = self.phase == Phase::Ready;
        self.phase = Phase::Closing;
        for c in std::mem::take(&mut self.held) {
            fail_command(c, ClientError::Disconnected);
        }
        if let Some(tx) = self.connect_reply.take() {
            let _ = tx.send(Err(ClientError::Disconnected));
        }
        if was_ready {
            let id = self.tel.ids.next();
            self.outq.push_back(wire::control(MsgType::Bye, id));
            self.wait(id, Waiter::Bye, BYE_WAIT);
            self.close_deadline = Some(Instant::now() + BYE_WAIT);
        } else {
            self.exit = true;
        }
    }

    // ---- sockets --------------------------------------------------------

    /// Sends queued frames on the command socket until it would block.
    fn flush(&mut self) {
        while let Some(frames) = self.outq.front_mut() {
            match send_frames(&self.cmd, frames) {
                Ok(()) => {}
                Err(zmq::Error::EAGAIN) => return,
                Err(e) => {
                    tracing::error!("send on the command socket failed: {e}");
                    self.tel.push_error(0, ClientError::Zmq(e));
                }
            }
            self.outq.pop_front();
        }
    }

    fn send_delivery_socket(&mut self, mut frames: WireFrames) {
        if let Err(e) = send_frames(&self.dlv, &mut frames) {
            tracing::warn!("send on the delivery socket failed: {e}");
        }
    }

    fn read_socket(&mut self, command_socket: bool) {
        for _ in 0..RECV_BATCH {
            let sock = if command_socket { &self.cmd } else { &self.dlv };
            let parts = match sock.recv_multipart(zmq::DONTWAIT) {
                Ok(p) => p,
                Err(zmq::Error::EAGAIN) => return,
                Err(e) => {
                    tracing::warn!("recv failed: {e}");
                    return;
                }
            };
            match wire::parse_incoming(parts) {
                Ok(Incoming::Deliver(msg)) => {
                    bump(&self.tel.counters.received, 1);
                    let d = self.subs.dispatch(&msg);
                    bump(&self.tel.counters.dispatched, d.delivered as u64);
                    bump(&self.tel.counters.dropped, d.dropped as u64);
                    if d.delivered == 0 && d.dropped == 0 {
                        bump(&self.tel.counters.unmatched, 1);
                    }
                }
                Ok(Incoming::Reply(r)) => self.on_reply(r),
                Ok(Incoming::Ping(id)) => {
                    let pong = wire::control(MsgType::Pong, id);
                    if command_socket {
                        self.outq.push_back(pong);
                    } else {
                        self.send_delivery_socket(pong);
                    }
                }
                Err(e) => tracing::warn!("unreadable message from the broker: {e}"),
            }
        }
    }

    // ---- replies --------------------------------------------------------

    fn on_reply(&mut self, r: Reply) {
        let id = r.request_id;
        let lost_session = matches!(&r.kind, ReplyKind::Error(e)
            if e.code() == Some(ErrorCode::NotAuthenticated));
        let waiter = self.pending.take(id);
        let result = wire::into_result(r.kind);
        match waiter {
            None => {
                // A NO_ACK publish that failed, or a reply after its timeout.
                if let Err(e) = &result {
                    tracing::debug!(request_id = id, "error without a waiter: {e}");
                    self.tel.push_error(id, e.clone());
                }
            }
            Some(Waiter::User(tx)) => {
                let _ = tx.send(result);
            }
            Some(Waiter::Subscribe {
                namespace,
                pattern,
                callers,
            }) => {
                if self
                    .subs_in_flight
                    .get(&(namespace.clone(), pattern.clone()))
                    == Some(&id)
                {
                    self.subs_in_flight
                        .remove(&(namespace.clone(), pattern.clone()));
                }
                let result = result.and_then(|b| wire::expect_status(&b, SUB_OK));
                self.finish_subscribe(id, &namespace, &pattern, callers, result);
            }
            Some(Waiter::Unsubscribe(tx)) => {
                let result = result.and_then(|b| wire::expect_status(&b, UNSUB_OK));
                match tx {
                    Some(tx) => {
                        let _ = tx.send(result);
                    }
                    None => {
                        if let Err(e) = result {
                            self.tel.push_error(id, e);
                        }
                    }
                }
            }
            Some(Waiter::Auth) => self.on_auth_reply(result),
            Some(Waiter::Attach) => self.on_attach_reply(result),
            Some(Waiter::Heartbeat) => self.heartbeat_out = false,
            Some(Waiter::Bye) => self.exit = true,
        }
        if lost_session && self.phase == Phase::Ready && is_after(id, self.auth_id) {
            self.session_lost();
        }
    }

    fn finish_subscribe(
        &mut self,
        id: u32,
        namespace: &str,
        pattern: &str,
        callers: Vec<(LocalId, Option<oneshot::Sender<Result<()>>>)>,
        result: Result<()>,
    ) {
        if let Err(e) = &result {
            for (local, _) in &callers {
                // The SUB failed: these local subscriptions never existed.
                // If the key empties, there is nothing to UNSUB.
                self.subs.remove(*local);
            }
            if callers.is_empty() {
                // A re-SUB after re-authentication: nobody waits.
                tracing::warn!("re-subscribing {namespace}/{pattern} failed: {e}");
                self.tel.push_error(id, e.clone());
            }
        }
        for (_, tx) in callers {
            if let Some(tx) = tx {
                let _ = tx.send(result.clone());
            }
        }
    }

    fn fail_waiter(&mut self, id: u32, w: Waiter, e: ClientError) {
        match w {
            Waiter::User(tx) => {
                let _ = tx.send(Err(e));
            }
            Waiter::Subscribe {
                namespace,
                pattern,
                callers,
            } => {
                self.subs_in_flight
                    .remove(&(namespace.clone(), pattern.clone()));
                self.finish_subscribe(id, &namespace, &pattern, callers, Err(e));
            }
            Waiter::Unsubscribe(tx) => {
                if let Some(tx) = tx {
                    let _ = tx.send(Err(e));
                }
            }
            Waiter::Auth | Waiter::Attach => self.handshake_failed(e),
            Waiter::Heartbeat => {
                self.heartbeat_out = false;
                bump(&self.tel.counters.missed_pongs, 1);
                tracing::warn!("no PONG within {:?}", self.opts.ping_timeout);
            }
            Waiter::Bye => self.exit = true,
        }
    }

    // ---- session --------------------------------------------------------

    fn start_auth(&mut self) {
        self.phase = Phase::Authenticating;
        self.session = None;
        self.next_ping = None;
        self.heartbeat_out = false;
        let id = self.tel.ids.next();
        self.auth_id = id;
        self.outq
            .push_back(wire::auth(id, &self.opts.username, &self.opts.token));
        self.wait(id, Waiter::Auth, self.opts.connect_timeout);
    }

    fn on_auth_reply(&mut self, result: Result<Vec<u8>>) {
        let ok = match result.and_then(|b| wire::parse_auth_ok(&b)) {
            Ok(ok) => ok,
            Err(e) => return self.handshake_failed(e),
        };
        self.ping_every =
            self.opts
                .ping_interval
                .unwrap_or(Duration::from_secs(if ok.ping_interval == 0 {
                    30
                } else {
                    ok.ping_interval
                }));
        self.tel.set_session(Some(SessionInfo {
            user_id: ok.user_id,
            protocol: ok.protocol,
            ping_interval: self.ping_every,
        }));
        let id = self.tel.ids.next();
        let frames = wire::attach(id, &self.opts.username, &ok.session, &self.opts.token);
        self.session = Some(ok.session);
        self.send_delivery_socket(frames);
        self.wait(id, Waiter::Attach, self.opts.connect_timeout);
        // After a lost session: subscribe again to every active key.
        for (ns, pattern) in self.subs.keys() {
            let req = self.tel.ids.next();
            self.outq
                .push_back(wire::subscribe(req, &ns, &pattern, false));
            self.subs_in_flight
                .insert((ns.clone(), pattern.clone()), req);
            let waiter = Waiter::Subscribe {
                namespace: ns,
                pattern,
                callers: Vec::new(),
            };
            self.wait(req, waiter, self.opts.request_timeout);
        }
        self.phase = Phase::Attaching;
    }

    fn on_attach_reply(&mut self, result: Result<Vec<u8>>) {
        if let Err(e) = result.and_then(|b| wire::expect_status(&b, ATTACH_OK)) {
            let e = match e {
                ClientError::Broker { .. } | ClientError::Protocol(_) => {
                    ClientError::AttachFailed(e.to_string())
                }
                other => other,
            };
            return self.handshake_failed(e);
        }
        self.phase = Phase::Ready;
        self.next_ping = Some(Instant::now() + self.ping_every);
        if let Some(tx) = self.connect_reply.take() {
            if let Some(info) = self.tel.session() {
                let _ = tx.send(Ok(info));
            }
        }
        for c in std::mem::take(&mut self.held) {
            self.on_command(c);
        }
    }

    fn handshake_failed(&mut self, e: ClientError) {
        tracing::warn!("session could not be established: {e}");
        self.tel.set_session(None);
        match self.connect_reply.take() {
            Some(tx) => {
                let _ = tx.send(Err(e.clone()));
            }
            None => self.tel.push_error(0, e.clone()),
        }
        for c in std::mem::take(&mut self.held) {
            fail_command(c, e.clone());
        }
        // Issue 3: retry with back-off instead of stopping.
        self.exit = true;
    }

    fn session_lost(&mut self) {
        if !self.opts.reauth {
            self.tel
                .push_error(0, ClientError::NotAuthenticated("session lost".into()));
            self.exit = true;
            return;
        }
        tracing::info!("session lost (broker restarted?): authenticating again");
        bump(&self.tel.counters.reauths, 1);
        self.start_auth();
    }

    // ---- timers ---------------------------------------------------------

    fn on_timers(&mut self, now: Instant) {
        for (id, w) in self.pending.expire(now) {
            let timeout = match w {
                Waiter::Auth | Waiter::Attach => self.opts.connect_timeout,
                Waiter::Heartbeat => self.opts.ping_timeout,
                Waiter::Bye => BYE_WAIT,
                _ => self.opts.request_timeout,
            };
            if !matches!(w, Waiter::Heartbeat | Waiter::Bye) {
                bump(&self.tel.counters.timeouts, 1);
            }
            self.fail_waiter(id, w, ClientError::Timeout(timeout));
        }
        if self.phase == Phase::Ready {
            if let Some(t) = self.next_ping {
                if now >= t {
                    if !self.heartbeat_out {
                        let id = self.tel.ids.next();
                        self.outq.push_back(wire::control(MsgType::Ping, id));
                        self.wait(id, Waiter::Heartbeat, self.opts.ping_timeout);
                        self.heartbeat_out = true;
                    }
                    self.next_ping = Some(now + self.ping_every);
                }
            }
        }
        if self.close_deadline.is_some_and(|d| now >= d) {
            self.exit = true;
        }
    }

    fn shutdown(mut self) {
        self.phase = Phase::Closing;
        self.tel.set_session(None);
        for (id, w) in self.pending.drain() {
            match w {
                Waiter::Auth | Waiter::Attach => {
                    if let Some(tx) = self.connect_reply.take() {
                        let _ = tx.send(Err(ClientError::Disconnected));
                    }
                }
                w => self.fail_waiter(id, w, ClientError::Disconnected),
            }
        }
        for c in std::mem::take(&mut self.held) {
            fail_command(c, ClientError::Disconnected);
        }
        self.data_rx.close();
        self.ctl_rx.close();
        while let Ok(c) = self.data_rx.try_recv() {
            fail_command(c, ClientError::Disconnected);
        }
        while let Ok(c) = self.ctl_rx.try_recv() {
            fail_command(c, ClientError::Disconnected);
        }
        let replies = std::mem::take(&mut self.close_replies);
        // Sockets close here (linger bounds how long unsent frames are kept),
        // then `close()` callers are released; local subscription channels
        // close with `self.subs`, ending their streams.
        drop(self);
        for tx in replies {
            let _ = tx.send(());
        }
    }
}

fn fail_command(c: Command, e: ClientError) {
    match c {
        Command::Send {
            reply: Some(tx), ..
        } => {
            let _ = tx.send(Err(e));
        }
        Command::Subscribe { reply, .. } => {
            let _ = reply.send(Err(e));
        }
        Command::Unsubscribe {
            reply: Some(tx), ..
        } => {
            let _ = tx.send(Err(e));
        }
        Command::Close { reply: Some(tx) } => {
            let _ = tx.send(());
        }
        _ => {}
    }
}

/// Sends one six-frame message without blocking. The header goes first as a
/// copy: if the socket is at its high-water mark nothing is sent and the
/// frames are left as they were. Once the first frame is accepted ZeroMQ
/// accepts the rest of the message, which is moved out without copying.
fn send_frames(sock: &zmq::Socket, frames: &mut WireFrames) -> zmq::Result<()> {
    sock.send(&frames[0][..], zmq::SNDMORE | zmq::DONTWAIT)?;
    let n = frames.len();
    for (i, f) in frames.iter_mut().enumerate().skip(1) {
        let more = if i + 1 < n { zmq::SNDMORE } else { 0 };
        if let Err(e) = sock.send(std::mem::take(f), more | zmq::DONTWAIT) {
            // Cannot happen for the parts after the first; report it anyway.
            tracing::error!("frame {i} of a message refused: {e}");
        }
    }
    Ok(())
}
