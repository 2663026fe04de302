//! What the async API asks the I/O thread to do, and how a command that
//! can no longer be carried out is answered.

use tokio::sync::oneshot;

use crate::dispatch::{LocalId, LocalSub};
use crate::error::{ClientError, Result};
use crate::wire::WireFrame;
use pulsemq_shared::Pattern;

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

impl Command {
    /// Answers the caller waiting on this command with `e`.
    pub(crate) fn fail(self, e: ClientError) {
        match self {
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
}
