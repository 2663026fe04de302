//! The operator's drill-down, slow consumers and alarms (issue 16 §3),
//! against the real `pulsemq` binary: a subscriber that stops reading in a
//! burst must show up in its connection's charts, in the topic's, in the
//! slow-consumer list and as alarms, and the alarms must clear once the
//! cause is gone and outlive a restart in the history.

use std::time::{Duration, Instant};

use pulsemq_e2e::admin_env::Env;
use pulsemq_e2e::raw6::RawPeer6;
use pulsemq_e2e::TestConfig;
use pulsemq_shared::dto::{AlarmsView, ConnectionDetail, SlowConsumer, TopicDetail};
use pulsemq_shared::header::flags;
use pulsemq_shared::MsgType;
use reqwest::{Method, StatusCode};
use serde_json::json;

const KIB: usize = 1024;

/// Samples every second, alarms over 3 s, small limits: what the defaults
/// do in minutes happens here in seconds. The slow-consumer byte rule
/// (768 KiB) sits between what the reader holds in flight at most (one
/// round, 512 KiB) and what the stalled one holds (its 1 MiB window plus
/// as much parked).
fn config() -> TestConfig {
    TestConfig {
        session_buffer_bytes: 1024 * 1024,
        max_connections_per_user: 3,
        extra_yaml: "monitoring:\n  sample_interval_sec: 1\n  recent_minutes: 2\nalarms:\n  window_sec: 3\n  auth_failures: 3\n  slow_consumer_bytes: 786432\n".into(),
        ..TestConfig::default()
    }
}

async fn get<T: serde::de::DeserializeOwned>(env: &Env, jwt: &str, path: &str) -> T {
    let r = env.call(Method::GET, path, Some(jwt), None).await;
    assert_eq!(r.status, StatusCode::OK, "{path}: {:?}", r.body);
    serde_json::from_value(r.body).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Polls `f` every 250 ms until it returns `Some`, for at most `secs`.
async fn within<T, F: std::future::Future<Output = Option<T>>>(secs: u64, what: &str, mut f: impl FnMut() -> F) -> T {
    let end = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < end, "not within {secs} s: {what}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_subscriber_is_charted_listed_and_alarmed_until_it_goes() {
    let env = Env::start_with(config()).await;
    let root = env.login().await;
    let r = env.call(Method::POST, "/api/namespaces", Some(&root), Some(json!({"name": "md"}))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let (pub_port, sub_port, token) = (env.broker.pub_port, env.broker.sub_port, env.broker.admin.token.clone());

    // Three sessions of one user: the limit (3) is reached.
    let (stalled, reader, publ) = tokio::task::spawn_blocking(move || {
        let (stalled, mut reader, mut publ) = RawPeer6::stalled_reader_publisher(pub_port, sub_port, &token, 1, "md");
        let payload = vec![5u8; 128 * KIB];
        for round in 0..40 {
            for _ in 0..4 {
                let id = publ.next_id();
                publ.send(&RawPeer6::frame(MsgType::Pub, flags::NO_ACK, id, "md", "ob.sz000651", &payload));
            }
            let got = reader.take_deliveries(4, Duration::from_secs(10));
            assert_eq!(got.len(), 4, "round {round}: the reader gets every message");
        }
        (stalled, reader, publ)
    })
    .await
    .unwrap();
    let stalled_id = stalled.session.clone().unwrap();
    let reader_id = reader.session.clone().unwrap();

    // The slow-consumer list names the stalled one only.
    let slow: Vec<SlowConsumer> = within(15, "the stalled subscriber listed", || async {
        let list: Vec<SlowConsumer> = get(&env, &root, "/api/monitor/slow-consumers").await;
        list.iter().any(|c| c.session == stalled_id).then_some(list)
    })
    .await;
    let c = slow.iter().find(|c| c.session == stalled_id).unwrap();
    assert!(c.recent_drops > 0 && c.recent_gaps >= 1 && c.pending_bytes > 0, "{c:?}");
    assert_eq!(c.subscriptions, ["md:>"]);
    assert!(slow.iter().all(|c| c.session != reader_id), "the reader keeps up: {slow:?}");

    // Its drill-down: drops and the gap in the samples, bytes waiting.
    let d: ConnectionDetail = get(&env, &root, &format!("/api/monitor/connections/{stalled_id}")).await;
    assert!(d.online && d.interval_sec == 1, "{d:?}");
    assert!(d.connection.gaps >= 1 && d.connection.drops > 0 && d.connection.pending_bytes > 0, "{:?}", d.connection);
    assert_eq!(d.samples.iter().map(|s| s.drops).sum::<u64>(), d.connection.drops, "every drop is in a sample");
    assert!(d.samples.iter().any(|s| s.pending_bytes > 0));
    assert!(d.connection.last_activity_ms > pulsemq_shared::header::now_ms() - 60_000);
    // The reader's and the publisher's, by rate.
    let d: ConnectionDetail = get(&env, &root, &format!("/api/monitor/connections/{reader_id}")).await;
    assert_eq!((d.connection.msgs_out, d.connection.drops), (160, 0));
    assert!(d.samples.iter().any(|s| s.msg_rate_out > 0.0 && s.byte_rate_out >= 128.0 * 1024.0), "{:?}", d.samples);
    let p: ConnectionDetail =
        get(&env, &root, &format!("/api/monitor/connections/{}", publ.session.clone().unwrap())).await;
    assert!(p.samples.iter().any(|s| s.msg_rate_in > 0.0), "{:?}", p.samples);

    // The topic's: both subscribers by pattern, its rate and drops.
    let t: TopicDetail = get(&env, &root, "/api/monitor/topic?namespace=md&topic=ob.sz000651").await;
    assert_eq!((t.stats.msgs, t.stats.subscribers), (160, 2));
    assert_eq!(t.subscribers.len(), 2);
    assert!(t.subscribers.iter().all(|s| s.patterns == [">"]));
    assert!(t.subscribers.iter().any(|s| s.session == stalled_id && s.drops > 0));
    assert!(t.samples.iter().any(|s| s.msg_rate > 0.0) && t.samples.iter().any(|s| s.drops > 0), "{:?}", t.samples);
    assert!(t.samples.iter().all(|s| s.subscribers == 2));

    // A fourth session hits the connection limit (ERROR 7); three bad
    // tokens make an auth-failure burst (the next would be throttled).
    let token = env.broker.admin.token.clone();
    tokio::task::spawn_blocking(move || {
        let auth = |token: &str| {
            let mut peer = RawPeer6::connect(pub_port, sub_port);
            let r =
                peer.call(MsgType::Auth, "", "", json!({"username": "admin", "token": token}).to_string().as_bytes());
            r.error_code()
        };
        assert_eq!(auth(&token), Some(7), "ERROR 7: connection limit");
        for _ in 0..3 {
            assert_eq!(auth(&"y".repeat(32)), Some(1), "ERROR 1: authentication failed");
        }
    })
    .await
    .unwrap();

    let kinds = ["drops", "slow_consumers", "auth_failures", "connection_limit"];
    let view: AlarmsView = within(15, "all four alarms up", || async {
        let v: AlarmsView = get(&env, &root, "/api/alarms").await;
        kinds.iter().all(|k| v.active.iter().any(|a| a.kind == *k)).then_some(v)
    })
    .await;
    assert_eq!((view.thresholds.window_sec, view.thresholds.auth_failures, view.thresholds.drops), (3, 3, 1));
    let drops = view.active.iter().find(|a| a.kind == "drops").unwrap();
    assert!(drops.detail.contains(&stalled_id), "the alarm names the session: {}", drops.detail);
    assert!(drops.peak >= 1.0 && drops.threshold == 1.0 && drops.cleared_ms.is_none());
    let metrics = env.http.get(format!("{}/metrics", env.base)).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("pulsemq_connection_limit_hits_total 1\n"), "{metrics}");
    assert!(!metrics.contains("pulsemq_alarms_active 0\n"), "alarms are up");

    // The operator ends the stalled session (with the user's others): every
    // alarm clears once a window passed below it, and stays in the history
    // with both times.
    let user_id = c.user_id;
    let r = env
        .call(Method::POST, "/api/connections/disconnect-user", Some(&root), Some(json!({"user_id": user_id})))
        .await;
    assert_eq!((r.status, r.body["sessions"].as_u64()), (StatusCode::OK, Some(3)), "{:?}", r.body);
    drop((stalled, reader, publ));
    let view: AlarmsView = within(20, "every alarm cleared", || async {
        let v: AlarmsView = get(&env, &root, "/api/alarms").await;
        eprintln!("active: {:?}", v.active.iter().map(|a| &a.kind).collect::<Vec<_>>());
        v.active.is_empty().then_some(v)
    })
    .await;
    for k in kinds {
        let a = view.history.iter().find(|a| a.kind == k).unwrap_or_else(|| panic!("{k} in {:?}", view.history));
        assert!(a.cleared_ms.is_some_and(|c| c >= a.raised_ms), "{a:?}");
    }
    // A gone session stays inspectable for the window.
    let d: ConnectionDetail = get(&env, &root, &format!("/api/monitor/connections/{stalled_id}")).await;
    assert!(!d.online);

    // Unknown things and bad limits get clear errors.
    let r = env.call(Method::GET, "/api/monitor/connections/nope", Some(&root), None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{:?}", r.body);
    let r = env.call(Method::GET, "/api/monitor/topic?namespace=md&topic=none", Some(&root), None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{:?}", r.body);
    let r = env.call(Method::GET, "/api/alarms?limit=0", Some(&root), None).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{:?}", r.body);

    // The history outlives a restart.
    let env = env.restart().await;
    let root = env.login().await;
    let after: AlarmsView = get(&env, &root, "/api/alarms").await;
    assert!(after.active.is_empty());
    for k in kinds {
        assert!(after.history.iter().any(|a| a.kind == k), "{k} after a restart");
    }
    env.stop().await;
}
