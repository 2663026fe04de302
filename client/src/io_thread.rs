//! The I/O thread: the owner of the client's ZeroMQ sockets.
//!
//! ZeroMQ sockets are neither async nor thread-safe, so each client runs one
//! OS thread that owns its two DEALERs (command port, delivery port) and an
//! inproc PULL socket that only carries wake-ups. The async API puts
//! [`Command`]s on a tokio channel (bounded for data, unbounded for control)
//! and pokes the PULL socket; the thread `zmq::poll`s the sockets with a
//! timeout computed from the next heartbeat and the next request deadline.
//! The one exception: while the thread sleeps it lends the command DEALER
//! to callers, who send NO_ACK publishes on it themselves when nothing is
//! queued ahead ([`crate::cmd_slot`]); the thread then polls that socket's
//! `ZMQ_FD` instead of the socket.
//!
//! Loop, one iteration:
//! 1. lend the command socket, poll (timeout 0 when work is left over from
//!    the previous round or the socket has events), take it back;
//! 2. consume wake-ups, then drain the control channel and a batch of the
//!    data channel (stops taking data while the command socket is at its
//!    high-water mark, so back-pressure reaches `publish().await`);
//! 3. read a batch from each DEALER: replies are paired with their waiter
//!    by request id, deliveries are dispatched to local subscriptions
//!    (bounded queues, never blocking; each consumer is woken once per
//!    batch);
//! 4. flush queued frames, expire requests past their deadline, send a
//!    heartbeat PING when due.
//!
//! Session state machine: `Authenticating → Attaching → Ready`, and after a
//! loss `Waiting → Authenticating → Attaching → Ready`. Commands that need a
//! session wait in `held` until `Ready`; the data channel is not read while
//! there is no session, so publishers feel back-pressure instead of
//! filling memory.
//!
//! Losing the session: the command socket's monitor reports DISCONNECTED
//! (broker restart, network cut), a heartbeat goes unanswered, or a reply
//! says "not authenticated". The thread then waits for the link (the
//! monitor's next HANDSHAKE_SUCCEEDED; ZeroMQ reconnects TCP by itself) and
//! re-AUTHs at once, re-ATTACHes and re-SUBs every active (namespace,
//! pattern). Failed attempts back off (`reconnect_initial_delay` doubling
//! to `reconnect_max_delay`); after `reconnect_max_attempts` the client
//! stops. Requests of the old session that the broker refused with "not
//! authenticated" are sent again once; those that got no reply at all fail
//! with `ConnectionLost` (the broker may have processed them).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use pulsemq_shared::payloads::{ATTACH_OK, SUB_OK, UNSUB_OK};
use pulsemq_shared::v6::{BatchWriter, BATCH_HEADER_LEN, ITEM_PREFIX_LEN};
use pulsemq_shared::zmq_send::{send_copy, send_shared};
use pulsemq_shared::{ErrorCode, Format, MsgType, Pattern};
use tokio::sync::{mpsc, oneshot};

use crate::backoff;
use crate::cmd_slot::CmdSlot;
use crate::dispatch::{AddOutcome, LocalId, LocalSub, SubTable};
use crate::error::{ClientError, Result};
use crate::events::Event;
use crate::gaps::SeqTracker;
use crate::monitor::{self, LinkEvent};
use crate::options::ClientOptions;
use crate::pending::{is_after, Pending};
use crate::queue::WakeHandle;
use crate::stats::{bump, SessionInfo, Telemetry};
use crate::wire::{self, Incoming, RecvFrame, Reply, ReplyKind, WireFrame};

/// Messages read from one socket per loop iteration (fairness between sockets).
const RECV_BATCH: usize = 512;
/// Commands taken from the data channel per loop iteration.
const CMD_BATCH: usize = 512;
/// Frames queued for the command socket beyond which no new data commands are taken.
const OUTQ_LIMIT: usize = 1024;
/// Queued messages are sent together in one batch frame up to this size.
const BATCH_MAX_BYTES: usize = 256 * 1024;
/// A message at least this large is sent as its own frame (moved, not copied).
const LONE_MIN_BYTES: usize = 64 * 1024;
/// Longest poll sleep, so deadlines are checked at least this often.
const MAX_POLL: Duration = Duration::from_millis(500);
/// Outside its sleeps the thread always holds the command socket (see
/// [`crate::cmd_slot`]); a missing one is a bug in the lending.
const HOLDS_CMD: &str = "the I/O thread holds the command socket while it works";
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
        frames: WireFrame,
        reply: Option<ReplyTx>,
        publish: bool,
        /// Already sent once in a session that was lost.
        resent: bool,
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
    Unsubscribe { local: LocalId, reply: Option<oneshot::Sender<Result<()>>> },
    /// Send BYE, wait briefly for its reply, stop.
    Close { reply: Option<oneshot::Sender<()>> },
}

/// Who waits for a reply.
#[derive(Debug)]
enum Waiter {
    /// An API call; `resend` keeps a copy of the frames for a resend after
    /// a lost session.
    User {
        tx: ReplyTx,
        resend: Option<Arc<WireFrame>>,
        publish: bool,
    },
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
    /// Session lost: waiting for the link or the next back-off deadline.
    Waiting,
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
    /// Monitor of the command socket (PAIR).
    pub mon: zmq::Socket,
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
pub(crate) fn open_sockets(opts: &ClientOptions) -> Result<OpenSockets> {
    static WAKE_SEQ: AtomicU64 = AtomicU64::new(0);
    let ctx = context();
    let dealer = || -> Result<zmq::Socket> {
        let s = ctx.socket(zmq::DEALER)?;
        s.set_identity(&routing_id())?;
        s.set_linger(opts.linger.as_millis().min(i32::MAX as u128) as i32)?;
        s.set_sndhwm(opts.send_hwm)?;
        s.set_rcvhwm(opts.recv_hwm)?;
        s.set_maxmsgsize((Format::MAX_LIMIT + 64 * 1024) as i64)?;
        // TCP reconnects stay quick (≤ 1 s apart) so a restarted broker is
        // found within seconds; the session-level back-off is ours.
        s.set_reconnect_ivl(100)?;
        s.set_reconnect_ivl_max(1_000)?;
        s.set_heartbeat_ivl(5_000)?;
        s.set_heartbeat_timeout(15_000)?;
        if opts.host.contains(':') {
            s.set_ipv6(true)?;
        }
        Ok(s)
    };
    let cmd = dealer()?;
    let dlv = dealer()?;
    // Watch before connecting, so the first handshake is seen too.
    let mon = monitor::watch(&cmd)?;
    cmd.connect(&opts.endpoint(opts.pub_port))?;
    dlv.connect(&opts.endpoint(opts.sub_port))?;
    let endpoint = format!("inproc://pulsemq-client-wake-{}", WAKE_SEQ.fetch_add(1, Ordering::Relaxed));
    let pull = ctx.socket(zmq::PULL)?;
    pull.set_linger(0)?;
    pull.bind(&endpoint)?;
    let push = ctx.socket(zmq::PUSH)?;
    push.set_linger(0)?;
    push.set_sndhwm(16)?;
    push.connect(&endpoint)?;
    Ok(OpenSockets { cmd, dlv, mon, pull, push })
}

/// What [`open_sockets`] creates.
pub(crate) struct OpenSockets {
    pub cmd: zmq::Socket,
    pub dlv: zmq::Socket,
    pub mon: zmq::Socket,
    pub pull: zmq::Socket,
    pub push: zmq::Socket,
}

/// Re-establishing a lost session.
#[derive(Debug, Clone, Copy)]
struct Recovery {
    /// Attempts used so far.
    attempt: u32,
    /// When the next attempt may start if the current one fails.
    next_at: Instant,
}

/// Callers waiting on a SUB: local id and reply channel.
type SubCallers = Vec<(LocalId, Option<oneshot::Sender<Result<()>>>)>;

/// The I/O thread's state.
pub(crate) struct IoThread {
    opts: ClientOptions,
    /// The command socket during a round of work; lent to callers through
    /// `slot` while the thread sleeps (see [`crate::cmd_slot`]).
    cmd: Option<zmq::Socket>,
    slot: Arc<CmdSlot>,
    /// The command socket's `ZMQ_FD`, polled while the socket is lent.
    cmd_fd: std::os::fd::RawFd,
    dlv: zmq::Socket,
    wake: zmq::Socket,
    mon: zmq::Socket,
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
    outq: VecDeque<Out>,
    /// Ids of acknowledged publishes on the wire, in the order they were
    /// sent: a cumulative ACK confirms every one up to its id.
    in_order: VecDeque<u32>,
    /// Reused buffer for batch frames.
    batch: BatchWriter,

    ping_every: Duration,
    next_ping: Option<Instant>,
    heartbeat_out: bool,
    close_deadline: Option<Instant>,
    close_replies: Vec<oneshot::Sender<()>>,
    exit: bool,

    /// The command socket has a live ZMTP connection (socket monitor).
    link_up: bool,
    /// Set while re-establishing a lost session.
    recovery: Option<Recovery>,
    /// Callers of SUBs refused with "not authenticated", waiting for the re-SUB.
    orphan_subs: HashMap<(String, String), SubCallers>,
    seqs: SeqTracker,
    /// Wire subscriptions re-sent by the latest AUTH_OK.
    resubscribed: usize,
    /// Receive buffer, reused from one frame to the next.
    rx: zmq::Message,
    /// What one received frame decoded to (reused).
    parsed: Vec<std::result::Result<Incoming, pulsemq_shared::ProtocolError>>,
    /// Subscriptions given messages in the current read batch, to wake at its end.
    wakes: Vec<WakeHandle>,
}

impl IoThread {
    pub(crate) fn new(
        opts: ClientOptions,
        parts: Parts,
        tel: Arc<Telemetry>,
        connect_reply: oneshot::Sender<Result<SessionInfo>>,
    ) -> Result<Self> {
        let cmd_fd = parts.cmd.get_fd()?;
        Ok(IoThread {
            opts,
            cmd: Some(parts.cmd),
            slot: Arc::new(CmdSlot::new()),
            cmd_fd,
            dlv: parts.dlv,
            wake: parts.wake,
            mon: parts.mon,
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
            in_order: VecDeque::new(),
            batch: BatchWriter::new(),
            ping_every: Duration::from_secs(30),
            next_ping: None,
            heartbeat_out: false,
            close_deadline: None,
            close_replies: Vec::new(),
            exit: false,
            link_up: false,
            recovery: None,
            orphan_subs: HashMap::new(),
            seqs: SeqTracker::default(),
            resubscribed: 0,
            rx: zmq::Message::new(),
            parsed: Vec::new(),
            wakes: Vec::new(),
        })
    }

    /// The slot through which callers may send on the command socket.
    pub(crate) fn cmd_slot(&self) -> Arc<CmdSlot> {
        self.slot.clone()
    }

    /// The command socket; the thread holds it outside its sleeps.
    fn cmd(&mut self) -> &mut zmq::Socket {
        self.cmd.as_mut().expect(HOLDS_CMD)
    }

    /// Callers may send on the lent socket only with a ready session and
    /// nothing of the thread's own waiting to go out before them.
    fn lendable(&self) -> bool {
        self.phase == Phase::Ready && self.outq.is_empty() && self.held.is_empty() && !self.exit
    }

    /// Runs until closed or until the session cannot be (re)established.
    pub(crate) fn run(mut self) {
        self.start_auth();
        let mut more_work = false;
        while !self.exit {
            let want_out = !self.outq.is_empty();
            // Lend the command socket while asleep; its events are read
            // as it goes back, since its FD only signals what is new.
            let lent = self.cmd.take().expect(HOLDS_CMD);
            let events = self.slot.put(lent, self.lendable());
            let cmd_ready = events.contains(zmq::POLLIN) || (want_out && events.contains(zmq::POLLOUT));
            let timeout = if more_work || cmd_ready { 0 } else { self.poll_timeout_ms() };
            let (wake_in, dlv_in, mon_in) = {
                let mut items = [
                    self.wake.as_poll_item(zmq::POLLIN),
                    zmq::PollItem::from_fd(self.cmd_fd, zmq::POLLIN),
                    self.dlv.as_poll_item(zmq::POLLIN),
                    self.mon.as_poll_item(zmq::POLLIN),
                ];
                let polled = zmq::poll(&mut items, timeout);
                // Only this thread empties the slot, so the socket is there.
                self.cmd = self.slot.take();
                match polled {
                    Ok(_) | Err(zmq::Error::EINTR) => {}
                    Err(e) => {
                        tracing::error!("zmq poll failed: {e}");
                        self.tel.push_error(0, ClientError::Zmq(e));
                        break;
                    }
                }
                (items[0].is_readable(), items[2].is_readable(), items[3].is_readable())
            };
            let cmd_in = self.cmd().get_events().map_or(true, |e| e.contains(zmq::POLLIN));
            if mon_in {
                for ev in monitor::drain(&self.mon) {
                    self.on_link(ev);
                }
            }
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
            self.recovery.filter(|_| self.phase == Phase::Waiting).map(|r| r.next_at),
        ]
        .into_iter()
        .flatten()
        {
            until = until.min(t);
        }
        // Round up so we do not spin just before a deadline.
        let ms = until.saturating_duration_since(now).as_micros().div_ceil(1000);
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
            // Without a session, data waits in its channel (back-pressure).
            if self.outq.len() >= OUTQ_LIMIT || self.exit || self.phase != Phase::Ready {
                return false;
            }
            match self.data_rx.try_recv() {
                Ok(c) => {
                    self.slot.dequeued();
                    self.on_command(c);
                }
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
            Phase::Waiting | Phase::Authenticating | Phase::Attaching => {
                self.held.push_back(c);
                return;
            }
        }
        match c {
            Command::Send { id, frames, reply, publish, resent } => {
                if publish && !resent {
                    bump(&self.tel.counters.published, 1);
                }
                let keep = reply.is_some() && self.opts.reconnect && self.opts.resend_on_session_loss && !resent;
                let (out, resend) = if keep {
                    // Shared with the resend copy instead of cloned: sent by
                    // copying into ZeroMQ's buffers.
                    let shared = Arc::new(frames);
                    (OutFrames::Shared(shared.clone()), Some(shared))
                } else {
                    (OutFrames::Owned(frames), None)
                };
                let acked_publish = (publish && reply.is_some()).then_some(id);
                if let Some(tx) = reply {
                    let w = Waiter::User { tx, resend, publish };
                    self.wait(id, w, self.opts.request_timeout);
                }
                self.outq.push_back(Out { frame: out, acked_publish });
            }
            Command::Subscribe { namespace, pattern, snapshot, local, reply } => {
                let id = local.id;
                let text = pattern.to_string();
                let outcome = self.subs.add(&namespace, &pattern, local);
                let key = (namespace, text);
                if outcome == AddOutcome::FirstForKey || snapshot {
                    let req = self.tel.ids.next();
                    self.outq.push_back(Out::plain(wire::subscribe(req, &key.0, &key.1, snapshot)));
                    self.subs_in_flight.insert(key.clone(), req);
                    let waiter =
                        Waiter::Subscribe { namespace: key.0, pattern: key.1, callers: vec![(id, Some(reply))] };
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
                    let subs = &self.subs;
                    self.seqs.retain(|n, t| subs.matches_any(n, t));
                    let req = self.tel.ids.next();
                    self.outq.push_back(Out::plain(wire::unsubscribe(req, &ns, &pattern)));
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
            self.outq.push_back(Out::plain(wire::control(MsgType::Bye, id)));
            self.wait(id, Waiter::Bye, BYE_WAIT);
            self.close_deadline = Some(Instant::now() + BYE_WAIT);
        } else {
            self.exit = true;
        }
    }

    // ---- sockets --------------------------------------------------------

    /// Sends queued messages on the command socket until it would block.
    /// Several small ones already queued travel as one batch frame (one
    /// system call for the lot); nothing waits for a batch to fill.
    fn flush(&mut self) {
        while !self.outq.is_empty() {
            let mut take = 0;
            let mut bytes = BATCH_HEADER_LEN;
            for o in &self.outq {
                let len = o.frame.len() + ITEM_PREFIX_LEN;
                if o.frame.len() >= LONE_MIN_BYTES || (take > 0 && bytes + len > BATCH_MAX_BYTES) {
                    break;
                }
                bytes += len;
                take += 1;
            }
            let cmd = self.cmd.as_mut().expect(HOLDS_CMD);
            let sent = if take <= 1 {
                take = 1;
                match &mut self.outq[0].frame {
                    OutFrames::Owned(f) => send_frame(cmd, f),
                    OutFrames::Shared(f) if f.len() >= MOVE_MIN => send_shared(cmd, f, zmq::DONTWAIT),
                    OutFrames::Shared(f) => send_copy(cmd, f, zmq::DONTWAIT),
                }
            } else {
                self.batch.clear();
                for o in self.outq.iter().take(take) {
                    self.batch.push_encoded(o.frame.bytes());
                }
                send_copy(cmd, self.batch.frame(), zmq::DONTWAIT)
            };
            match sent {
                Ok(()) => {}
                Err(zmq::Error::EAGAIN) => return,
                Err(e) => {
                    tracing::error!("send on the command socket failed: {e}");
                    self.tel.push_error(0, ClientError::Zmq(e));
                }
            }
            for o in self.outq.drain(..take) {
                if let Some(id) = o.acked_publish {
                    self.in_order.push_back(id);
                }
            }
        }
    }

    fn send_delivery_socket(&mut self, frame: WireFrame) {
        if let Err(e) = send_copy(&mut self.dlv, &frame, zmq::DONTWAIT) {
            tracing::warn!("send on the delivery socket failed: {e}");
        }
    }

    /// Reads a batch from one socket, then wakes the subscriptions that got
    /// messages (once each, not once per message).
    fn read_socket(&mut self, command_socket: bool) {
        self.read_batch(command_socket);
        for w in self.wakes.drain(..) {
            w.wake();
        }
    }

    fn read_batch(&mut self, command_socket: bool) {
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

    fn on_delivery(&mut self, msg: crate::message::Message) {
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

    // ---- replies --------------------------------------------------------

    fn on_reply(&mut self, r: Reply) {
        let id = r.request_id;
        if r.kind == ReplyKind::AckUpTo {
            return self.ack_up_to(id);
        }
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
            Some(Waiter::User { tx, resend: Some(frames), publish }) if lost_session && self.opts.reconnect => {
                // Refused because its session was gone: send it again in
                // the new one (held until the session is ready).
                if self.phase == Phase::Ready && is_after(id, self.auth_id) {
                    self.lose_session("the broker no longer knows this session");
                }
                bump(&self.tel.counters.resent, 1);
                // Usually already sent, so the last reference: no copy.
                let frames = Arc::try_unwrap(frames).unwrap_or_else(|shared| (*shared).clone());
                self.on_command(Command::Send { id, frames, reply: Some(tx), publish, resent: true });
                return;
            }
            Some(Waiter::User { tx, .. }) => {
                let _ = tx.send(result);
            }
            Some(Waiter::Subscribe { namespace, pattern, callers }) if lost_session && self.opts.reconnect => {
                let key = (namespace, pattern);
                if self.subs_in_flight.get(&key) == Some(&id) {
                    self.subs_in_flight.remove(&key);
                }
                if self.phase == Phase::Ready && is_after(id, self.auth_id) {
                    self.lose_session("the broker no longer knows this session");
                }
                self.adopt_sub_callers(key, callers);
                return;
            }
            Some(Waiter::Subscribe { namespace, pattern, callers }) => {
                if self.subs_in_flight.get(&(namespace.clone(), pattern.clone())) == Some(&id) {
                    self.subs_in_flight.remove(&(namespace.clone(), pattern.clone()));
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
            self.lose_session("the broker no longer knows this session");
        }
    }

    /// A cumulative ACK: every acknowledged publish sent up to and
    /// including `id` succeeded (the broker answers in order, and answers
    /// a failure on its own, before any later success).
    fn ack_up_to(&mut self, id: u32) {
        if !self.in_order.contains(&id) {
            // After a session loss the old session's order no longer counts.
            if let Some(Waiter::User { tx, .. }) = self.pending.take(id) {
                let _ = tx.send(Ok(Vec::new()));
            }
            return;
        }
        while let Some(done) = self.in_order.pop_front() {
            match self.pending.take(done) {
                Some(Waiter::User { tx, .. }) => {
                    let _ = tx.send(Ok(Vec::new()));
                }
                Some(other) => tracing::debug!(request_id = done, "cumulative ACK for a non-publish: {other:?}"),
                None => {}
            }
            if done == id {
                break;
            }
        }
    }

    /// Callers of a SUB lost with its session wait for the re-SUB of the key.
    fn adopt_sub_callers(&mut self, key: (String, String), callers: SubCallers) {
        if let Some(req) = self.subs_in_flight.get(&key).copied() {
            if let Some(Waiter::Subscribe { callers: c, .. }) = self.pending.get_mut(req) {
                c.extend(callers);
                return;
            }
        }
        match self.phase {
            Phase::Waiting | Phase::Authenticating => {
                self.orphan_subs.entry(key).or_default().extend(callers);
            }
            _ => {
                // Already re-subscribed and confirmed in the new session.
                let ok = self.subs.has_key(&key.0, &key.1);
                for (_, tx) in callers.into_iter() {
                    if let Some(tx) = tx {
                        let _ = tx.send(if ok { Ok(()) } else { Err(ClientError::ConnectionLost) });
                    }
                }
            }
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
            Waiter::User { tx, .. } => {
                let _ = tx.send(Err(e));
            }
            Waiter::Subscribe { namespace, pattern, callers } => {
                self.subs_in_flight.remove(&(namespace.clone(), pattern.clone()));
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
                if self.phase == Phase::Ready {
                    self.lose_session("no PONG within ping_timeout");
                }
            }
            Waiter::Bye => self.exit = true,
        }
    }

    // ---- session --------------------------------------------------------

    fn start_auth(&mut self) {
        if let Some(r) = self.recovery {
            let attempt = r.attempt + 1;
            if attempt > self.opts.reconnect_max_attempts {
                return self.give_up();
            }
            let d = self.backoff_delay(attempt);
            self.recovery = Some(Recovery { attempt, next_at: Instant::now() + d });
            self.tel.emit(Event::Reconnecting {
                attempt,
                max_attempts: self.opts.reconnect_max_attempts,
                next_delay: d,
            });
            tracing::info!("reconnect attempt {attempt}: authenticating again");
        }
        self.phase = Phase::Authenticating;
        self.session = None;
        self.next_ping = None;
        self.heartbeat_out = false;
        let id = self.tel.ids.next();
        self.auth_id = id;
        self.outq.push_back(Out::plain(wire::auth(id, &self.opts.username, &self.opts.token)));
        self.wait(id, Waiter::Auth, self.opts.connect_timeout);
    }

    fn on_auth_reply(&mut self, result: Result<Vec<u8>>) {
        let ok = match result.and_then(|b| wire::parse_auth_ok(&b)) {
            Ok(ok) => ok,
            Err(e) => return self.handshake_failed(e),
        };
        self.ping_every = self.opts.ping_interval.unwrap_or(Duration::from_secs(if ok.ping_interval == 0 {
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
        let frames = wire::attach(id, &ok.session, &self.opts.token);
        self.session = Some(ok.session);
        self.send_delivery_socket(frames);
        self.wait(id, Waiter::Attach, self.opts.connect_timeout);
        // After a lost session: subscribe again to every active key. Callers
        // whose SUB went down with the old session wait for this one.
        for (ns, pattern) in self.subs.keys() {
            let key = (ns, pattern);
            let mut callers = self.orphan_subs.remove(&key).unwrap_or_default();
            if let Some(old) = self.subs_in_flight.remove(&key) {
                if let Some(Waiter::Subscribe { callers: c, .. }) = self.pending.take(old) {
                    callers.extend(c);
                }
            }
            let req = self.tel.ids.next();
            self.outq.push_back(Out::plain(wire::subscribe(req, &key.0, &key.1, false)));
            self.subs_in_flight.insert(key.clone(), req);
            let waiter = Waiter::Subscribe { namespace: key.0, pattern: key.1, callers };
            self.wait(req, waiter, self.opts.request_timeout);
        }
        self.resubscribed = self.subs.keys().len();
        // SUBs of keys unsubscribed meanwhile: nothing left to confirm.
        for (_, callers) in std::mem::take(&mut self.orphan_subs) {
            for (_, tx) in callers.into_iter() {
                if let Some(tx) = tx {
                    let _ = tx.send(Err(ClientError::ConnectionLost));
                }
            }
        }
        self.phase = Phase::Attaching;
    }

    fn on_attach_reply(&mut self, result: Result<Vec<u8>>) {
        if let Err(e) = result.and_then(|b| wire::expect_status(&b, ATTACH_OK)) {
            let e = match e {
                ClientError::Broker { .. } | ClientError::Protocol(_) => ClientError::AttachFailed(e.to_string()),
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
        if let Some(r) = self.recovery.take() {
            self.recovered(r);
        }
        for c in std::mem::take(&mut self.held) {
            self.on_command(c);
        }
    }

    fn handshake_failed(&mut self, e: ClientError) {
        tracing::warn!("session could not be established: {e}");
        self.tel.set_session(None);
        if self.recovery.is_some() && self.connect_reply.is_none() {
            // Reconnecting: the next attempt comes at the back-off deadline.
            self.tel.push_error(0, e);
            self.phase = Phase::Waiting;
            return;
        }
        match self.connect_reply.take() {
            Some(tx) => {
                let _ = tx.send(Err(e.clone()));
            }
            None => self.tel.push_error(0, e.clone()),
        }
        for c in std::mem::take(&mut self.held) {
            fail_command(c, e.clone());
        }
        self.exit = true;
    }

    fn backoff_delay(&self, failed: u32) -> Duration {
        backoff::delay(self.opts.reconnect_initial_delay, self.opts.reconnect_max_delay, failed)
    }

    /// The session is gone (or unusable): start re-establishing it.
    fn lose_session(&mut self, reason: &str) {
        if matches!(self.phase, Phase::Closing | Phase::Waiting) || self.connect_reply.is_some() {
            return;
        }
        tracing::warn!("session lost: {reason}");
        self.in_order.clear();
        self.tel.set_session(None);
        self.session = None;
        self.next_ping = None;
        self.heartbeat_out = false;
        self.tel.emit(Event::Disconnected { reason: reason.to_owned() });
        if !self.opts.reconnect {
            self.tel.push_error(0, ClientError::NotAuthenticated(reason.to_owned()));
            self.exit = true;
            return;
        }
        bump(&self.tel.counters.reauths, 1);
        // Handshake and heartbeat replies of the old session no longer matter.
        self.pending.take_where(|_, w| matches!(w, Waiter::Auth | Waiter::Attach | Waiter::Heartbeat));
        // The first attempt starts as soon as the link is up; without a link
        // it counts as used after the first delay.
        let next_at = Instant::now() + self.opts.reconnect_initial_delay;
        let r = self.recovery.get_or_insert(Recovery { attempt: 0, next_at });
        r.next_at = next_at;
        self.phase = Phase::Waiting;
        if self.link_up {
            self.start_auth();
        }
    }

    /// A new session is ready after a loss.
    fn recovered(&mut self, r: Recovery) {
        let auth_id = self.auth_id;
        // Requests of the old session still unanswered: their fate is unknown.
        for (id, w) in self
            .pending
            .take_where(|id, w| !is_after(id, auth_id) && matches!(w, Waiter::User { .. } | Waiter::Unsubscribe(_)))
        {
            match w {
                Waiter::Unsubscribe(tx) => {
                    // The new session never had it: unsubscribed.
                    if let Some(tx) = tx {
                        let _ = tx.send(Ok(()));
                    }
                }
                w => self.fail_waiter(id, w, ClientError::ConnectionLost),
            }
        }
        bump(&self.tel.counters.reconnects, 1);
        let resubscribed = self.resubscribed;
        tracing::info!("session re-established after {} attempt(s)", r.attempt);
        self.tel.emit(Event::Reconnected { attempts: r.attempt, resubscribed });
    }

    fn give_up(&mut self) {
        let attempts = self.opts.reconnect_max_attempts;
        tracing::error!("reconnection failed after {attempts} attempts: closing");
        self.tel.emit(Event::ReconnectFailed { attempts });
        self.tel.push_error(0, ClientError::Disconnected);
        self.recovery = None;
        self.exit = true;
    }

    /// A connection event of the command socket.
    fn on_link(&mut self, ev: LinkEvent) {
        match ev {
            LinkEvent::Up => {
                self.link_up = true;
                if self.phase == Phase::Waiting {
                    self.start_auth();
                }
            }
            LinkEvent::Down => {
                self.link_up = false;
                if matches!(self.phase, Phase::Ready | Phase::Authenticating | Phase::Attaching) {
                    if self.recovery.is_some() {
                        // Lost during an attempt: wait for the link again.
                        self.pending.take_where(|_, w| matches!(w, Waiter::Auth | Waiter::Attach));
                        self.phase = Phase::Waiting;
                    } else {
                        self.lose_session("connection to the broker lost");
                    }
                }
            }
            LinkEvent::Other => {}
        }
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
        if self.phase == Phase::Waiting {
            if let Some(r) = self.recovery {
                if now >= r.next_at {
                    if self.link_up {
                        self.start_auth();
                    } else {
                        // The broker is still unreachable: this attempt is used up.
                        let attempt = r.attempt + 1;
                        if attempt > self.opts.reconnect_max_attempts {
                            self.give_up();
                        } else {
                            let d = self.backoff_delay(attempt);
                            self.recovery = Some(Recovery { attempt, next_at: now + d });
                            self.tel.emit(Event::Reconnecting {
                                attempt,
                                max_attempts: self.opts.reconnect_max_attempts,
                                next_delay: d,
                            });
                        }
                    }
                }
            }
        }
        if self.phase == Phase::Ready {
            if let Some(t) = self.next_ping {
                if now >= t {
                    if !self.heartbeat_out {
                        let id = self.tel.ids.next();
                        self.outq.push_back(Out::plain(wire::control(MsgType::Ping, id)));
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
        self.tel.close_listeners();
        monitor::unwatch(self.cmd());
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
        Command::Send { reply: Some(tx), .. } => {
            let _ = tx.send(Err(e));
        }
        Command::Subscribe { reply, .. } => {
            let _ = reply.send(Err(e));
        }
        Command::Unsubscribe { reply: Some(tx), .. } => {
            let _ = tx.send(Err(e));
        }
        Command::Close { reply: Some(tx) } => {
            let _ = tx.send(());
        }
        _ => {}
    }
}

/// A message waiting for the command socket.
#[derive(Debug)]
struct Out {
    frame: OutFrames,
    /// Its request id when it is a publish waiting for an ACK (see
    /// [`IoThread::ack_up_to`]).
    acked_publish: Option<u32>,
}

impl Out {
    fn plain(frame: WireFrame) -> Out {
        Out { frame: OutFrames::Owned(frame), acked_publish: None }
    }
}

/// The frame of a waiting message.
#[derive(Debug)]
enum OutFrames {
    /// Moved into ZeroMQ when sent alone and large; else copied.
    Owned(WireFrame),
    /// Also kept for a resend: copied into ZeroMQ when small, referenced
    /// (no copy) when large.
    Shared(Arc<WireFrame>),
}

impl OutFrames {
    fn bytes(&self) -> &[u8] {
        match self {
            OutFrames::Owned(f) => f,
            OutFrames::Shared(f) => f,
        }
    }

    fn len(&self) -> usize {
        self.bytes().len()
    }
}

/// Frames at least this large are moved into ZeroMQ instead of copied.
const MOVE_MIN: usize = 8 * 1024;

/// Sends one frame without blocking; `EAGAIN` leaves it untouched. Small
/// frames are copied; a large one is moved into ZeroMQ, which is safe
/// only when the socket says it takes one more message (`POLLOUT`):
/// otherwise a refused send would have consumed it.
pub(crate) fn send_frame(sock: &mut zmq::Socket, frame: &mut WireFrame) -> zmq::Result<()> {
    if frame.len() < MOVE_MIN {
        return send_copy(sock, frame, zmq::DONTWAIT);
    }
    if !sock.get_events()?.contains(zmq::POLLOUT) {
        return Err(zmq::Error::EAGAIN);
    }
    sock.send(std::mem::take(frame), zmq::DONTWAIT)
}

/// A received frame owned by a [`Bytes`].
struct ZmqFrame(zmq::Message);

impl AsRef<[u8]> for ZmqFrame {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl RecvFrame for zmq::Message {
    /// Hands the frame itself over (no copy) and leaves an empty one for
    /// the next receive.
    fn take_bytes(&mut self) -> Bytes {
        Bytes::from_owner(ZmqFrame(std::mem::replace(self, zmq::Message::new())))
    }
}

/// Receives one frame into `buf` (reused between calls). `Ok(false)` for
/// a multipart message (not protocol 6; its parts are read and dropped).
/// `EAGAIN` when nothing is waiting.
fn recv_frame(sock: &zmq::Socket, buf: &mut zmq::Message) -> zmq::Result<bool> {
    sock.recv(buf, zmq::DONTWAIT)?;
    if !buf.get_more() {
        return Ok(true);
    }
    // The parts of a message arrive together.
    let mut rest = zmq::Message::new();
    loop {
        sock.recv(&mut rest, 0)?;
        if !rest.get_more() {
            return Ok(false);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_taken_frame_is_handed_over_without_a_copy() {
        let mut big = zmq::Message::from(vec![7u8; 10_000]);
        let at = big.as_ptr();
        let b = big.take_bytes();
        assert_eq!(b.as_ptr(), at, "no copy");
        assert!(big.is_empty(), "the frame is ready for the next receive");
        drop(big);
        assert!(b.iter().all(|&x| x == 7), "the bytes outlive the frame");
    }
}
