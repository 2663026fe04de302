//! Applying control requests from the admin side.

use std::time::Instant;

use tracing::info;

use super::Engine;
use crate::control::Control;
use crate::perms::{Role, UserType};

impl Engine {
    pub(super) fn apply_control(&mut self, c: Control) {
        match c {
            Control::SetPermissions(snap, reply) => {
                self.perms = snap;
                self.recheck_sessions();
                if let Some(r) = reply {
                    let _ = r.send(());
                }
            }
            Control::KickUser { user_id, reply } => {
                let n = self.end_sessions_where(|s| s.user.id == user_id, "disconnected by an administrator");
                if let Some(r) = reply {
                    let _ = r.send(n);
                }
            }
            Control::ForgetTopic { namespace, topic } => self.topics.forget(&namespace, &topic),
            Control::ForgetNamespace { namespace } => self.topics.forget_namespace(&namespace),
            Control::Connections(reply) => {
                let now = Instant::now();
                let now_us = super::stats::now_us();
                let mut list: Vec<_> = self.sessions.iter().map(|s| s.info(now, now_us)).collect();
                list.sort_by(|a, b| a.connected_since.cmp(&b.connected_since).then(a.session.cmp(&b.session)));
                let _ = reply.send(list);
            }
            Control::Publish(p) => {
                let input = super::publish::PubIn {
                    namespace: &p.namespace,
                    topic: &p.topic,
                    format: p.format,
                    flags: 0,
                    timestamp_ms: pulsemq_shared::header::now_ms(),
                    payload: &p.payload,
                };
                let outcome = self.publish_from_admin(&p.username, &input);
                // Deliveries it queued for protocol-6 sessions leave now.
                self.end_round();
                let _ = p.reply.send(outcome);
            }
            Control::Watch { username, namespace, pattern, tx, reply } => {
                let _ = reply.send(self.watch(&username, namespace, &pattern, tx));
            }
            Control::Unwatch { id } => self.taps.remove(id),
            Control::Shutdown => {
                info!("engine shutting down: {} sessions", self.sessions.len());
                self.running = false;
            }
        }
    }

    /// After a permission change: sessions of deleted, deactivated or
    /// admin-only users end; the others see their new rights at once and
    /// lose subscriptions in namespaces they may no longer read.
    fn recheck_sessions(&mut self) {
        let perms = self.perms.clone();
        self.end_sessions_where(
            |s| perms.user(s.user.id).is_none_or(|u| !u.is_active || u.user_type == UserType::AdminOnly),
            "account removed or deactivated",
        );
        for key in self.sessions.keys() {
            let Some(s) = self.sessions.get_mut(key) else { continue };
            let Some(fresh) = perms.user(s.user.id) else { continue };
            s.user = fresh.clone();
            let revoked: Vec<(String, String)> =
                s.subs.keys().filter(|(ns, _)| !s.user.may(ns, Role::Sub)).cloned().collect();
            for id in revoked {
                if let Some(p) = s.subs.remove(&id) {
                    self.index.remove(&id.0, &p, key);
                    info!("'{}' lost subscription {}:{} (role revoked)", s.user.username, id.0, id.1);
                }
            }
        }
    }

    /// Ends matching sessions, telling each client with an ERROR 2 so it
    /// does not wait for a reply that will never come. Returns the count.
    fn end_sessions_where(&mut self, pred: impl Fn(&super::session::Session) -> bool, why: &str) -> usize {
        let keys: Vec<_> =
            self.sessions.iter().filter(|s| pred(s)).map(|s| (s.key, s.cmd_rid.clone(), s.protocol)).collect();
        for (key, rid, version) in &keys {
            self.reply_error_raw(
                rid,
                *version,
                0,
                pulsemq_shared::ErrorCode::NotAuthenticated,
                &format!("session ended: {why}"),
            );
            self.end_session(*key, why);
        }
        keys.len()
    }

    /// Checks a console watcher as a SUB would be (names, the account's sub
    /// role) and adds its tap.
    fn watch(
        &mut self,
        username: &str,
        namespace: String,
        pattern: &str,
        tx: tokio::sync::mpsc::Sender<super::tap::Tapped>,
    ) -> Result<u64, (pulsemq_shared::ErrorCode, String)> {
        let fail = |e: pulsemq_shared::ProtocolError| (e.code(), e.to_string());
        pulsemq_shared::validate_namespace(&namespace).map_err(fail)?;
        let pattern = pulsemq_shared::Pattern::parse(pattern).map_err(fail)?;
        let allowed = self.perms.users_by_name.get(username).is_some_and(|u| u.may(&namespace, Role::Sub));
        if !allowed {
            let msg = format!("permission denied: '{username}' has no sub role in namespace '{namespace}'");
            return Err((pulsemq_shared::ErrorCode::PermissionDenied, msg));
        }
        Ok(self.taps.add(namespace, pattern, tx))
    }
}
