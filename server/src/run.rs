//! Start-up, the running broker, and clean shutdown.
//!
//! Order matters: the ports are bound first (a taken port fails before any
//! file is created), then the database is opened and migrated, the
//! first-start admin is created, the permission snapshot and known topics
//! are loaded — all before the banner is printed, so a banner always
//! means "ready", and a taken port or a broken database ends start-up with
//! one line and a non-zero exit code.

use std::sync::{mpsc, Arc};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{error, info, warn};

use crate::admin::{self, AdminServer};
use crate::bootstrap::{self, AdminCredentials};
use crate::config::{Cli, Config};
use crate::control::{Control, EngineHandle, StoreEvent};
use crate::engine::sockets::EngineSockets;
use crate::engine::stats::StatsSnapshot;
use crate::engine::{self, EngineConfig, EngineParts};
use crate::error::{Error, Result};
use crate::store::{self, Store};

/// Capacity of the engine → writer event queue. The engine never waits on
/// it; beyond this many pending events they are counted as dropped.
const EVENT_QUEUE: usize = 65_536;

/// Per-second statistics updates the mirror may lag behind by; beyond,
/// the engine sends every topic once instead of waiting.
const STATS_QUEUE: usize = 8;

/// A running broker.
pub struct Broker {
    pub config: Config,
    pub pub_port: u16,
    pub sub_port: u16,
    /// Port the admin API actually listens on (differs from the config when it was 0).
    pub admin_port: u16,
    pub store: Store,
    pub engine: EngineHandle,
    pub stats: watch::Receiver<StatsSnapshot>,
    /// Set on the very first start only.
    pub admin_credentials: Option<AdminCredentials>,
    admin: Option<AdminServer>,
    engine_thread: Option<std::thread::JoinHandle<()>>,
    writer: JoinHandle<()>,
    jobs: Vec<JoinHandle<()>>,
}

/// Starts everything; returns once the broker serves.
pub async fn start(config: Config) -> Result<Broker> {
    let s = &config.server;
    // Bound before the ZeroMQ ports so a taken admin port fails start-up
    // before the engine thread exists.
    let admin_listener = admin::bind(&s.host, s.admin_port).await?;
    let sockets = EngineSockets::bind(&s.host, s.pub_port, s.sub_port, config.broker.hwm)?;
    let db_path = config.storage.db_path.clone();
    let store = Store::open(&db_path).await?;
    let admin_credentials = bootstrap::ensure_admin(&store, &db_path).await?;
    if let Some(c) = &admin_credentials {
        info!("created the first administrator '{}'; credentials written to {}", c.username, c.path.display());
    }
    // The admin API signs logins with it; creating it now means the first
    // login never races another for it.
    store::settings::get_or_create_jwt_secret(&store).await?;
    let snapshot = Arc::new(store::perms::load_snapshot(&store).await?);
    let known_topics = store::topics::list_all_names(&store).await?;
    info!(
        "permissions loaded: {} users, {} namespaces, {} topics",
        snapshot.users_by_id.len(),
        snapshot.namespaces.len(),
        known_topics.len()
    );

    let (pub_port, sub_port) = (sockets.pub_port, sockets.sub_port);
    let (ctl_tx, ctl_rx) = mpsc::channel();
    let handle = EngineHandle::new(&sockets.ctx, ctl_tx)?;
    let (ev_tx, ev_rx) = tokio::sync::mpsc::channel::<StoreEvent>(EVENT_QUEUE);
    let writer = store::writer::spawn_writer(store.clone(), ev_rx);
    // The engine sends per-second updates with only the topics that
    // changed; the mirror turns them into whole snapshots for the readers.
    let (stats_tx, updates) = tokio::sync::mpsc::channel(STATS_QUEUE);
    let (snapshots, stats_rx) = watch::channel(StatsSnapshot::default());
    let mirror = crate::engine::stats::spawn_mirror(updates, snapshots);
    let engine_thread = engine::spawn(EngineParts {
        sockets,
        config: EngineConfig::from_config(&config),
        perms: snapshot,
        known_topics,
        control: ctl_rx,
        events: ev_tx,
        stats: stats_tx,
    })?;

    let jobs = vec![
        mirror,
        spawn_permission_refresh(store.clone(), handle.clone(), Duration::from_secs(config.limits.cache_refresh_sec)),
        spawn_stats_cleanup(store.clone(), &config),
        crate::rollup::spawn(store.clone(), handle.clone(), stats_rx.clone()),
    ];
    let admin = AdminServer::start(admin_listener, store.clone(), handle.clone(), stats_rx.clone(), &config).await?;
    let admin_port = admin.addr.port();
    Ok(Broker {
        config,
        pub_port,
        sub_port,
        admin_port,
        store,
        engine: handle,
        stats: stats_rx,
        admin_credentials,
        admin: Some(admin),
        engine_thread: Some(engine_thread),
        writer,
        jobs,
    })
}

/// Safety-net reload: catches changes made to the database behind the
/// broker's back. Admin changes call [`Broker::reload_permissions`] at once.
fn spawn_permission_refresh(store: Store, engine: EngineHandle, every: Duration) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.tick().await;
        loop {
            tick.tick().await;
            match reload(&store, &engine).await {
                Ok(()) => info!("permission snapshot refreshed"),
                Err(e) => warn!("permission refresh failed (keeping the previous snapshot): {e}"),
            }
        }
    })
}

async fn reload(store: &Store, engine: &EngineHandle) -> Result<()> {
    let snap = Arc::new(store::perms::load_snapshot(store).await?);
    engine.request(|tx| Control::SetPermissions(snap, Some(tx))).await
}

/// Deletes statistics older than `monitoring.stats_retention_*` days (and
/// audit rows and alarms past their retention) every
/// `monitoring.cleanup_interval_sec`.
fn spawn_stats_cleanup(store: Store, config: &Config) -> JoinHandle<()> {
    let m = config.monitoring.clone();
    let alarm_days = config.alarms.retention_days;
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(m.cleanup_interval_sec));
        loop {
            tick.tick().await;
            let now = store::timestamp::now_unix();
            let (minute_cut, hour_cut) = store::stats::retention_cutoffs(
                now,
                m.stats_retention_minutes.min(u32::MAX as u64) as u32,
                m.stats_retention_hours.min(u32::MAX as u64) as u32,
            );
            if let Err(e) = store::stats::delete_older_than(&store, minute_cut, hour_cut).await {
                warn!("statistics clean-up failed: {e}");
            }
            if m.audit_retention_days > 0 {
                let cutoff = now - (m.audit_retention_days * 86_400) as i64;
                match store::audit::delete_older_than(&store, cutoff).await {
                    Ok(0) => {}
                    Ok(n) => info!("audit clean-up: {n} entries older than {} days deleted", m.audit_retention_days),
                    Err(e) => warn!("audit clean-up failed: {e}"),
                }
            }
            if alarm_days > 0 {
                let cutoff_ms = (now - (alarm_days * 86_400) as i64) * 1000;
                if let Err(e) = store::alarms::delete_older_than(&store, cutoff_ms).await {
                    warn!("alarm history clean-up failed: {e}");
                }
            }
        }
    })
}

impl Broker {
    /// Rebuilds the permission snapshot from the database and waits until
    /// the engine applies it. Call after every change to users, roles or
    /// namespaces: it is what makes a revoke take effect immediately.
    pub async fn reload_permissions(&self) -> Result<()> {
        reload(&self.store, &self.engine).await
    }

    /// The start-up banner with the ports actually bound.
    pub fn banner(&self) -> String {
        let host = &self.config.server.host;
        let line = "=".repeat(50);
        let mut b = format!(
            "\n{line}\n  PulseMQ Broker v{}\n  Command  : tcp://{host}:{}\n  Delivery : tcp://{host}:{}\n  Database : {}\n",
            crate::VERSION,
            self.pub_port,
            self.sub_port,
            self.config.storage.db_path.display()
        );
        b.push_str(&format!(
            "  Admin    : http://{host}:{}\n  Health   : http://{host}:{}/health\n",
            self.admin_port, self.admin_port
        ));
        if let Some(c) = &self.admin_credentials {
            b.push_str(&format!("  Admin credentials written to {} (mode 0600)\n", c.path.display()));
        }
        b.push_str(&format!("{line}\n"));
        b
    }

    /// Stops accepting, stops the engine, flushes the writer, closes the database.
    pub async fn shutdown(mut self) -> Result<()> {
        if let Some(a) = self.admin.take() {
            a.stop().await;
        }
        for j in &self.jobs {
            j.abort();
        }
        let _ = self.engine.send(Control::Shutdown);
        if let Some(t) = self.engine_thread.take() {
            tokio::task::spawn_blocking(move || t.join())
                .await
                .map_err(|e| Error::Other(format!("engine join: {e}")))?
                .map_err(|_| Error::Other("the engine thread panicked".into()))?;
        }
        // The engine owned the only event sender: the writer now drains
        // what is queued and returns.
        if let Err(e) = (&mut self.writer).await {
            error!("storage writer ended abnormally: {e}");
        }
        self.store.close().await;
        info!("broker stopped");
        Ok(())
    }
}

/// What `pulsemq` does: load the config, start, print the banner, run until
/// SIGINT or SIGTERM, shut down cleanly.
pub fn main_with(cli: Cli) -> Result<()> {
    let config = Config::load(&cli)?;
    let _log_guard = crate::logging::init(&config.logging)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .thread_name("pulsemq-async")
        .build()
        .map_err(|e| Error::io("cannot start the async runtime", e))?;
    rt.block_on(async move {
        let broker = start(config).await?;
        println!("{}", broker.banner());
        wait_for_signal().await?;
        info!("shutdown requested");
        broker.shutdown().await
    })
}

async fn wait_for_signal() -> Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).map_err(|e| Error::io("cannot install the SIGTERM handler", e))?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r.map_err(|e| Error::io("cannot install the SIGINT handler", e)),
        _ = term.recv() => Ok(()),
    }
}
