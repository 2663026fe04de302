//! The session: AUTH, ATTACH, re-subscribing after a loss, and the
//! back-off between attempts when the broker is gone.

use std::time::{Duration, Instant};

use pulsemq_shared::payloads::ATTACH_OK;

use super::outbox::Out;
use super::{IoThread, Phase, Recovery, Waiter};
use crate::backoff;
use crate::error::{ClientError, Result};
use crate::events::Event;
use crate::monitor::LinkEvent;
use crate::pending::is_after;
use crate::stats::{bump, SessionInfo};
use crate::wire;

impl IoThread {
    pub(super) fn start_auth(&mut self) {
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

    pub(super) fn on_auth_reply(&mut self, result: Result<Vec<u8>>) {
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

    pub(super) fn on_attach_reply(&mut self, result: Result<Vec<u8>>) {
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

    pub(super) fn handshake_failed(&mut self, e: ClientError) {
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
            c.fail(e.clone());
        }
        self.exit = true;
    }

    pub(super) fn backoff_delay(&self, failed: u32) -> Duration {
        backoff::delay(self.opts.reconnect_initial_delay, self.opts.reconnect_max_delay, failed)
    }

    /// The session is gone (or unusable): start re-establishing it.
    pub(super) fn lose_session(&mut self, reason: &str) {
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
    pub(super) fn recovered(&mut self, r: Recovery) {
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

    pub(super) fn give_up(&mut self) {
        let attempts = self.opts.reconnect_max_attempts;
        tracing::error!("reconnection failed after {attempts} attempts: closing");
        self.tel.emit(Event::ReconnectFailed { attempts });
        self.tel.push_error(0, ClientError::Disconnected);
        self.recovery = None;
        self.exit = true;
    }

    /// A connection event of the command socket.
    pub(super) fn on_link(&mut self, ev: LinkEvent) {
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
}
