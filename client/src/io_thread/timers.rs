//! Deadlines: request timeouts, heartbeats, the next reconnect attempt,
//! and how long `close` waits.

use std::time::Instant;

use pulsemq_shared::MsgType;

use super::outbox::Out;
use super::{IoThread, Phase, Recovery, Waiter, BYE_WAIT};
use crate::error::ClientError;
use crate::events::Event;
use crate::stats::bump;
use crate::wire;

impl IoThread {
    pub(super) fn on_timers(&mut self, now: Instant) {
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
}
