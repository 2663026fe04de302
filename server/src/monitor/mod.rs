//! Operator monitoring beyond the dashboard: every session and active
//! topic sampled over the last minutes ([`recent`]), the slow consumers,
//! and alarms with a history ([`alarms`], stored by [`crate::store::alarms`]).
//!
//! One task samples every `monitoring.sample_interval_sec`: it asks the
//! engine for its session list (the same request as `/api/connections`) and
//! reads the statistics snapshot the engine already publishes, so the
//! engine thread spends one session walk per interval on it, nothing per
//! message.

pub mod alarms;
pub mod recent;

use std::collections::HashMap;
use std::sync::{Arc, RwLock, RwLockReadGuard};
use std::time::Duration;

use pulsemq_shared::dto::{AlarmThresholds, ConnectionDetail, SlowConsumer, TopicSample};
use tokio::sync::watch;
use tracing::{info, warn};

use crate::config::Config;
use crate::control::{Control, EngineHandle};
use crate::engine::stats::StatsSnapshot;
use crate::store::{self, Store};
use alarms::{Active, Transition};
use recent::Recent;

struct State {
    recent: Recent,
    active: HashMap<&'static str, Active>,
}

/// The sampler's results, shared with the admin API; cheap to clone.
#[derive(Clone)]
pub struct Monitor {
    state: Arc<RwLock<State>>,
    pub thresholds: AlarmThresholds,
    pub interval_sec: u64,
}

impl Monitor {
    fn read(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|p| p.into_inner())
    }

    /// A session's samples and last known figures, while it is live or
    /// ended less than the window ago.
    pub fn connection(&self, session: &str) -> Option<ConnectionDetail> {
        let st = self.read();
        st.recent.sessions.get(session).map(|t| ConnectionDetail {
            connection: t.last.clone(),
            online: t.online,
            samples: t.samples.iter().cloned().collect(),
            interval_sec: self.interval_sec,
        })
    }

    /// A topic's samples, oldest first (empty when it was quiet all window).
    pub fn topic(&self, namespace: &str, topic: &str) -> Vec<TopicSample> {
        let st = self.read();
        st.recent
            .topics
            .get(&(Arc::from(namespace), Arc::from(topic)))
            .map(|t| t.samples.iter().cloned().collect())
            .unwrap_or_default()
    }

    pub fn slow_consumers(&self) -> Vec<SlowConsumer> {
        let t = &self.thresholds;
        self.read().recent.slow_consumers(t.window_sec as i64 * 1000, t.slow_consumer_bytes)
    }

    /// Alarms up now (for `/metrics`).
    pub fn active_count(&self) -> usize {
        self.read().active.len()
    }
}

/// Starts sampling; the task ends when the engine stops answering.
pub fn spawn(store: Store, engine: EngineHandle, stats: watch::Receiver<StatsSnapshot>, config: &Config) -> Monitor {
    let m = &config.monitoring;
    let a = &config.alarms;
    let monitor = Monitor {
        state: Arc::new(RwLock::new(State {
            recent: Recent::new(m.sample_interval_sec, m.recent_minutes),
            active: HashMap::new(),
        })),
        thresholds: AlarmThresholds {
            window_sec: a.window_sec,
            drops: a.drops,
            connection_limit_hits: a.connection_limit_hits,
            auth_failures: a.auth_failures,
            slow_consumer_bytes: a.slow_consumer_bytes,
        },
        interval_sec: m.sample_interval_sec,
    };
    let out = monitor.clone();
    tokio::spawn(async move {
        match store::alarms::close_open(&store, pulsemq_shared::header::now_ms()).await {
            Ok(0) => {}
            Ok(n) => info!("{n} alarm(s) left active by the previous run closed"),
            Err(e) => warn!("cannot close the previous run's alarms: {e}"),
        }
        let mut tick = tokio::time::interval(Duration::from_secs(monitor.interval_sec));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let Ok(conns) = engine.request(Control::Connections).await else { return };
            let snap = stats.borrow().clone();
            let transitions = {
                let mut st = monitor.state.write().unwrap_or_else(|p| p.into_inner());
                st.recent.sample(pulsemq_shared::header::now_ms(), &snap, conns);
                alarms::step(&st.active, &alarms::readings(&st.recent, &monitor.thresholds))
            };
            for t in transitions {
                apply(&store, &monitor, t).await;
            }
        }
    });
    out
}

/// Writes one transition and updates the active set. A database error is
/// logged and the alarm still tracked in memory (shown by `/metrics`), so
/// a full disk cannot make alarms flap.
async fn apply(store: &Store, monitor: &Monitor, t: Transition) {
    let now = pulsemq_shared::header::now_ms();
    let set = |kind: &'static str, a: Option<Active>| {
        let mut st = monitor.state.write().unwrap_or_else(|p| p.into_inner());
        match a {
            Some(a) => st.active.insert(kind, a),
            None => st.active.remove(kind),
        };
    };
    match t {
        Transition::Raise(r) => {
            warn!(alarm = r.kind, "alarm raised: {}", r.detail);
            let id = store::alarms::insert(store, r.kind, &r.detail, r.value, r.threshold as f64, now)
                .await
                .unwrap_or_else(|e| {
                    warn!(alarm = r.kind, "cannot record the alarm: {e}");
                    0
                });
            set(r.kind, Some(Active { id, peak: r.value }));
        }
        Transition::Peak { id, reading: r } => {
            if let Err(e) = store::alarms::update_peak(store, id, &r.detail, r.value).await {
                warn!(alarm = r.kind, "cannot update the alarm: {e}");
            }
            set(r.kind, Some(Active { id, peak: r.value }));
        }
        Transition::Clear { id, kind } => {
            info!(alarm = kind, "alarm cleared");
            if let Err(e) = store::alarms::clear(store, id, now).await {
                warn!(alarm = kind, "cannot record that the alarm cleared: {e}");
            }
            set(kind, None);
        }
    }
}
