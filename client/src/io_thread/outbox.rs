//! The command socket's send queue: what waits to go out, and sending it
//! as single frames or batch frames until ZeroMQ would block.

use std::sync::Arc;

use pulsemq_shared::v6::{BATCH_HEADER_LEN, ITEM_PREFIX_LEN};
use pulsemq_shared::zmq_send::{send_copy, send_shared};

use super::{IoThread, BATCH_MAX_BYTES, HOLDS_CMD, LONE_MIN_BYTES};
use crate::error::ClientError;
use crate::sockets::{send_frame, MOVE_MIN};
use crate::wire::WireFrame;

impl IoThread {
    /// Sends queued messages on the command socket until it would block.
    /// Several small ones already queued travel as one batch frame (one
    /// system call for the lot); nothing waits for a batch to fill.
    pub(super) fn flush(&mut self) {
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

    pub(super) fn send_delivery_socket(&mut self, frame: WireFrame) {
        if let Err(e) = send_copy(&mut self.dlv, &frame, zmq::DONTWAIT) {
            tracing::warn!("send on the delivery socket failed: {e}");
        }
    }
}

/// A message waiting for the command socket.
#[derive(Debug)]
pub(super) struct Out {
    pub(super) frame: OutFrames,
    /// Its request id when it is a publish waiting for an ACK (see
    /// [`IoThread::ack_up_to`]).
    pub(super) acked_publish: Option<u32>,
}

impl Out {
    pub(super) fn plain(frame: WireFrame) -> Out {
        Out { frame: OutFrames::Owned(frame), acked_publish: None }
    }
}

/// The frame of a waiting message.
#[derive(Debug)]
pub(super) enum OutFrames {
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
