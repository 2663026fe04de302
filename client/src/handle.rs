//! The API side of the channels to the I/O thread, shared by a client's
//! clones and its subscriptions: queueing commands (with back-pressure),
//! waking the thread, and sending NO_ACK publishes directly on the lent
//! command socket.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;

use crate::cmd_slot::{CmdSlot, Direct};
use crate::command::Command;
use crate::dispatch::LocalId;
use crate::error::{ClientError, Result};
use crate::stats::Telemetry;
use crate::wire::WireFrame;

/// The API side of the channel to the I/O thread.
pub(crate) struct Shared {
    data_tx: mpsc::Sender<Command>,
    ctl_tx: mpsc::UnboundedSender<Command>,
    /// PUSH end of the inproc wake-up pipe (ZeroMQ sockets are not `Sync`).
    wake: Mutex<zmq::Socket>,
    /// The command socket when the I/O thread lends it (NO_ACK publishes).
    slot: Arc<CmdSlot>,
    pub(crate) tel: Arc<Telemetry>,
    next_local: AtomicU64,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared").finish_non_exhaustive()
    }
}

impl Shared {
    /// The API side of a freshly started I/O thread.
    pub(crate) fn new(
        data_tx: mpsc::Sender<Command>,
        ctl_tx: mpsc::UnboundedSender<Command>,
        wake: zmq::Socket,
        slot: Arc<CmdSlot>,
        tel: Arc<Telemetry>,
    ) -> Shared {
        Shared { data_tx, ctl_tx, wake: Mutex::new(wake), slot, tel, next_local: AtomicU64::new(1) }
    }

    /// A new id for a local subscription.
    pub(crate) fn next_local_id(&self) -> LocalId {
        self.next_local.fetch_add(1, Ordering::Relaxed)
    }

    /// Wakes the I/O thread unless a wake-up is already on its way.
    pub(crate) fn wake(&self) {
        if !self.tel.wake_pending.swap(true, Ordering::SeqCst) {
            let sock = self.wake.lock().unwrap_or_else(|e| e.into_inner());
            // EAGAIN means wake-ups are already queued: fine.
            let _ = sock.send(&[][..], zmq::DONTWAIT);
        }
    }

    /// Queues a data command, waiting for room (back-pressure).
    pub(crate) async fn send(&self, c: Command) -> Result<()> {
        if let Some(c) = self.try_send(c)? {
            self.send_full(c).await?;
        }
        Ok(())
    }

    /// Queues a data command if there is room, or hands it back (boxed)
    /// for [`Shared::send_full`]. The command counts as queued ahead of
    /// any direct send (see [`crate::cmd_slot`]) from here until the I/O
    /// thread takes it, or until it is given up.
    pub(crate) fn try_send(&self, c: Command) -> Result<Option<Box<Command>>> {
        self.slot.queued();
        match self.data_tx.try_send(c) {
            Ok(()) => {
                self.wake();
                Ok(None)
            }
            Err(mpsc::error::TrySendError::Full(c)) => Ok(Some(Box::new(c))),
            Err(mpsc::error::TrySendError::Closed(_)) => {
                self.slot.dequeued();
                Err(ClientError::Disconnected)
            }
        }
    }

    /// Waits for room in a full queue. Boxed, like the command: the queue
    /// almost always has room, and a caller's future then holds two
    /// pointers instead of the channel's send future and a command.
    pub(crate) fn send_full(&self, c: Box<Command>) -> Pin<Box<dyn Future<Output = Result<()>> + Send + '_>> {
        Box::pin(async move {
            // Given up (error or cancelled caller): no longer queued ahead.
            let mark = self.slot.unless_queued();
            self.data_tx.send(*c).await.map_err(|_| ClientError::Disconnected)?;
            mark.keep();
            self.wake();
            Ok(())
        })
    }

    /// Sends a NO_ACK publish from the caller's thread when the I/O thread
    /// lends the command socket; `false`: queue it instead (frames intact).
    /// `now_ns`: the wall clock the publish was stamped with.
    pub(crate) fn send_direct(&self, frames: &mut WireFrame, now_ns: u64) -> bool {
        match self.slot.try_send(frames, now_ns) {
            Direct::Queue => false,
            sent => {
                crate::stats::bump(&self.tel.counters.published, 1);
                crate::stats::bump(&self.tel.counters.sent_direct, 1);
                if sent == Direct::SentReplyWaiting {
                    self.wake();
                }
                true
            }
        }
    }

    /// Queues a control command (never waits).
    pub(crate) fn send_ctl(&self, c: Command) -> Result<()> {
        self.ctl_tx.send(c).map_err(|_| ClientError::Disconnected)?;
        self.wake();
        Ok(())
    }
}
