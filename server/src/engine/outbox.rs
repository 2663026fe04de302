//! What waits to go out to one protocol-6 session: deliveries gathered
//! into a batch during one engine round, and frames its ZeroMQ pipe
//! refused, held in bytes up to `broker.session_buffer_bytes`.
//!
//! Why: the v5 drop rule (a full ZeroMQ pipe drops the message) counts
//! messages, so a burst larger than the pipe lost messages even when the
//! subscriber was only a few milliseconds behind. Here a session's pipe
//! filling up parks frames in the broker until it drains again; only a
//! subscriber more than the byte limit behind loses messages, for itself
//! alone, counted at the moment they would have been queued. A publisher
//! is never blocked: nothing here waits.
//!
//! Batching never delays a message: the engine flushes every outbox at the
//! end of each round (after reading what was already waiting on its
//! sockets), so a batch holds only what arrived together.

use std::collections::VecDeque;

use pulsemq_shared::v6::BatchWriter;

/// A batch is sent as soon as it reaches this size, mid-round.
pub const BATCH_MAX_BYTES: usize = 256 * 1024;
/// A message at least this large travels as its own frame.
pub const LONE_MIN_BYTES: usize = 64 * 1024;

/// One frame the pipe refused, with the count of messages it carries.
#[derive(Debug)]
struct Parked {
    frame: Vec<u8>,
    msgs: u32,
}

/// The per-session queue (see the module docs).
#[derive(Debug, Default)]
pub struct Outbox {
    batch: Option<BatchWriter>,
    parked: VecDeque<Parked>,
    parked_bytes: usize,
    /// Listed in the engine's "flush at the end of the round" list.
    pub due: bool,
    /// Listed in the engine's "retry parked frames" list.
    pub backlogged: bool,
}

/// What a flush did, for the session's and the engine's counters.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Flushed {
    /// Messages the peer was gone for (dropped).
    pub lost: u64,
}

/// How the outbox hands one frame to ZeroMQ: `Ok(true)` sent, `Ok(false)`
/// the pipe is full (try later), `Err(())` the peer is gone.
pub type SendFn<'a> = dyn FnMut(&[u8]) -> Result<bool, ()> + 'a;

impl Outbox {
    /// Bytes waiting in the broker for this session (batch + parked).
    pub fn queued_bytes(&self) -> usize {
        self.parked_bytes + self.batch.as_ref().filter(|b| !b.is_empty()).map_or(0, |b| b.bytes())
    }

    /// True when a message of `len` more bytes fits under `limit`.
    pub fn has_room(&self, len: usize, limit: usize) -> bool {
        self.queued_bytes().saturating_add(len) <= limit
    }

    pub fn has_parked(&self) -> bool {
        !self.parked.is_empty()
    }

    pub fn has_batch(&self) -> bool {
        self.batch.as_ref().is_some_and(|b| !b.is_empty())
    }

    /// Adds an encoded message to this round's batch. Returns true when the
    /// batch is now big enough to be sent at once.
    pub fn push(&mut self, message: &[u8]) -> bool {
        let b = self.batch.get_or_insert_with(BatchWriter::new);
        b.push_encoded(message);
        b.bytes() >= BATCH_MAX_BYTES
    }

    /// Parks a frame the caller could not send (a large lone message).
    pub fn park(&mut self, frame: Vec<u8>, msgs: u32) {
        self.parked_bytes += frame.len();
        self.parked.push_back(Parked { frame, msgs });
    }

    /// Sends what is parked, oldest first, then the batch, until the pipe
    /// is full. Order is kept: the batch never overtakes a parked frame.
    pub fn flush(&mut self, send: &mut SendFn) -> Flushed {
        let mut out = Flushed::default();
        while let Some(p) = self.parked.front() {
            match send(&p.frame) {
                Ok(true) => {
                    self.parked_bytes -= p.frame.len();
                    self.parked.pop_front();
                }
                Ok(false) => break,
                Err(()) => return self.lose_all(out),
            }
        }
        let Some(batch) = self.batch.as_mut().filter(|b| !b.is_empty()) else { return out };
        if self.parked.is_empty() {
            match send(batch.frame()) {
                Ok(true) => {
                    batch.clear();
                    return out;
                }
                Ok(false) => {}
                Err(()) => {
                    out.lost += batch.len() as u64;
                    batch.clear();
                    return self.lose_all(out);
                }
            }
        }
        let msgs = batch.len();
        let frame = batch.take_frame();
        self.park(frame, msgs);
        out
    }

    fn lose_all(&mut self, mut out: Flushed) -> Flushed {
        out.lost += self.parked.iter().map(|p| p.msgs as u64).sum::<u64>();
        out.lost += self.batch.as_ref().map_or(0, |b| b.len() as u64);
        self.parked.clear();
        self.parked_bytes = 0;
        if let Some(b) = self.batch.as_mut() {
            b.clear();
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pulsemq_shared::v6;

    fn msg(i: u8) -> Vec<u8> {
        let f = v6::Fields::bare(pulsemq_shared::MsgType::Msg, pulsemq_shared::Format::Bytes, 0, 0);
        v6::encode(&f, &[i]).unwrap()
    }

    /// Decodes what a flush sent, in order, to the payload bytes.
    fn payloads(frames: &[Vec<u8>]) -> Vec<u8> {
        let mut out = Vec::new();
        for f in frames {
            if v6::is_batch(f) {
                out.extend(v6::batch_items(f).unwrap().map(|(_, m)| m.unwrap().payload[0]));
            } else {
                out.push(v6::decode_message(f).unwrap().payload[0]);
            }
        }
        out
    }

    #[test]
    fn a_full_pipe_parks_and_order_survives() {
        let mut o = Outbox::default();
        let mut sent: Vec<Vec<u8>> = Vec::new();
        let mut room = 0usize;
        o.push(&msg(1));
        o.push(&msg(2));
        // Pipe full: the batch is parked whole.
        let f = o.flush(&mut |fr: &[u8]| {
            if room == 0 {
                return Ok(false);
            }
            room -= 1;
            sent.push(fr.to_vec());
            Ok(true)
        });
        assert_eq!(f, Flushed::default());
        assert!(o.has_parked() && !o.has_batch());
        let parked = o.queued_bytes();
        assert!(parked > 0);
        // A later message waits behind the parked batch.
        o.push(&msg(3));
        o.flush(&mut |_: &[u8]| Ok(false));
        assert!(o.queued_bytes() > parked);
        room = 10;
        o.flush(&mut |fr: &[u8]| {
            room -= 1;
            sent.push(fr.to_vec());
            Ok(true)
        });
        assert_eq!(payloads(&sent), [1, 2, 3]);
        assert_eq!(o.queued_bytes(), 0);
        // A lone message leaves as a plain frame.
        o.push(&msg(4));
        sent.clear();
        o.flush(&mut |fr: &[u8]| {
            sent.push(fr.to_vec());
            Ok(true)
        });
        assert_eq!(sent, [msg(4)]);
    }

    #[test]
    fn room_is_counted_in_bytes() {
        let mut o = Outbox::default();
        assert!(o.has_room(100, 100));
        o.push(&[0u8; 60]);
        assert!(!o.has_room(60, 100));
        assert!(o.has_room(10, 100));
    }

    #[test]
    fn a_gone_peer_loses_everything_counted() {
        let mut o = Outbox::default();
        o.park(msg(1), 1);
        o.push(&msg(2));
        o.push(&msg(3));
        let f = o.flush(&mut |_: &[u8]| Err(()));
        assert_eq!(f.lost, 3);
        assert_eq!(o.queued_bytes(), 0);
    }
}
