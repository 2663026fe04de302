//! QUERY: namespaces, topics and the caller's permissions — only what the
//! session may see.

use std::collections::{BTreeMap, BTreeSet};

use pulsemq_shared::names::shown;
use pulsemq_shared::payloads::{NamespaceInfo, PermissionInfo, QUERY_OK};
use pulsemq_shared::ErrorCode;
use serde_json::Value;

use super::{Engine, Request};
use crate::perms::{Role, UserType};

impl Engine {
    pub(super) fn on_query(&mut self, req: &Request) {
        let Some(key) = self.session_of(req) else { return };
        let Some(user) = self.sessions.get(key).map(|s| s.user.clone()) else { return };
        let body: Value = match serde_json::from_slice(req.frames.payload) {
            Ok(v @ Value::Object(_)) => v,
            _ => {
                return self.reply_error(
                    req,
                    ErrorCode::QueryError,
                    "malformed QUERY payload: expected {\"type\": \"namespaces\" | \"topics\" | \"permission\"}",
                )
            }
        };
        let data = match body.get("type").and_then(Value::as_str) {
            Some("namespaces") => {
                let names: BTreeSet<&str> = self
                    .perms
                    .namespaces
                    .keys()
                    .map(String::as_str)
                    .chain(self.topics.namespaces.keys().map(|k| &**k))
                    .collect();
                let list: Vec<NamespaceInfo> = names
                    .into_iter()
                    .filter(|ns| user.may(ns, Role::Sub))
                    .map(|ns| {
                        let topics = self.topics.topics_of(ns);
                        NamespaceInfo { name: ns.to_owned(), topic_count: topics.len(), topics }
                    })
                    .collect();
                serde_json::to_value(list)
            }
            Some("topics") => {
                let Some(ns) = body.get("namespace").and_then(Value::as_str) else {
                    return self.reply_error(req, ErrorCode::QueryError, "topics query needs \"namespace\"");
                };
                if !user.may(ns, Role::Sub) {
                    self.totals.perm_denied += 1;
                    let msg =
                        format!("permission denied: '{}' has no role in namespace '{}'", user.username, shown(ns));
                    return self.reply_error(req, ErrorCode::PermissionDenied, &msg);
                }
                serde_json::to_value(self.topics.topics_of(ns))
            }
            Some("permission") => {
                let namespaces: BTreeMap<String, String> = if user.user_type == UserType::MqNormal {
                    user.roles.iter().map(|(ns, r)| (ns.clone(), r.as_str().to_ascii_uppercase())).collect()
                } else {
                    BTreeMap::new()
                };
                serde_json::to_value(PermissionInfo { user_type: user.user_type.as_str().to_owned(), namespaces })
            }
            Some(other) => {
                let msg = format!("unknown query type '{}': use namespaces, topics or permission", shown(other));
                return self.reply_error(req, ErrorCode::QueryError, &msg);
            }
            None => return self.reply_error(req, ErrorCode::QueryError, "QUERY payload needs a \"type\""),
        };
        match data {
            Ok(d) => {
                let sep = if req.frames.header.version == pulsemq_shared::header::LEGACY_VERSION { ": " } else { ":" };
                let extra = format!("\"data\"{sep}{d}");
                self.reply_ack(req, QUERY_OK, Some(&extra));
            }
            Err(e) => self.reply_error(req, ErrorCode::Internal, &format!("cannot encode the reply: {e}")),
        }
    }
}
