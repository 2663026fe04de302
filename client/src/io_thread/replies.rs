//! Replies from the broker: each is paired with its waiter by request id,
//! and a cumulative ACK settles every acknowledged publish up to its id.

use std::sync::Arc;

use pulsemq_shared::payloads::{SUB_OK, UNSUB_OK};
use pulsemq_shared::ErrorCode;

use super::{IoThread, Phase, SubCallers, Waiter};
use crate::command::Command;
use crate::error::{ClientError, Result};
use crate::pending::is_after;
use crate::stats::bump;
use crate::wire::{self, Reply, ReplyKind};

impl IoThread {
    pub(super) fn on_reply(&mut self, r: Reply) {
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
    pub(super) fn ack_up_to(&mut self, id: u32) {
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
    pub(super) fn adopt_sub_callers(&mut self, key: (String, String), callers: SubCallers) {
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

    pub(super) fn finish_subscribe(
        &mut self,
        id: u32,
        namespace: &str,
        pattern: &str,
        callers: SubCallers,
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

    pub(super) fn fail_waiter(&mut self, id: u32, w: Waiter, e: ClientError) {
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
}
