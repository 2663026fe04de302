//! Who may do what on the admin API, and how a console login ends
//! (issue 21 §11–13), against the real broker over HTTP.

use std::time::{Duration, Instant};

use pulsemq_e2e::admin_env::Env;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// `GET /api/me` with a bearer token.
async fn me(env: &Env, jwt: &str) -> StatusCode {
    env.call(Method::GET, "/api/me", Some(jwt), None).await.status
}

/// The `name=value` part of the answer's `Set-Cookie`.
fn cookie_of(headers: &reqwest::header::HeaderMap) -> String {
    headers["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned()
}

async fn me_by_cookie(env: &Env, cookie: &str) -> StatusCode {
    env.raw(env.http.get(format!("{}/api/me", env.base)).header("cookie", cookie)).await.status
}

/// Before: logout revocations lived in memory and ended one token only;
/// a restart brought the logged-out token back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_ends_every_login_of_the_account_also_after_a_restart() {
    let env = Env::start().await;
    let (first, second) = (env.login().await, env.login().await);
    let stream =
        env.http.get(format!("{}/api/stats/stream", env.base)).bearer_auth(&second).send().await.expect("SSE request");
    assert_eq!(stream.status(), StatusCode::OK);

    assert_eq!(env.call(Method::POST, "/logout", Some(&first), None).await.status, StatusCode::OK);
    assert_eq!(me(&env, &first).await, StatusCode::UNAUTHORIZED);
    assert_eq!(me(&env, &second).await, StatusCode::UNAUTHORIZED, "the other login of the account ends too");
    // An open event stream of the ended login closes at its next re-check (5 s).
    let started = Instant::now();
    let mut stream = stream;
    let ended =
        tokio::time::timeout(Duration::from_secs(15), async { while let Ok(Some(_)) = stream.chunk().await {} }).await;
    assert!(ended.is_ok(), "the stream of a logged-out token still runs after 15 s");
    assert!(started.elapsed() < Duration::from_secs(12));

    let fresh = env.login().await;
    assert_eq!(me(&env, &fresh).await, StatusCode::OK, "a login after the logout works");
    let env = env.restart().await;
    assert_eq!(me(&env, &first).await, StatusCode::UNAUTHORIZED, "revocation survives a restart");
    assert_eq!(me(&env, &second).await, StatusCode::UNAUTHORIZED);
    assert_eq!(me(&env, &fresh).await, StatusCode::OK, "the later login survives the restart");
    env.stop().await;
}

/// Before: a changed password left every earlier token of the account valid.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_change_voids_every_other_login() {
    let env = Env::start().await;
    let old = env.admin_password();
    let r = env.call(Method::POST, "/login", None, Some(json!({"username": "admin", "password": old}))).await;
    let browser = cookie_of(&r.headers);
    let script = env.login().await;
    assert_eq!(me_by_cookie(&env, &browser).await, StatusCode::OK);

    let change = json!({"old_password": old, "new_password": "a-new-password-42"});
    let r = env.call(Method::PUT, "/api/me/password", Some(&script), Some(change)).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let renewed = cookie_of(&r.headers);
    assert_ne!(renewed, browser);

    assert_eq!(me(&env, &script).await, StatusCode::UNAUTHORIZED, "the token that changed it");
    assert_eq!(me_by_cookie(&env, &browser).await, StatusCode::UNAUTHORIZED, "another browser's login");
    assert_eq!(me_by_cookie(&env, &renewed).await, StatusCode::OK, "the cookie of the answer goes on");
    let r = env.call(Method::POST, "/login", None, Some(json!({"username": "admin", "password": old}))).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let fresh = env.login_as("admin", "a-new-password-42").await;
    assert_eq!(me(&env, &fresh).await, StatusCode::OK);
    env.stop().await;
}

/// The login cookie carries `Secure` when the request came over HTTPS, here
/// through a TLS-terminating proxy, and not on plain HTTP (the browser
/// would drop a `Secure` cookie there and nobody could log in).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_login_cookie_is_secure_behind_an_https_proxy() {
    let env = Env::start().await;
    let body = json!({"username": "admin", "password": env.admin_password()});
    let login = |header: Option<(&'static str, &'static str)>| {
        let mut req = env.http.post(format!("{}/login", env.base)).json(&body);
        if let Some((k, v)) = header {
            req = req.header(k, v);
        }
        env.raw(req)
    };
    let plain = login(None).await;
    let set = plain.headers["set-cookie"].to_str().unwrap().to_owned();
    assert!(!set.contains("Secure"), "{set}");
    for header in [("x-forwarded-proto", "https"), ("forwarded", "for=10.0.0.1;proto=https")] {
        let r = login(Some(header)).await;
        assert_eq!(r.status, StatusCode::OK);
        let set = r.headers["set-cookie"].to_str().unwrap();
        assert!(set.contains("; Secure"), "{header:?}: {set}");
        assert!(set.contains("HttpOnly") && set.contains("SameSite=Strict"), "{set}");
    }
    env.stop().await;
}

/// A path with its parameters blanked and its query dropped, to match a
/// row's template against the OpenAPI document's paths.
fn route_shape(path: &str) -> Vec<&str> {
    let path = path.split('?').next().unwrap_or(path);
    path.split('/').map(|s| if s.starts_with('{') { "{}" } else { s }).collect()
}

/// Who acts in a row of the role table.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Actor {
    Anonymous,
    SuperAdmin,
    AdminOnly,
}

/// What each row acts on, created fresh for the row by the super_admin so
/// that one row's change (a delete, a demotion) cannot decide another's.
struct Fixture {
    ns: i64,
    ns_name: String,
    /// A namespace with no topic or grant (one with them cannot be deleted: 409).
    empty: i64,
    /// `mq_normal`, granted `sub` on `ns`.
    normal: i64,
    /// `mq_normal` without any grant.
    other: i64,
    mq_super: i64,
    /// An `admin_only` account other than the acting one (bcrypt: only on demand).
    console: Option<i64>,
    topic: i64,
}

struct Row {
    method: Method,
    /// With `{ns}`, `{empty}`, `{normal}`, `{other}`, `{super}`, `{console}`, `{topic}`.
    path: &'static str,
    body: Option<Value>,
    super_admin: u16,
    admin_only: u16,
}

fn row(method: Method, path: &'static str, body: Option<Value>, super_admin: u16, admin_only: u16) -> Row {
    Row { method, path, body, super_admin, admin_only }
}

async fn created_id(env: &Env, jwt: &str, path: &str, body: Value) -> i64 {
    let r = env.call(Method::POST, path, Some(jwt), Some(body)).await;
    assert!(r.status.is_success(), "{path}: {} {:?}", r.status, r.body);
    r.body["id"].as_i64().or_else(|| r.body["permission"]["id"].as_i64()).unwrap()
}

async fn fixture(env: &Env, root: &str, n: usize, with_console: bool) -> Fixture {
    let ns_name = format!("ns{n}");
    let ns = created_id(env, root, "/api/namespaces", json!({"name": ns_name})).await;
    let empty = created_id(env, root, "/api/namespaces", json!({"name": format!("empty{n}")})).await;
    let user = |kind: &str| json!({"username": format!("{kind}{n}"), "user_type": kind});
    let normal = created_id(env, root, "/api/users", user("mq_normal")).await;
    let other =
        created_id(env, root, "/api/users", json!({"username": format!("o{n}"), "user_type": "mq_normal"})).await;
    let mq_super = created_id(env, root, "/api/users", user("mq_super")).await;
    let grant = json!({"user_id": normal, "role": "sub"});
    created_id(env, root, &format!("/api/namespaces/{ns}/permissions"), grant).await;
    let console = if with_console {
        let body = json!({"username": format!("c{n}"), "user_type": "admin_only", "password": "console-pw-1"});
        Some(created_id(env, root, "/api/users", body).await)
    } else {
        None
    };
    let topic = pulsemq::store::topics::ensure(&env.store, ns, &format!("t{n}.kline.1m"), "test").await.unwrap();
    Fixture { ns, ns_name, empty, normal, other, mq_super, console, topic }
}

fn fill(template: &str, f: &Fixture, n: usize) -> String {
    template
        .replace("{ns}", &f.ns.to_string())
        .replace("{ns_name}", &f.ns_name)
        .replace("{empty}", &f.empty.to_string())
        .replace("{normal}", &f.normal.to_string())
        .replace("{other}", &f.other.to_string())
        .replace("{super}", &f.mq_super.to_string())
        .replace("{console}", &f.console.map(|c| c.to_string()).unwrap_or_default())
        .replace("{topic}", &f.topic.to_string())
        .replace("{n}", &n.to_string())
        // A well-formed session id that nobody holds.
        .replace("{session}", "00000000000000000000000000000000")
}

fn fill_json(v: &Value, f: &Fixture, n: usize) -> Value {
    match v {
        Value::String(s) if s.starts_with('{') && s.ends_with('}') && !s.contains(' ') => {
            let filled = fill(s, f, n);
            filled.parse::<i64>().map(Value::from).unwrap_or(Value::String(filled))
        }
        Value::String(s) => Value::String(fill(s, f, n)),
        Value::Object(m) => Value::Object(m.iter().map(|(k, v)| (k.clone(), fill_json(v, f, n))).collect()),
        other => other.clone(),
    }
}

/// The whole admin route table for anonymous callers, a `super_admin` and an
/// `admin_only` operator. Every route the OpenAPI document lists must have a
/// row, so a new route cannot skip this table. MQ accounts cannot log in to
/// the console at all, checked first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn role_by_route_table() {
    let env = Env::start().await;
    let root = env.login().await;
    let body = json!({"username": "ops", "user_type": "admin_only", "password": "ops-password-1"});
    created_id(&env, &root, "/api/users", body).await;
    let ops = env.login_as("ops", "ops-password-1").await;

    // MQ accounts have no password; their MQ token is no console credential.
    let r = env
        .call(Method::POST, "/api/users", Some(&root), Some(json!({"username": "q", "user_type": "mq_super"})))
        .await;
    let mq_token = r.body["token"].as_str().unwrap().to_owned();
    let r = env.call(Method::POST, "/login", None, Some(json!({"username": "q", "password": mq_token}))).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{:?}", r.body);
    assert_eq!(me(&env, &mq_token).await, StatusCode::UNAUTHORIZED);

    use Method as M;
    let pw = |t: &str| json!({"username": "new{n}", "user_type": t, "password": "new-password-1"});
    let rows = vec![
        row(M::GET, "/api/me", None, 200, 200),
        row(
            M::PUT,
            "/api/me/password",
            Some(json!({"old_password": "wrong-old-pw", "new_password": "whatever-42"})),
            401,
            401,
        ),
        row(M::GET, "/api/namespaces", None, 200, 200),
        row(M::POST, "/api/namespaces", Some(json!({"name": "fresh{n}"})), 201, 201),
        row(M::GET, "/api/namespaces/{ns}", None, 200, 200),
        row(M::PUT, "/api/namespaces/{ns}", Some(json!({"description": "d"})), 200, 200),
        row(M::DELETE, "/api/namespaces/{empty}", None, 200, 200),
        row(M::GET, "/api/namespaces/{ns}/permissions", None, 200, 200),
        row(M::POST, "/api/namespaces/{ns}/permissions", Some(json!({"user_id": "{other}", "role": "pub"})), 200, 200),
        row(M::PUT, "/api/namespaces/{ns}/permissions/{normal}", Some(json!({"role": "pub"})), 200, 200),
        row(M::DELETE, "/api/namespaces/{ns}/permissions/{normal}", None, 200, 200),
        row(M::GET, "/api/users", None, 200, 200),
        row(M::POST, "/api/users", Some(json!({"username": "new{n}", "user_type": "mq_normal"})), 201, 201),
        row(M::POST, "/api/users", Some(json!({"username": "new{n}", "user_type": "mq_super"})), 201, 403),
        row(M::POST, "/api/users", Some(pw("admin_only")), 201, 403),
        row(M::POST, "/api/users", Some(pw("super_admin")), 201, 403),
        row(M::GET, "/api/users/{normal}", None, 200, 200),
        row(M::PUT, "/api/users/{normal}", Some(json!({"is_active": false})), 200, 200),
        row(M::PUT, "/api/users/{normal}", Some(json!({"user_type": "mq_super"})), 200, 403),
        row(M::PUT, "/api/users/{normal}", Some(json!({"user_type": "admin_only"})), 200, 403),
        row(M::PUT, "/api/users/{super}", Some(json!({"is_active": false})), 200, 403),
        row(M::PUT, "/api/users/{super}", Some(json!({"user_type": "mq_normal"})), 200, 403),
        row(M::PUT, "/api/users/{console}", Some(json!({"is_active": false})), 200, 403),
        row(M::PUT, "/api/users/{console}", Some(json!({"user_type": "mq_normal"})), 200, 403),
        row(M::DELETE, "/api/users/{normal}", None, 200, 200),
        row(M::DELETE, "/api/users/{super}", None, 200, 403),
        row(M::DELETE, "/api/users/{console}", None, 200, 403),
        row(M::POST, "/api/users/{normal}/reset-token", None, 200, 200),
        row(M::POST, "/api/users/{super}/reset-token", None, 200, 403),
        row(M::POST, "/api/users/{console}/reset-token", None, 400, 400),
        row(M::GET, "/api/users/{normal}/permissions", None, 200, 200),
        row(M::GET, "/api/topics", None, 200, 200),
        row(M::GET, "/api/topics/{topic}", None, 200, 200),
        row(M::DELETE, "/api/topics/{topic}", None, 200, 200),
        // Published in the account's own name: admin_only has no MQ rights.
        row(
            M::POST,
            "/api/publish",
            Some(json!({"namespace": "{ns_name}", "topic": "t", "format": "string", "payload": "x"})),
            201,
            403,
        ),
        row(M::GET, "/api/browse/stream?namespace={ns_name}&pattern=>", None, 200, 403),
        row(M::GET, "/api/connections", None, 200, 200),
        row(M::POST, "/api/connections/disconnect-user", Some(json!({"user_id": "{super}"})), 200, 200),
        row(M::GET, "/api/stats/system", None, 200, 200),
        row(M::GET, "/api/stats/topics", None, 200, 200),
        row(M::GET, "/api/stats/history", None, 200, 200),
        row(M::GET, "/api/stats/topics/history?namespace={ns_name}", None, 200, 200),
        row(M::GET, "/api/stats/stream", None, 200, 200),
        // Read-only monitoring, for every console account; the unknown
        // session and topic answer 404 once the caller is let in.
        row(M::GET, "/api/monitor/connections/{session}", None, 404, 404),
        row(M::GET, "/api/monitor/topic?namespace={ns_name}&topic=none", None, 404, 404),
        row(M::GET, "/api/monitor/slow-consumers", None, 200, 200),
        row(M::GET, "/api/alarms", None, 200, 200),
        row(M::GET, "/api/audit-logs", None, 200, 200),
    ];
    // Public by design, the same answer for everyone: the document is
    // generated from the public source and holds no data.
    let public = [(M::GET, "/api/openapi.json", 200), (M::GET, "/health", 200), (M::GET, "/metrics", 200)];

    let mut failures = Vec::new();
    let mut n = 0;
    for r in &rows {
        for actor in [Actor::Anonymous, Actor::SuperAdmin, Actor::AdminOnly] {
            n += 1;
            let f = fixture(&env, &root, n, r.path.contains("{console}")).await;
            let path = fill(r.path, &f, n);
            let mut req = env.http.request(r.method.clone(), format!("{}{path}", env.base));
            req = match actor {
                Actor::Anonymous => req,
                Actor::SuperAdmin => req.bearer_auth(&root),
                Actor::AdminOnly => req.bearer_auth(&ops),
            };
            if let Some(b) = &r.body {
                req = req.json(&fill_json(b, &f, n));
            }
            // Only the status: the stream route never ends its body.
            let got = req.send().await.expect("HTTP request").status().as_u16();
            let want = match actor {
                Actor::Anonymous => 401,
                Actor::SuperAdmin => r.super_admin,
                Actor::AdminOnly => r.admin_only,
            };
            if got != want {
                failures.push(format!("{actor:?} {} {path}: {got}, want {want}", r.method));
            }
        }
    }
    for (method, path, want) in &public {
        for jwt in [None, Some(root.as_str()), Some(ops.as_str())] {
            let got = env.call(method.clone(), path, jwt, None).await.status.as_u16();
            if got != *want {
                failures.push(format!("{jwt:?} {method} {path}: {got}, want {want}"));
            }
        }
    }
    assert!(failures.is_empty(), "role table:\n{}", failures.join("\n"));
    // The admin_only actor still works after all its refusals.
    assert_eq!(me(&env, &ops).await, StatusCode::OK);

    // Every documented route has a row.
    let doc = env.call(M::GET, "/api/openapi.json", None, None).await.body;
    let covered = |method: &str, path: &str| {
        rows.iter().any(|r| r.method.as_str().eq_ignore_ascii_case(method) && route_shape(r.path) == route_shape(path))
            || public.iter().any(|(m, p, _)| m.as_str().eq_ignore_ascii_case(method) && *p == path)
            || matches!(path, "/login" | "/logout")
    };
    let mut missing = Vec::new();
    for (path, ops) in doc["paths"].as_object().expect("paths") {
        for method in ops.as_object().unwrap().keys() {
            if !covered(method, path) {
                missing.push(format!("{method} {path}"));
            }
        }
    }
    assert!(missing.is_empty(), "routes without a row in the role table: {missing:?}");
    env.stop().await;
}

/// Before: every refused login wrote a row with the whole username (up to
/// the body limit), without end. Now one address adds at most 10 failure
/// rows a minute, names are cut, and the log is trimmed to
/// `monitoring.audit_retention_days` (90 by default; the clean-up runs at
/// start-up and then every `cleanup_interval_sec`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failure_rows_are_capped_cut_and_expire() {
    let env = Env::start().await;
    let long = "u".repeat(60_000);
    let mut answers = Vec::new();
    for _ in 0..40 {
        let r =
            env.call(Method::POST, "/login", None, Some(json!({"username": long, "password": "wrong-password"}))).await;
        answers.push(r.status.as_u16());
        let r = env.call(Method::GET, "/api/namespaces", Some("not-a-jwt"), None).await;
        answers.push(r.status.as_u16());
    }
    assert!(answers.iter().all(|s| [401, 429].contains(s)), "{answers:?}");
    let filter = pulsemq::store::audit::AuditFilter { op_type: Some("auth_failure".into()), ..Default::default() };
    let rows = pulsemq::store::audit::query(&env.store, &filter).await.unwrap();
    assert_eq!(rows.len(), 10, "80 failures from one address, 10 rows a minute");
    assert!(rows.iter().all(|r| r.target.len() < 100), "{:?}", rows[0].target);

    // A successful login still works and is audited as usual.
    let jwt = env.login().await;
    assert_eq!(me(&env, &jwt).await, StatusCode::OK);

    // Rows older than the retention go at the next start; recent ones stay.
    sqlx::query(
        "INSERT INTO audit_log (op_type, target_type, operator, target, created_at) \
         VALUES ('grant', 'namespace_permission', 'admin', 'ancient', '2001-01-01 00:00:00')",
    )
    .execute(env.store.pool())
    .await
    .unwrap();
    let env = env.restart().await;
    let all = pulsemq::store::audit::AuditFilter::default();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let rows = pulsemq::store::audit::query(&env.store, &all).await.unwrap();
        if !rows.iter().any(|r| r.target == "ancient") {
            assert!(rows.iter().filter(|r| r.op_type == "auth_failure").count() >= 10, "recent rows are kept");
            break;
        }
        assert!(Instant::now() < deadline, "the 2001 row is still there 10 s after start-up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    env.stop().await;
}

/// Issue 21 §5. Before: any publisher could create topics without end, each
/// with a database row, a cached last value and a line in every statistics
/// snapshot. A namespace now holds at most `limits.max_topics_per_namespace`
/// topics (100 000) unless the admin API gives it its own `max_topics`; a
/// publish that would create one more gets ERROR 13, and existing topics
/// keep working.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_namespace_holds_at_most_its_topic_limit() {
    use pulsemq_client::{ClientError, Format};
    let env = Env::start().await;
    let root = env.login().await;
    let bad =
        env.call(Method::POST, "/api/namespaces", Some(&root), Some(json!({"name": "md", "max_topics": -1}))).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{:?}", bad.body);
    let r = env.call(Method::POST, "/api/namespaces", Some(&root), Some(json!({"name": "md", "max_topics": 2}))).await;
    assert_eq!((r.status, r.body["max_topics"].as_i64()), (StatusCode::CREATED, Some(2)), "{:?}", r.body);
    let ns = r.body["id"].as_i64().unwrap();
    let r = env.call(Method::POST, "/api/users", Some(&root), Some(json!({"username": "feed"}))).await;
    let (feed, token) = (r.body["id"].as_i64().unwrap(), r.body["token"].as_str().unwrap().to_owned());
    let grant = json!({"user_id": feed, "role": "pub"});
    assert!(env
        .call(Method::POST, &format!("/api/namespaces/{ns}/permissions"), Some(&root), Some(grant))
        .await
        .status
        .is_success());

    let c = env.client("feed", &token).await;
    c.publish("md", "a", Format::String, "1").await.expect("first topic");
    c.publish("md", "b", Format::String, "1").await.expect("second topic");
    match c.publish("md", "c", Format::String, "1").await {
        Err(ClientError::TopicLimit(msg)) => assert!(msg.contains("limit of 2 topics"), "{msg}"),
        other => panic!("a third topic must be refused with ERROR 13, got {other:?}"),
    }
    c.publish("md", "a", Format::String, "2").await.expect("an existing topic still takes publishes");

    // Raising the namespace's limit takes effect at once; 0 returns to the default.
    let r = env.call(Method::PUT, &format!("/api/namespaces/{ns}"), Some(&root), Some(json!({"max_topics": 3}))).await;
    assert_eq!(r.body["max_topics"].as_i64(), Some(3), "{:?}", r.body);
    c.publish("md", "c", Format::String, "1").await.expect("room after raising the limit");
    let r = env.call(Method::PUT, &format!("/api/namespaces/{ns}"), Some(&root), Some(json!({"max_topics": 0}))).await;
    assert!(r.body["max_topics"].is_null(), "{:?}", r.body);
    c.publish("md", "d", Format::String, "1").await.expect("the broker's default of 100 000 applies again");
    // Counted in /metrics (the snapshot is refreshed every second).
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let metrics = env.call(Method::GET, "/metrics", None, None).await.body;
        if metrics.as_str().unwrap().contains("pulsemq_topic_limit_hits_total 1\n") {
            break;
        }
        assert!(Instant::now() < deadline, "{metrics}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    c.close().await;
    env.stop().await;
}
