//! `GET /api/stats/stream`: one `stats` event per engine snapshot (every
//! second), as Server-Sent Events.
//!
//! EventSource cannot send headers, so the console authenticates this route
//! with the HttpOnly cookie (a Bearer header works too, for scripts). The
//! stream re-checks the login every few seconds, so a logout, an expiry or a
//! deactivation also ends a stream that is already open; it ends as well at
//! broker shutdown so the HTTP server can drain.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::stream::{self, Stream};

use super::auth::AdminUser;
use super::AdminState;
use crate::store::timestamp;

/// How often an open stream re-checks that its login is still valid.
const RECHECK: Duration = Duration::from_secs(5);

/// Re-checks an open stream's login every [`RECHECK`]: a logout, an
/// expiry or a deactivation ends a stream that is already open.
pub(super) struct LoginCheck {
    st: AdminState,
    user: AdminUser,
    last_check: tokio::time::Instant,
}

impl LoginCheck {
    pub(super) fn new(st: AdminState, user: AdminUser) -> Self {
        LoginCheck { st, user, last_check: tokio::time::Instant::now() }
    }

    pub(super) async fn still_allowed(&mut self) -> bool {
        if self.last_check.elapsed() < RECHECK {
            return true;
        }
        self.last_check = tokio::time::Instant::now();
        let c = &self.user.claims;
        if c.exp <= timestamp::now_unix() {
            return false;
        }
        matches!(
            super::auth::session_user(&self.st, c.clone()).await,
            Ok(Ok(u)) if u.user_type == self.user.user_type
        )
    }
}

struct Cursor {
    login: LoginCheck,
    stats: tokio::sync::watch::Receiver<crate::engine::stats::StatsSnapshot>,
    shutdown: tokio::sync::watch::Receiver<bool>,
    first: bool,
}

impl Cursor {
    async fn next_event(mut self) -> Option<(Result<Event, Infallible>, Self)> {
        if !self.first {
            tokio::select! {
                changed = self.stats.changed() => changed.ok()?,
                _ = self.shutdown.wait_for(|s| *s) => return None,
            }
            if !self.login.still_allowed().await {
                return None;
            }
        }
        self.first = false;
        let body = super::stats::system_stats(&self.stats.borrow_and_update());
        let event = Event::default()
            .event("stats")
            .json_data(body)
            .unwrap_or_else(|_| Event::default().comment("encode error"));
        Some((Ok(event), self))
    }
}

#[utoipa::path(get, path = "/api/stats/stream", tag = "stats",
    responses((status = 200, description = "text/event-stream; each `stats` event's data is a SystemStats JSON object",
               content_type = "text/event-stream", body = pulsemq_shared::dto::SystemStats),
              (status = 401, body = pulsemq_shared::dto::ErrorBody)))]
pub async fn stream(
    State(st): State<AdminState>,
    user: AdminUser,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let cursor = Cursor {
        stats: st.stats.clone(),
        shutdown: st.shutdown.clone(),
        login: LoginCheck::new(st, user),
        first: true,
    };
    Sse::new(stream::unfold(cursor, Cursor::next_event)).keep_alive(KeepAlive::default())
}
