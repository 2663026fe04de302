//! Protocol 6 on the engine's sockets: one frame per message and batches
//! in; cumulative ACKs and batched deliveries out, once per round.
//!
//! A round is one pass of the poll loop: everything already waiting on the
//! sockets is read and handled, then [`Engine::end_round`] sends what that
//! produced — one cumulative ACK per publishing session, one batch (or one
//! plain message) per receiving session. Nothing is held back to wait for
//! more, so a lone message leaves as soon as it is handled.

use std::time::Instant;

use pulsemq_shared::v6::{self, Message};
use pulsemq_shared::{ErrorCode, Format, MsgType, ProtocolError};

use super::drain::DrainWindow;
use super::outbox::Flushed;
use super::session::Session;
use super::subscriptions::SessionKey;
use super::wire::{self, Sent};
use super::{Engine, Request};

/// Which port a frame came in on.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Port {
    Command,
    Delivery,
}

impl Engine {
    /// `[rid, frame]` from the command port whose first byte is 6.
    pub(super) fn on_command_v6(&mut self, parts: &mut [zmq::Message], n: usize) {
        // The peer address is read only where AUTH may be (throttling and
        // audit need it): a lone AUTH, or a batch.
        let peer = if parts[1].get(1) == Some(&(MsgType::Auth as u8)) || v6::is_batch(&parts[1]) {
            parts[1].gets("Peer-Address").unwrap_or("").to_owned()
        } else {
            String::new()
        };
        let rid: &[u8] = &parts[0];
        if n != 2 {
            let id = v6::peek_request_id(&parts[1]);
            let msg = format!("protocol 6 sends one frame per message, got {}", n - 1);
            return self.reply_error_raw(rid, v6::VERSION, id, ErrorCode::Malformed, &msg);
        }
        self.each_v6(Port::Command, rid, &parts[1], &peer);
    }

    /// `[rid, frame]` from the delivery port whose first byte is 6.
    pub(super) fn on_delivery_port_v6(&mut self, parts: &[zmq::Message], n: usize, peer: &str) {
        let rid: &[u8] = &parts[0];
        if n != 2 {
            let id = v6::peek_request_id(&parts[1]);
            let msg = format!("protocol 6 sends one frame per message, got {}", n - 1);
            return self.send_error_on(true, rid, v6::VERSION, id, ErrorCode::Malformed, &msg);
        }
        self.each_v6(Port::Delivery, rid, &parts[1], peer);
    }

    /// Handles a plain message or every item of a batch, in order. A bad
    /// item is answered alone (its request id read where possible); a batch
    /// whose framing is broken is answered once and the rest skipped.
    fn each_v6(&mut self, port: Port, rid: &[u8], frame: &[u8], peer: &str) {
        if !v6::is_batch(frame) {
            return match v6::decode_message(frame) {
                Ok(m) => self.on_v6(port, rid, m, peer),
                Err(e) => self.v6_failed(port, rid, v6::peek_request_id(frame), &e),
            };
        }
        match v6::batch_items(frame) {
            Err(e) => self.v6_failed(port, rid, 0, &e),
            Ok(items) => {
                for (raw, m) in items {
                    match m {
                        Ok(m) => self.on_v6(port, rid, m, peer),
                        Err(e) => self.v6_failed(port, rid, v6::peek_request_id(raw), &e),
                    }
                }
            }
        }
    }

    fn v6_failed(&mut self, port: Port, rid: &[u8], request_id: u32, e: &ProtocolError) {
        tracing::debug!("malformed protocol-6 message: {e}");
        self.send_error_on(port == Port::Delivery, rid, v6::VERSION, request_id, e.code(), &e.to_string());
    }

    fn on_v6(&mut self, port: Port, rid: &[u8], m: Message, peer: &str) {
        let frames = m.as_frame_refs();
        if port == Port::Delivery {
            return self.on_delivery_request(rid, &frames, peer);
        }
        let req = Request { rid, frames, peer };
        if frames.header.msg_type == MsgType::Pub {
            if let Some(a) = self.on_pub(&req) {
                self.finish_pub_v6(&req, a);
            }
        } else {
            self.on_request(&req);
        }
    }

    /// Records that `key` owes a success up to `request_id`; sent by
    /// [`Engine::end_round`] or before the session's next other reply.
    pub(super) fn owe_ack(&mut self, key: SessionKey, request_id: u32, seq: u64) {
        if let Some(s) = self.sessions.get_mut(key) {
            if s.ack_pending.replace((request_id, seq)).is_none() {
                self.ack_due.push(key);
            }
        }
    }

    /// Sends the cumulative ACK the session behind a command routing id is
    /// owed, if any (before another reply, to keep replies in order).
    pub(super) fn flush_ack_of(&mut self, rid: &[u8]) {
        if let Some(key) = self.sessions.key_by_cmd(rid) {
            self.send_owed_ack(key);
        }
    }

    fn send_owed_ack(&mut self, key: SessionKey) {
        let Some(s) = self.sessions.get_mut(key) else { return };
        let Some((id, seq)) = s.ack_pending.take() else { return };
        let frame = v6::cumulative_ack(id, seq, pulsemq_shared::header::now_ms());
        let rid = s.cmd_rid.clone();
        let sent = wire::send_routed(&mut self.sockets.cmd, &rid, &[&frame]);
        self.note_reply(sent, &rid);
    }

    /// Sends what this round produced: cumulative ACKs, then each session's
    /// batch; retries frames parked by full pipes.
    pub(super) fn end_round(&mut self) {
        for key in std::mem::take(&mut self.ack_due) {
            self.send_owed_ack(key);
        }
        let mut due = std::mem::take(&mut self.out_due);
        for key in due.drain(..) {
            if let Some(s) = self.sessions.get_mut(key) {
                s.out.due = false;
            }
            self.flush_outbox(key);
        }
        self.out_due = due;
        if !self.backlogged.is_empty() {
            let mut backlogged = std::mem::take(&mut self.backlogged);
            backlogged.retain(|&key| {
                self.flush_outbox(key);
                match self.sessions.get_mut(key) {
                    Some(s) if s.out.has_parked() => true,
                    Some(s) => {
                        s.out.backlogged = false;
                        false
                    }
                    None => false,
                }
            });
            self.backlogged.extend(backlogged);
        }
    }

    /// Flushes one session's outbox and books the outcome.
    fn flush_outbox(&mut self, key: SessionKey) {
        let Some(s) = self.sessions.get_mut(key) else { return };
        let f = flush_session(&mut self.sockets.delivery, s, self.cfg.session_buffer_bytes);
        if s.out.has_parked() && !s.out.backlogged {
            s.out.backlogged = true;
            self.backlogged.push(key);
        }
        if f.lost > 0 {
            s.book_drops(f.lost, Instant::now());
            self.totals.drops += f.lost;
        }
    }
}

/// Sends a session's outbox on the delivery socket (see [`super::outbox::Outbox::flush`]),
/// within its drain window (see [`super::drain`]).
pub(super) fn flush_session(sock: &mut zmq::Socket, s: &mut Session, limit: usize) -> Flushed {
    let Session { out, delivery_rid, drain, .. } = s;
    let Some(rid) = delivery_rid.as_deref() else {
        return out.flush(&mut |_: &[u8]| Err(()));
    };
    out.flush(&mut |frame: &[u8]| match send_in_window(sock, rid, drain, frame.len(), limit, |sock| {
        wire::send_routed(sock, rid, &[frame])
    }) {
        Sent::Ok => Ok(true),
        Sent::Full => Ok(false),
        Sent::Gone => Err(()),
    })
}

/// Hands one frame to libzmq if the session's drain window has room for
/// it (else `Full`: the caller parks it), and sends a marker PING after it
/// when one is due.
fn send_in_window(
    sock: &mut zmq::Socket,
    rid: &[u8],
    drain: &mut DrainWindow,
    len: usize,
    limit: usize,
    send: impl FnOnce(&mut zmq::Socket) -> Sent,
) -> Sent {
    if !drain.may_send(len, limit) {
        if let Some(id) = drain.on_blocked() {
            send_marker(sock, rid, drain, id);
        }
        return Sent::Full;
    }
    let sent = send(sock);
    if sent == Sent::Ok {
        if let Some(id) = drain.on_sent(len, limit) {
            send_marker(sock, rid, drain, id);
        }
    }
    sent
}

/// A PING on the delivery port whose PONG confirms the bytes before it.
fn send_marker(sock: &mut zmq::Socket, rid: &[u8], drain: &mut DrainWindow, id: u32) {
    let ping = v6::Fields::bare(MsgType::Ping, Format::Bytes, id, pulsemq_shared::header::now_ms());
    let sent = match v6::encode(&ping, &[]) {
        Ok(frame) => wire::send_routed(sock, rid, &[&frame]),
        Err(_) => Sent::Gone, // no names: cannot fail
    };
    if sent != Sent::Ok {
        drain.unmark(id);
    }
}

/// A protocol-6 delivery encoded once for all its recipients.
pub(super) enum Encoded<'a> {
    /// Batched: copied into each recipient's batch.
    Small(&'a [u8]),
    /// At least [`super::outbox::LONE_MIN_BYTES`]: one frame every recipient's send
    /// references (no copy per recipient).
    Large(std::sync::Arc<Vec<u8>>),
}

impl Encoded<'_> {
    fn bytes(&self) -> &[u8] {
        match self {
            Encoded::Small(b) => b,
            Encoded::Large(b) => b,
        }
    }
}

/// Outcome of queueing one delivery for a protocol-6 session.
pub(super) struct Queued {
    /// Batched, sent, or parked within the byte limit; false when over
    /// the session's byte limit or its peer is gone (a drop).
    pub accepted: bool,
    /// Messages queued earlier that were lost because the peer is gone.
    pub lost: u64,
}

/// Queues one encoded delivery for a protocol-6 session. Small messages
/// join the round's batch (`due` lists the session for the end of the
/// round); a large one is sent alone at once, after what was batched
/// before it, or parked behind frames already waiting.
pub(super) fn queue_delivery(
    sock: &mut zmq::Socket,
    s: &mut Session,
    message: &Encoded,
    limit: usize,
    due: &mut Vec<SessionKey>,
    backlogged: &mut Vec<SessionKey>,
) -> Queued {
    let mut lost = 0;
    let bytes = message.bytes();
    if s.delivery_rid.is_none() || !s.out.has_room(bytes.len(), limit) {
        return Queued { accepted: false, lost };
    }
    if let Encoded::Small(message) = message {
        let full = s.out.push(message);
        if full {
            lost += flush_session(sock, s, limit).lost;
        } else if !s.out.due {
            s.out.due = true;
            due.push(s.key);
        }
    } else {
        if s.out.has_batch() {
            lost += flush_session(sock, s, limit).lost;
        }
        let sent = if s.out.has_parked() {
            Sent::Full
        } else {
            let Session { delivery_rid, drain, .. } = &mut *s;
            let rid = delivery_rid.as_deref().unwrap_or_default();
            send_in_window(sock, rid, drain, bytes.len(), limit, |sock| match message {
                Encoded::Large(frame) => wire::send_routed_arc(sock, rid, frame),
                Encoded::Small(frame) => wire::send_routed(sock, rid, &[frame]),
            })
        };
        match sent {
            Sent::Ok => {}
            Sent::Full => s.out.park(bytes.to_vec(), 1),
            Sent::Gone => return Queued { accepted: false, lost },
        }
    }
    if s.out.has_parked() && !s.out.backlogged {
        s.out.backlogged = true;
        backlogged.push(s.key);
    }
    Queued { accepted: true, lost }
}
