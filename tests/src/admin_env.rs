//! A running broker plus an HTTP client for its admin API, shared by the
//! admin test files (`admin_api.rs`, `admin_security.rs`).
//!
//! The broker is the `pulsemq` executable on ephemeral ports with a
//! temporary database; the test reads that database (WAL allows a second
//! reader) only where it must see what the broker stored.

use std::time::Duration;

use pulsemq::store::Store;
use pulsemq_client::{Client, ClientOptions};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::{BinaryBroker, TestConfig};

pub struct Env {
    pub broker: BinaryBroker,
    /// The broker's own database, opened read-mostly beside it.
    pub store: Store,
    pub base: String,
    pub http: reqwest::Client,
    /// Every response body seen, scanned for hashes at the end of each test.
    pub bodies: std::sync::Mutex<Vec<String>>,
}

pub struct Resp {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Env {
    pub async fn start() -> Env {
        Env::start_with(TestConfig::default()).await
    }

    pub async fn start_with(cfg: TestConfig) -> Env {
        let broker = tokio::task::spawn_blocking(move || BinaryBroker::start(&cfg)).await.unwrap();
        let store = Store::open(&broker.db_path()).await.expect("open the broker's database");
        let base = broker.admin_url();
        Env { broker, store, base, http: reqwest::Client::new(), bodies: Default::default() }
    }

    pub fn admin_password(&self) -> String {
        self.broker.admin.password.clone()
    }

    pub async fn raw(&self, req: reqwest::RequestBuilder) -> Resp {
        let r = req.send().await.expect("HTTP request");
        let status = r.status();
        let headers = r.headers().clone();
        let text = r.text().await.unwrap();
        self.bodies.lock().unwrap().push(text.clone());
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Resp { status, headers, body }
    }

    pub async fn call(&self, method: Method, path: &str, jwt: Option<&str>, body: Option<Value>) -> Resp {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = jwt {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        self.raw(req).await
    }

    pub async fn login(&self) -> String {
        self.login_as("admin", &self.admin_password()).await
    }

    /// Logs in as a console account and returns its JWT.
    pub async fn login_as(&self, username: &str, password: &str) -> String {
        let r =
            self.call(Method::POST, "/login", None, Some(json!({"username": username, "password": password}))).await;
        assert_eq!(r.status, StatusCode::OK, "login as {username}: {:?}", r.body);
        r.body["token"].as_str().unwrap().to_owned()
    }

    /// Stops the broker with SIGTERM and starts it again on the same
    /// directory and database (new ports).
    pub async fn restart(self) -> Env {
        self.store.close().await;
        let broker = self.broker;
        let broker = tokio::task::spawn_blocking(move || {
            let dir = broker.stop();
            BinaryBroker::start_in(dir, &TestConfig::default())
        })
        .await
        .unwrap();
        let store = Store::open(&broker.db_path()).await.expect("open the broker's database");
        let base = broker.admin_url();
        Env { broker, store, base, http: self.http, bodies: self.bodies }
    }

    pub async fn client(&self, user: &str, token: &str) -> Client {
        // Generous: two cores are shared by parallel tests that each start a broker.
        let opts = ClientOptions::new("127.0.0.1", self.broker.pub_port, self.broker.sub_port, user, token)
            .connect_timeout(Duration::from_secs(30));
        Client::connect(opts).await.expect("client connects")
    }

    /// No response may ever contain a bcrypt hash or a hex SHA-256.
    pub fn assert_no_hashes(&self) {
        for body in self.bodies.lock().unwrap().iter() {
            assert!(
                !body.contains("$2a$") && !body.contains("$2b$") && !body.contains("$2y$"),
                "bcrypt hash in {body}"
            );
            let bytes = body.as_bytes();
            let mut run = 0;
            for b in bytes {
                run = if b.is_ascii_hexdigit() { run + 1 } else { 0 };
                assert!(run < 64, "64-hex string in {body}");
            }
        }
    }

    pub async fn stop(self) {
        self.assert_no_hashes();
        self.store.close().await;
        let mut broker = self.broker;
        let status = tokio::task::spawn_blocking(move || broker.signal_and_wait("TERM")).await.unwrap();
        assert_eq!(status.code(), Some(0), "clean exit after SIGTERM");
    }
}
