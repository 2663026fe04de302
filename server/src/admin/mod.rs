//! The admin HTTP API (axum), served from the broker process on
//! `server.admin_port`.
//!
//! Only this module speaks HTTP. Handlers read and write through
//! [`crate::store`], talk to the engine through [`crate::control`], and after
//! every change that affects permissions push a fresh permission snapshot
//! and wait for the engine to apply it before answering — so when a revoke
//! returns 200, the subscriber has already lost its subscription.
//!
//! Layout: [`error`] (one error type, JSON bodies), [`auth`] (login, JWT,
//! cookie, CSRF rule), [`throttle`] (failed-login back-off), one file per
//! resource, [`sse`] and [`metrics`] for live figures, [`openapi`] for the
//! generated document.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::routing::{get, post, put};
use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::Config;
use crate::control::{Control, EngineHandle};
use crate::engine::stats::StatsSnapshot;
use crate::error::{Error, Result};
use crate::store::{self, audit::NewAudit, Store};

pub mod assets;
pub mod audit;
pub mod auth;
pub mod browse;
pub mod connections;
pub mod error;
pub mod health;
pub mod metrics;
pub mod monitor;
pub mod namespaces;
pub mod openapi;
pub mod permissions;
pub mod publish;
pub mod rates;
pub mod sse;
pub mod stats;
pub mod throttle;
pub mod topics;
pub mod users;

/// Largest request body accepted; every admin request is a small JSON object.
const MAX_BODY: usize = 64 * 1024;

/// What every handler shares; cheap to clone.
#[derive(Clone)]
pub struct AdminState(Arc<Inner>);

pub struct Inner {
    pub store: Store,
    pub engine: EngineHandle,
    pub stats: watch::Receiver<StatsSnapshot>,
    pub rates: rates::TopicRates,
    /// Drill-down samples, slow consumers, alarms.
    pub monitor: crate::monitor::Monitor,
    pub auth: auth::AuthKeys,
    pub throttle: throttle::LoginThrottle,
    /// Flips to `true` at shutdown so SSE streams end and the server can drain.
    pub shutdown: watch::Receiver<bool>,
}

impl std::ops::Deref for AdminState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AdminState {
    /// Builds the state; the JWT secret is `auth.jwt_secret` when configured,
    /// otherwise the installation's random secret kept in the database.
    pub async fn new(
        store: Store,
        engine: EngineHandle,
        stats: watch::Receiver<StatsSnapshot>,
        config: &Config,
        shutdown: watch::Receiver<bool>,
    ) -> Result<Self> {
        let secret = match &config.auth.jwt_secret {
            Some(s) => s.clone(),
            None => store::settings::get_or_create_jwt_secret(&store).await?,
        };
        let rates = rates::TopicRates::spawn(stats.clone());
        let monitor = crate::monitor::spawn(store.clone(), engine.clone(), stats.clone(), config);
        Ok(AdminState(Arc::new(Inner {
            store,
            engine,
            stats,
            rates,
            monitor,
            auth: auth::AuthKeys::new(secret.as_bytes(), config.auth.jwt_expiry),
            throttle: Default::default(),
            shutdown,
        })))
    }

    /// Rebuilds the permission snapshot and waits until the engine applied
    /// it (the same as `Broker::reload_permissions`).
    pub async fn reload_permissions(&self) -> Result<()> {
        let snap = Arc::new(store::perms::load_snapshot(&self.store).await?);
        self.engine.request(|tx| Control::SetPermissions(snap, Some(tx))).await
    }

    /// Writes an audit entry. A failure is logged, not returned: the change
    /// it describes has already happened and must not be reported as failed.
    pub async fn audit(&self, entry: NewAudit<'_>) {
        if let Err(e) = store::audit::insert(&self.store, &entry).await {
            tracing::error!(op = entry.op_type, target = entry.target, "cannot write audit entry: {e}");
        }
    }
}

/// Every route of the admin API.
pub fn router(state: AdminState) -> Router {
    let api = Router::new()
        .route("/me", get(auth::me))
        .route("/me/password", put(auth::change_password))
        .route("/namespaces", get(namespaces::list).post(namespaces::create))
        .route("/namespaces/{id}", get(namespaces::get_one).put(namespaces::update).delete(namespaces::delete))
        .route("/namespaces/{id}/permissions", get(permissions::list_for_namespace).post(permissions::grant))
        .route("/namespaces/{id}/permissions/{user_id}", put(permissions::change_role).delete(permissions::revoke))
        .route("/users", get(users::list).post(users::create))
        .route("/users/{id}", get(users::get_one).put(users::update).delete(users::delete))
        .route("/users/{id}/reset-token", post(users::reset_token))
        .route("/users/{id}/permissions", get(permissions::list_for_user))
        .route("/topics", get(topics::list))
        .route("/topics/{id}", get(topics::get_one).delete(topics::delete))
        .route("/publish", post(publish::publish))
        .route("/browse/stream", get(browse::stream))
        .route("/connections", get(connections::list))
        .route("/connections/disconnect-user", post(connections::disconnect_user))
        .route("/stats/system", get(stats::system))
        .route("/stats/topics", get(stats::topics))
        .route("/stats/history", get(stats::history))
        .route("/stats/topics/history", get(stats::topic_history))
        .route("/stats/stream", get(sse::stream))
        .route("/monitor/connections/{session}", get(monitor::connection))
        .route("/monitor/topic", get(monitor::topic))
        .route("/monitor/slow-consumers", get(monitor::slow_consumers))
        .route("/alarms", get(monitor::list))
        .route("/audit-logs", get(audit::list))
        .route("/openapi.json", get(openapi::document));
    Router::new()
        .route("/health", get(health::health))
        .route("/metrics", get(metrics::metrics))
        .route("/login", post(auth::login))
        .route("/logout", post(auth::logout))
        .nest("/api", api)
        // Everything else: the embedded console (JSON 404 under /api).
        .fallback(assets::serve)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY))
        .with_state(state)
}

async fn method_not_allowed() -> axum::response::Response {
    use axum::response::IntoResponse;
    let body = pulsemq_shared::dto::ErrorBody { error: "method not allowed on this route".into() };
    (axum::http::StatusCode::METHOD_NOT_ALLOWED, axum::Json(body)).into_response()
}

/// Binds the admin listener; a taken port ends start-up with one line.
pub async fn bind(host: &str, port: u16) -> Result<TcpListener> {
    let endpoint = format!("{host}:{port}");
    TcpListener::bind(&endpoint).await.map_err(|source| Error::AdminBind { endpoint, source })
}

/// The running HTTP server.
pub struct AdminServer {
    pub addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl AdminServer {
    /// Serves `listener` until [`AdminServer::stop`].
    pub async fn start(
        listener: TcpListener,
        store: Store,
        engine: EngineHandle,
        stats: watch::Receiver<StatsSnapshot>,
        config: &Config,
    ) -> Result<AdminServer> {
        let addr = listener.local_addr().map_err(|e| Error::io("admin listener address", e))?;
        let (shutdown, shutdown_rx) = watch::channel(false);
        let state = AdminState::new(store, engine, stats, config, shutdown_rx.clone()).await?;
        let app = router(state).into_make_service_with_connect_info::<SocketAddr>();
        let mut stop = shutdown_rx;
        let task = tokio::spawn(async move {
            let signal = async move {
                let _ = stop.wait_for(|s| *s).await;
            };
            if let Err(e) = axum::serve(listener, app).with_graceful_shutdown(signal).await {
                tracing::error!("admin API server failed: {e}");
            }
        });
        Ok(AdminServer { addr, shutdown, task })
    }

    /// Stops accepting, ends SSE streams, and waits (briefly) for requests in flight.
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        let mut task = self.task;
        if tokio::time::timeout(std::time::Duration::from_secs(3), &mut task).await.is_err() {
            tracing::warn!("admin API did not drain within 3 s; aborting it");
            task.abort();
        }
    }
}
