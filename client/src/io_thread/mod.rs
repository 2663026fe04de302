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

mod commands;
mod inbox;
mod outbox;
mod replies;
mod session;
mod timers;

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use pulsemq_shared::v6::BatchWriter;
use tokio::sync::{mpsc, oneshot};

use crate::cmd_slot::CmdSlot;
use crate::command::{Command, ReplyTx};
use crate::dispatch::{LocalId, SubTable};
use crate::error::{ClientError, Result};
use crate::gaps::SeqTracker;
use crate::monitor;
use crate::options::ClientOptions;
use crate::pending::Pending;
use crate::queue::WakeHandle;
use crate::stats::{SessionInfo, Telemetry};
use crate::wire::{Incoming, WireFrame};
use outbox::Out;

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
    /// When the current round of work started (read once per round, not
    /// once per request: deadlines are seconds, a round microseconds).
    now: Instant,
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
            now: Instant::now(),
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
                self.now = Instant::now();
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
            self.on_timers(self.now);
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

    fn wait(&mut self, id: u32, waiter: Waiter, timeout: Duration) {
        if let Some(old) = self.pending.insert(id, waiter, self.now + timeout) {
            self.fail_waiter(id, old, ClientError::Protocol("request id reused".into()));
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
            c.fail(ClientError::Disconnected);
        }
        self.data_rx.close();
        self.ctl_rx.close();
        while let Ok(c) = self.data_rx.try_recv() {
            c.fail(ClientError::Disconnected);
        }
        while let Ok(c) = self.ctl_rx.try_recv() {
            c.fail(ClientError::Disconnected);
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
