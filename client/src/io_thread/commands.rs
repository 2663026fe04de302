//! Commands from the async API: taken from their channels, held while
//! there is no session, turned into frames for the send queue.

use std::sync::Arc;
use std::time::Instant;

use pulsemq_shared::MsgType;
use tokio::sync::{mpsc, oneshot};

use super::outbox::{Out, OutFrames};
use super::{IoThread, Phase, Waiter, BYE_WAIT, CMD_BATCH, OUTQ_LIMIT};
use crate::command::Command;
use crate::dispatch::AddOutcome;
use crate::error::ClientError;
use crate::stats::bump;
use crate::wire;

impl IoThread {
    /// Returns true when the data channel may hold more commands to take now.
    pub(super) fn drain_commands(&mut self) -> bool {
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

    pub(super) fn on_command(&mut self, c: Command) {
        if let Command::Close { reply } = c {
            self.begin_close(reply);
            return;
        }
        match self.phase {
            Phase::Ready => {}
            Phase::Closing => return c.fail(ClientError::Disconnected),
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

    pub(super) fn begin_close(&mut self, reply: Option<oneshot::Sender<()>>) {
        if let Some(tx) = reply {
            self.close_replies.push(tx);
        }
        if self.phase == Phase::Closing {
            return;
        }
        let was_ready = self.phase == Phase::Ready;
        self.phase = Phase::Closing;
        for c in std::mem::take(&mut self.held) {
            c.fail(ClientError::Disconnected);
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
}
