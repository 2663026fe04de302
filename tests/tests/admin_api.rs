//! The admin REST API over real HTTP against a running broker (issue 4 §9).
//!
//! The broker is the `pulsemq` executable on ephemeral ports with a
//! temporary database; the test reads that database (WAL allows a second
//! reader) only where it must see what the broker stored.

use std::time::{Duration, Instant};

use pulsemq_client::{Client, ClientOptions, Format};
use pulsemq_e2e::admin_env::Env;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

fn has_audit(entries: &Value, op: &str) -> bool {
    entries.as_array().unwrap().iter().any(|e| e["op_type"] == op)
}

/// The seed README's curl sequence (section 7), step by step.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_readme_curl_sequence() {
    let env = Env::start().await;
    let jwt = env.login().await;
    let t = Some(jwt.as_str());

    let r = env.call(Method::GET, "/api/namespaces", t, None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.is_array());

    let r = env
        .call(Method::POST, "/api/namespaces", t, Some(json!({"name": "trade_signal", "description": "交易信号"})))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let ns_id = r.body["id"].as_i64().unwrap();
    assert_eq!(r.body["name"], "trade_signal");

    let r = env
        .call(Method::POST, "/api/users", t, Some(json!({"username": "signal_bot", "user_type": "mq_normal"})))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let user_id = r.body["id"].as_i64().unwrap();
    let token = r.body["token"].as_str().unwrap();
    assert_eq!(token.len(), 32);
    assert!(token.bytes().all(|b| b.is_ascii_hexdigit()));

    let r = env
        .call(
            Method::POST,
            &format!("/api/namespaces/{ns_id}/permissions"),
            t,
            Some(json!({"user_id": user_id, "role": "pub"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["status"], "granted");
    assert_eq!(r.body["permission"]["role"], "pub");

    let r = env.call(Method::GET, "/api/connections", t, None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.is_array());

    let r = env.call(Method::GET, "/api/stats/system", t, None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body["system"]["auth_total"].is_u64(), "{:?}", r.body);

    let r = env.call(Method::GET, "/health", None, None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["status"], "ok");
    assert_eq!(r.body["version"], pulsemq::VERSION);
    assert!(r.body["uptime_seconds"].is_u64() && r.body["connections"].is_u64() && r.body["msg_rate"].is_number());

    let r = env.call(Method::GET, "/api/audit-logs?limit=20", t, None).await;
    assert_eq!(r.status, StatusCode::OK);
    for op in ["login", "create_namespace", "create_user", "grant"] {
        assert!(has_audit(&r.body, op), "{op} not audited: {:?}", r.body);
    }
    let total: i64 = r.headers["x-total-count"].to_str().unwrap().parse().unwrap();
    assert!(total >= 4);
    let grant = r.body.as_array().unwrap().iter().find(|e| e["op_type"] == "grant").unwrap();
    assert_eq!((grant["namespace"].as_str(), grant["target"].as_str()), (Some("trade_signal"), Some("signal_bot")));

    // Filters and pagination.
    let r = env.call(Method::GET, "/api/audit-logs?op_type=grant&namespace=trade_signal", t, None).await;
    assert_eq!(r.body.as_array().unwrap().len(), 1);
    let r = env.call(Method::GET, "/api/audit-logs?limit=1&offset=1", t, None).await;
    assert_eq!(r.body.as_array().unwrap().len(), 1);

    // The new user authenticates at once with the returned token.
    let c = env.client("signal_bot", token).await;
    c.publish("trade_signal", "sig.buy", Format::String, "x").await.expect("granted pub role works");
    c.close().await;

    let r = env.call(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = env.call(Method::GET, "/api/openapi.json", None, None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body["paths"]["/api/users/{id}/reset-token"].is_object());
    env.stop().await;
}

fn forge(secret: &[u8], claims: Value) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_expired_and_stale_tokens_are_refused() {
    let env = Env::start().await;
    let now = pulsemq::store::timestamp::now_unix();
    let claims = |id: i64, name: &str, exp: i64| json!({"user_id": id, "username": name, "user_type": "super_admin", "iat": now, "exp": exp, "jti": "x", "gen": 0});
    // The original's hard-coded default secret, and any other key.
    for secret in [&b"pulsemq-secret-key-change-in-production-32bytes!"[..], b"another-key-another-key-another!!"] {
        let forged = forge(secret, claims(1, "admin", now + 3600));
        let r = env.call(Method::GET, "/api/namespaces", Some(&forged), None).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{:?}", r.body);
        assert!(r.body["error"].is_string());
    }
    // Expired, signed with the real secret.
    let secret = pulsemq::store::settings::get_or_create_jwt_secret(&env.store).await.unwrap();
    let expired = forge(secret.as_bytes(), claims(1, "admin", now - 3600));
    assert_eq!(env.call(Method::GET, "/api/namespaces", Some(&expired), None).await.status, StatusCode::UNAUTHORIZED);
    // Right secret, a user that does not exist.
    let ghost = forge(secret.as_bytes(), claims(99, "ghost", now + 3600));
    assert_eq!(env.call(Method::GET, "/api/namespaces", Some(&ghost), None).await.status, StatusCode::UNAUTHORIZED);
    // alg "none".
    let none = format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{}.", "eyJ1c2VyX2lkIjoxfQ");
    assert_eq!(env.call(Method::GET, "/api/namespaces", Some(&none), None).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(env.call(Method::GET, "/api/namespaces", None, None).await.status, StatusCode::UNAUTHORIZED);

    // A deactivated console user loses access immediately.
    let jwt = env.login().await;
    let r = env
        .call(
            Method::POST,
            "/api/users",
            Some(&jwt),
            Some(json!({"username": "ops", "user_type": "admin_only", "password": "ops-password-1"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert!(r.body.get("token").is_none(), "admin_only gets no MQ token");
    let ops_id = r.body["id"].as_i64().unwrap();
    let r =
        env.call(Method::POST, "/login", None, Some(json!({"username": "ops", "password": "ops-password-1"}))).await;
    let ops_jwt = r.body["token"].as_str().unwrap().to_owned();
    assert_eq!(env.call(Method::GET, "/api/me", Some(&ops_jwt), None).await.body["username"], "ops");
    // admin_only may not create console accounts.
    let r = env
        .call(
            Method::POST,
            "/api/users",
            Some(&ops_jwt),
            Some(json!({"username": "x", "user_type": "super_admin", "password": "12345678"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = env.call(Method::PUT, &format!("/api/users/{ops_id}"), Some(&jwt), Some(json!({"is_active": false}))).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(env.call(Method::GET, "/api/me", Some(&ops_jwt), None).await.status, StatusCode::UNAUTHORIZED);

    // Logout ends the token.
    let r = env.call(Method::POST, "/logout", Some(&jwt), None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.headers["set-cookie"].to_str().unwrap().contains("Max-Age=0"));
    assert_eq!(env.call(Method::GET, "/api/me", Some(&jwt), None).await.status, StatusCode::UNAUTHORIZED);

    let jwt = env.login().await;
    let r = env.call(Method::GET, "/api/audit-logs?op_type=auth_failure", Some(&jwt), None).await;
    assert!(r.body.as_array().unwrap().len() >= 3, "{:?}", r.body);
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_is_throttled_and_audited() {
    let env = Env::start().await;
    let wrong = json!({"username": "admin", "password": "wrong-password"});
    for _ in 0..5 {
        let r = env.call(Method::POST, "/login", None, Some(wrong.clone())).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    }
    // Now even the right password is refused for a while.
    let right = json!({"username": "admin", "password": env.admin_password()});
    let r = env.call(Method::POST, "/login", None, Some(right)).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{:?}", r.body);
    assert!(r.headers.contains_key("retry-after"));
    // An unknown user gets the same answer as a wrong password.
    let r = env.call(Method::POST, "/login", None, Some(json!({"username": "nobody", "password": "x"}))).await;
    assert_eq!((r.status, r.body["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("invalid username or password")));
    let rows = pulsemq::store::audit::query(
        &env.store,
        &pulsemq::store::audit::AuditFilter { op_type: Some("auth_failure".into()), ..Default::default() },
    )
    .await
    .unwrap();
    assert!(rows.len() >= 7, "{rows:?}");
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_and_unknown_ids_are_4xx_json() {
    let env = Env::start().await;
    let jwt = env.login().await;
    let url = |p: &str| format!("{}{p}", env.base);
    let cases: Vec<(reqwest::RequestBuilder, StatusCode)> = vec![
        (
            env.http.post(url("/login")).header("content-type", "application/json").body("{not json"),
            StatusCode::BAD_REQUEST,
        ),
        (env.http.post(url("/login")).body("username=admin"), StatusCode::BAD_REQUEST),
        (env.http.post(url("/login")).json(&json!({"username": 1, "password": []})), StatusCode::BAD_REQUEST),
        (
            env.http.post(url("/api/namespaces")).bearer_auth(&jwt).json(&json!({"name": "bad name!"})),
            StatusCode::BAD_REQUEST,
        ),
        (
            env.http.post(url("/api/namespaces")).bearer_auth(&jwt).json(&json!({"name": "system"})),
            StatusCode::BAD_REQUEST,
        ),
        (env.http.post(url("/api/namespaces")).bearer_auth(&jwt).json(&json!({"name": 5})), StatusCode::BAD_REQUEST),
        (env.http.get(url("/api/namespaces/abc")).bearer_auth(&jwt), StatusCode::BAD_REQUEST),
        (env.http.get(url("/api/namespaces/999")).bearer_auth(&jwt), StatusCode::NOT_FOUND),
        (env.http.delete(url("/api/namespaces/999")).bearer_auth(&jwt), StatusCode::NOT_FOUND),
        (
            env.http.put(url("/api/namespaces/999")).bearer_auth(&jwt).json(&json!({"description": "d"})),
            StatusCode::NOT_FOUND,
        ),
        (env.http.get(url("/api/topics/1.5")).bearer_auth(&jwt), StatusCode::BAD_REQUEST),
        (env.http.delete(url("/api/topics/999")).bearer_auth(&jwt), StatusCode::NOT_FOUND),
        (
            env.http.put(url("/api/users/999")).bearer_auth(&jwt).json(&json!({"is_active": true})),
            StatusCode::NOT_FOUND,
        ),
        (
            env.http.put(url("/api/users/1")).bearer_auth(&jwt).json(&json!({"password_hash": "x"})),
            StatusCode::BAD_REQUEST,
        ),
        (
            env.http.put(url("/api/users/1")).bearer_auth(&jwt).json(&json!({"is_active": "yes"})),
            StatusCode::BAD_REQUEST,
        ),
        (env.http.delete(url("/api/users/999")).bearer_auth(&jwt), StatusCode::NOT_FOUND),
        (env.http.post(url("/api/users/999/reset-token")).bearer_auth(&jwt), StatusCode::NOT_FOUND),
        (
            env.http.post(url("/api/users")).bearer_auth(&jwt).json(&json!({"username": "u", "user_type": "godmode"})),
            StatusCode::BAD_REQUEST,
        ),
        (env.http.post(url("/api/users")).bearer_auth(&jwt).json(&json!({"username": "a b"})), StatusCode::BAD_REQUEST),
        (
            env.http
                .post(url("/api/users"))
                .bearer_auth(&jwt)
                .json(&json!({"username": "adm2", "user_type": "admin_only"})),
            StatusCode::BAD_REQUEST,
        ),
        (env.http.post(url("/api/users")).bearer_auth(&jwt).json(&json!({"username": "admin"})), StatusCode::CONFLICT),
        (
            env.http.post(url("/api/namespaces/999/permissions")).bearer_auth(&jwt).json(&json!({"user_id": 1})),
            StatusCode::NOT_FOUND,
        ),
        (
            env.http.post(url("/api/connections/disconnect-user")).bearer_auth(&jwt).json(&json!({"user_id": "x"})),
            StatusCode::BAD_REQUEST,
        ),
        (
            env.http.post(url("/api/connections/disconnect-user")).bearer_auth(&jwt).json(&json!({"user_id": 999})),
            StatusCode::NOT_FOUND,
        ),
        (env.http.get(url("/api/audit-logs?limit=abc")).bearer_auth(&jwt), StatusCode::BAD_REQUEST),
        (env.http.get(url("/api/audit-logs?limit=-1")).bearer_auth(&jwt), StatusCode::BAD_REQUEST),
        (env.http.get(url("/api/stats/history?minutes=0")).bearer_auth(&jwt), StatusCode::BAD_REQUEST),
        (env.http.get(url("/api/no-such-route")).bearer_auth(&jwt), StatusCode::NOT_FOUND),
        (env.http.delete(url("/api/users/1")).bearer_auth(&jwt), StatusCode::CONFLICT),
    ];
    for (i, (req, want)) in cases.into_iter().enumerate() {
        let r = env.raw(req).await;
        assert_eq!(r.status, want, "case {i}: {:?}", r.body);
        assert!(r.body["error"].is_string(), "case {i}: not a JSON error: {:?}", r.body);
    }

    // Roles are validated; a duplicate grant is a conflict; change and revoke work.
    let t = Some(jwt.as_str());
    let ns =
        env.call(Method::POST, "/api/namespaces", t, Some(json!({"name": "md"}))).await.body["id"].as_i64().unwrap();
    let u =
        env.call(Method::POST, "/api/users", t, Some(json!({"username": "bob"}))).await.body["id"].as_i64().unwrap();
    let perms = format!("/api/namespaces/{ns}/permissions");
    assert_eq!(
        env.call(Method::POST, &perms, t, Some(json!({"user_id": u, "role": "godmode"}))).await.status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(env.call(Method::POST, &perms, t, Some(json!({"user_id": u}))).await.status, StatusCode::OK);
    assert_eq!(env.call(Method::POST, &perms, t, Some(json!({"user_id": u}))).await.status, StatusCode::CONFLICT);
    let r = env.call(Method::PUT, &format!("{perms}/{u}"), t, Some(json!({"role": "admin"}))).await;
    assert_eq!((r.status, r.body["permission"]["role"].as_str()), (StatusCode::OK, Some("admin")));
    let r = env.call(Method::GET, &format!("/api/users/{u}/permissions"), t, None).await;
    assert_eq!(r.body[0]["namespace"], "md");
    assert_eq!(env.call(Method::DELETE, &format!("{perms}/{u}"), t, None).await.status, StatusCode::OK);
    assert_eq!(env.call(Method::DELETE, &format!("{perms}/{u}"), t, None).await.status, StatusCode::NOT_FOUND);
    let r =
        env.call(Method::PUT, &format!("/api/namespaces/{ns}"), t, Some(json!({"description": "market data"}))).await;
    assert_eq!(r.body["description"], "market data");
    assert_eq!(env.call(Method::DELETE, &format!("/api/namespaces/{ns}"), t, None).await.status, StatusCode::OK);
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cookie_auth_needs_the_csrf_header_for_changes() {
    let env = Env::start().await;
    let r = env
        .call(Method::POST, "/login", None, Some(json!({"username": "admin", "password": env.admin_password()})))
        .await;
    let set_cookie = r.headers["set-cookie"].to_str().unwrap().to_owned();
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(set_cookie.contains(attr), "{set_cookie}");
    }
    let cookie = set_cookie.split(';').next().unwrap().to_owned();
    let url = format!("{}/api/namespaces", env.base);
    let get = env.raw(env.http.get(&url).header("cookie", &cookie)).await;
    assert_eq!(get.status, StatusCode::OK);
    let post = env.raw(env.http.post(&url).header("cookie", &cookie).json(&json!({"name": "n1"}))).await;
    assert_eq!(post.status, StatusCode::FORBIDDEN, "{:?}", post.body);
    let post = env
        .raw(
            env.http
                .post(&url)
                .header("cookie", &cookie)
                .header("x-requested-with", "XMLHttpRequest")
                .json(&json!({"name": "n1"})),
        )
        .await;
    assert_eq!(post.status, StatusCode::CREATED, "{:?}", post.body);
    env.stop().await;
}

/// Reads an SSE response for `window`, counting `stats` events and keeping their data.
async fn read_sse(mut resp: reqwest::Response, window: Duration) -> Vec<Value> {
    let deadline = Instant::now() + window;
    let mut buf = String::new();
    while let Ok(Ok(Some(chunk))) = tokio::time::timeout_at(deadline.into(), resp.chunk()).await {
        buf.push_str(&String::from_utf8_lossy(&chunk));
    }
    buf.split("\n\n")
        .filter(|ev| ev.lines().any(|l| l == "event: stats"))
        .filter_map(|ev| ev.lines().find_map(|l| l.strip_prefix("data: ")).and_then(|d| serde_json::from_str(d).ok()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_streams_a_snapshot_per_second_while_counters_move() {
    let env = Env::start().await;
    let jwt = env.login().await;
    let t = Some(jwt.as_str());
    let r = env.call(Method::POST, "/api/users", t, Some(json!({"username": "feed", "user_type": "mq_super"}))).await;
    let token = r.body["token"].as_str().unwrap().to_owned();
    let publisher = env.client("feed", &token).await;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop2 = stop.clone();
    let pump = tokio::spawn(async move {
        while !stop2.load(std::sync::atomic::Ordering::Relaxed) {
            let _ = publisher.publish("ticks", "a.trade", Format::String, "1").await;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        publisher.close().await;
    });

    // With the login cookie, as EventSource does it.
    let r = env
        .call(Method::POST, "/login", None, Some(json!({"username": "admin", "password": env.admin_password()})))
        .await;
    let cookie = r.headers["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    let resp = env.http.get(format!("{}/api/stats/stream", env.base)).header("cookie", cookie).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
    let events = read_sse(resp, Duration::from_millis(3200)).await;
    assert!(events.len() >= 3, "{} events", events.len());
    let counts: Vec<u64> = events.iter().map(|e| e["totals"]["msgs_in"].as_u64().unwrap()).collect();
    assert!(counts.last() > counts.first(), "counters did not move: {counts:?}");

    let unauth = env.http.get(format!("{}/api/stats/stream", env.base)).send().await.unwrap();
    assert_eq!(unauth.status(), StatusCode::UNAUTHORIZED);

    // Topic stats and Prometheus text see the same traffic.
    let r = env.call(Method::GET, "/api/stats/topics", t, None).await;
    let topic = r.body.as_array().unwrap().iter().find(|x| x["topic"] == "a.trade").cloned().unwrap();
    assert!(topic["msgs"].as_u64().unwrap() > 0 && topic["last_publish_ms"].as_i64().unwrap() > 0, "{topic:?}");
    let metrics = env.http.get(format!("{}/metrics", env.base)).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("# TYPE pulsemq_messages_in_total counter"));
    assert!(metrics.contains("pulsemq_replies_dropped_total 0"), "{metrics}");
    let h = env.call(Method::GET, "/health", None, None).await;
    assert!(h.body["connections"].as_u64().unwrap() >= 1);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    pump.await.unwrap();
    env.stop().await;
}

/// The whole flow: grant → publish/subscribe → revoke → the subscriber stops
/// within 1 s; then topics, namespace deletion and disconnect-user.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoke_stops_a_subscriber_within_a_second() {
    let env = Env::start().await;
    let jwt = env.login().await;
    let t = Some(jwt.as_str());
    let ns = env.call(Method::POST, "/api/namespaces", t, Some(json!({"name": "market_data"}))).await.body["id"]
        .as_i64()
        .unwrap();
    let mk = |name: &'static str| {
        let env = &env;
        async move {
            let r = env
                .call(Method::POST, "/api/users", t, Some(json!({"username": name, "user_type": "mq_normal"})))
                .await;
            (r.body["id"].as_i64().unwrap(), r.body["token"].as_str().unwrap().to_owned())
        }
    };
    let (pub_id, pub_token) = mk("publisher_01").await;
    let (sub_id, sub_token) = mk("subscriber_01").await;
    let perms = format!("/api/namespaces/{ns}/permissions");
    assert_eq!(
        env.call(Method::POST, &perms, t, Some(json!({"user_id": pub_id, "role": "pub"}))).await.status,
        StatusCode::OK
    );
    assert_eq!(
        env.call(Method::POST, &perms, t, Some(json!({"user_id": sub_id, "role": "sub"}))).await.status,
        StatusCode::OK
    );

    let publisher = env.client("publisher_01", &pub_token).await;
    let subscriber = env.client("subscriber_01", &sub_token).await;
    let mut sub = subscriber.subscribe("market_data", "sz000651.>").await.unwrap();
    publisher.publish("market_data", "sz000651.kline.1m", Format::String, "before").await.unwrap();
    let m = tokio::time::timeout(Duration::from_secs(3), sub.next()).await.expect("delivery").unwrap();
    assert_eq!(m.as_str(), Some("before"));

    // The connection is visible, without any routing id.
    let r = env.call(Method::GET, &format!("/api/connections?user_id={sub_id}"), t, None).await;
    let conn = &r.body[0];
    assert_eq!(conn["username"], "subscriber_01");
    assert!(conn["subscriptions"].as_array().unwrap().iter().any(|s| s == "market_data:sz000651.>"));
    assert!(conn.get("routing_id").is_none());

    let r = env.call(Method::DELETE, &format!("{perms}/{sub_id}"), t, None).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let revoked_at = Instant::now();
    while sub.try_next().is_some() {}
    // Keep publishing for 1 s: nothing may arrive.
    while revoked_at.elapsed() < Duration::from_secs(1) {
        publisher.publish("market_data", "sz000651.kline.1m", Format::String, "after").await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let late = tokio::time::timeout(Duration::from_millis(300), sub.next()).await;
    assert!(!matches!(late, Ok(Some(ref m)) if m.as_str() == Some("after")), "revoked subscriber still receives");

    // Topics: listed, refused namespace deletion, deleted.
    tokio::time::sleep(Duration::from_millis(500)).await; // writer batches the topic registration
    let r = env.call(Method::GET, "/api/topics?namespace=market_data", t, None).await;
    let topic_id = r.body[0]["id"].as_i64().expect("topic registered");
    assert_eq!(r.body[0]["name"], "sz000651.kline.1m");
    let r = env.call(Method::DELETE, &format!("/api/namespaces/{ns}"), t, None).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert!(r.body["error"].as_str().unwrap().contains("topic"), "{:?}", r.body);
    assert_eq!(env.call(Method::DELETE, &format!("/api/topics/{topic_id}"), t, None).await.status, StatusCode::OK);
    assert_eq!(env.call(Method::GET, &format!("/api/topics/{topic_id}"), t, None).await.status, StatusCode::NOT_FOUND);

    // disconnect-user ends the publisher's session.
    let r = env.call(Method::POST, "/api/connections/disconnect-user", t, Some(json!({"user_id": pub_id}))).await;
    assert_eq!((r.status, r.body["sessions"].as_u64()), (StatusCode::OK, Some(1)));
    let r = env.call(Method::GET, &format!("/api/connections?user_id={pub_id}"), t, None).await;
    assert_eq!(r.body.as_array().unwrap().len(), 0);

    // reset-token: the old token stops working.
    let r = env.call(Method::POST, &format!("/api/users/{sub_id}/reset-token"), t, None).await;
    let new_token = r.body["token"].as_str().unwrap().to_owned();
    assert_ne!(new_token, sub_token);
    let old = Client::connect(
        ClientOptions::new("127.0.0.1", env.broker.pub_port, env.broker.sub_port, "subscriber_01", sub_token.clone())
            .reconnect(false),
    )
    .await;
    assert!(old.is_err());
    let r = env.call(Method::GET, "/api/audit-logs?op_type=revoke", t, None).await;
    assert_eq!(r.body[0]["target"], "subscriber_01");
    publisher.close().await;
    subscriber.close().await;
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_taken_admin_port_fails_start_up_with_one_line() {
    let env = Env::start().await;
    let dir = tempfile::tempdir().unwrap();
    let port = env.broker.admin_port.to_string();
    let db = dir.path().join("other.db");
    let out = std::process::Command::new(pulsemq_e2e::broker_bin())
        .args(["--host", "127.0.0.1", "--pub-port", "0", "--sub-port", "0", "--admin-port", &port])
        .arg("--db-path")
        .arg(&db)
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_ne!(out.status.code(), Some(0));
    let msg = String::from_utf8_lossy(&out.stderr).trim().to_owned();
    assert!(msg.contains("admin API") && msg.contains(&port) && msg.lines().count() == 1, "{msg}");
    assert!(!db.exists(), "nothing created");
    assert!(env.broker.banner.iter().any(|l| l.contains(&format!("Admin    : http://127.0.0.1:{port}"))));
    env.stop().await;
}

/// Wrong passwords sent in parallel cannot all be tried: each attempt is
/// counted before the (slow) bcrypt check, so at most the free failures are
/// checked and the rest get 429 at once (issue 21).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_guesses_are_throttled_like_sequential_ones() {
    let env = Env::start().await;
    let wrong = json!({"username": "admin", "password": "wrong-password"});
    let tries = (0..20).map(|_| env.call(Method::POST, "/login", None, Some(wrong.clone())));
    let statuses: Vec<StatusCode> = futures_util::future::join_all(tries).await.into_iter().map(|r| r.status).collect();
    let checked = statuses.iter().filter(|s| **s == StatusCode::UNAUTHORIZED).count();
    let refused = statuses.iter().filter(|s| **s == StatusCode::TOO_MANY_REQUESTS).count();
    assert_eq!(checked + refused, 20, "{statuses:?}");
    assert!(
        checked <= pulsemq::admin::throttle::FREE_FAILURES as usize,
        "{checked} guesses were checked: {statuses:?}"
    );
    env.stop().await;
}
