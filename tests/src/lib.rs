//! Test harness: the real broker on ephemeral ports with a temp database,
//! and a minimal raw protocol peer for frame-level tests.
//!
//! Two ways to run the broker, both the real thing over real TCP:
//! - [`BinaryBroker`] spawns the `pulsemq` executable (black-box: banner,
//!   exit codes, signals, credentials file);
//! - [`InProcBroker`] starts it through the library in this process, which
//!   also gives the test the [`pulsemq::store::Store`] and the engine's
//!   control channel — what the admin API uses to create users and push
//!   permission changes.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use pulsemq::perms::{Role, UserType};
use pulsemq::store::{self, Store};
use pulsemq_shared::{Format, Frames, Header, MsgType};
use serde_json::Value;

pub mod admin_env;
pub mod raw;
pub mod raw6;

/// Broker settings a test may change; everything else is the default,
/// with ports 0, host 127.0.0.1 and files in a temp directory.
#[derive(Debug, Clone)]
pub struct TestConfig {
    pub ping_interval: u64,
    pub ping_timeout: u64,
    pub hwm: i32,
    /// `broker.session_buffer_bytes` (protocol 6).
    pub session_buffer_bytes: u64,
    pub max_connections_per_user: usize,
    pub max_subscriptions_per_conn: usize,
    pub cache_refresh_sec: u64,
    pub max_topics_per_namespace: usize,
    pub max_topics_per_user: usize,
    /// Fixed ports (for restart tests); 0 = ephemeral.
    pub pub_port: u16,
    pub sub_port: u16,
    /// Whole sections appended to the YAML file (`monitoring:`, `alarms:`).
    pub extra_yaml: String,
}

impl Default for TestConfig {
    fn default() -> Self {
        TestConfig {
            ping_interval: 30,
            ping_timeout: 3,
            hwm: 10_000,
            session_buffer_bytes: 64 * 1024 * 1024,
            max_connections_per_user: 10,
            max_subscriptions_per_conn: 500,
            cache_refresh_sec: 300,
            max_topics_per_namespace: 100_000,
            max_topics_per_user: 1_000_000,
            pub_port: 0,
            sub_port: 0,
            extra_yaml: String::new(),
        }
    }
}

impl TestConfig {
    pub fn yaml(&self, dir: &Path) -> String {
        let mut yaml = format!(
            "server:\n  host: 127.0.0.1\n  pub_port: {}\n  sub_port: {}\n  admin_port: 0\nstorage:\n  db_path: {}\nauth:\n  ping_interval: {}\n  ping_timeout: {}\nlimits:\n  max_connections_per_user: {}\n  max_subscriptions_per_conn: {}\n  cache_refresh_sec: {}\n  max_topics_per_namespace: {}\n  max_topics_per_user: {}\nbroker:\n  hwm: {}\n  session_buffer_bytes: {}\nlogging:\n  dir: {}\n  level: info\n",
            self.pub_port,
            self.sub_port,
            dir.join("pulsemq.db").display(),
            self.ping_interval,
            self.ping_timeout,
            self.max_connections_per_user,
            self.max_subscriptions_per_conn,
            self.cache_refresh_sec,
            self.max_topics_per_namespace,
            self.max_topics_per_user,
            self.hwm,
            self.session_buffer_bytes,
            dir.join("logs").display(),
        );
        yaml.push_str(&self.extra_yaml);
        yaml
    }

    fn config(&self, dir: &Path) -> pulsemq::config::Config {
        pulsemq::config::Config::from_yaml(&self.yaml(dir), Path::new("test.yaml")).expect("test config parses")
    }
}

/// Credentials from `.pulsemq_admin`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminFile {
    pub username: String,
    pub password: String,
    pub token: String,
    pub user_type: String,
}

impl AdminFile {
    pub fn read(path: &Path) -> AdminFile {
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
        let get = |k: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(&format!("{k}: ")))
                .unwrap_or_else(|| panic!("no '{k}:' line in {text}"))
                .trim()
                .to_owned()
        };
        AdminFile {
            username: get("username"),
            password: get("password"),
            token: get("token"),
            user_type: get("user_type"),
        }
    }
}

/// Path of the broker executable: `PULSEMQ_BIN`, or the binary the tests
/// crate builds from the broker's own `main.rs`.
pub fn broker_bin() -> PathBuf {
    if let Ok(p) = std::env::var("PULSEMQ_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("current exe");
    // target/<profile>/deps/<test> → target/<profile>/pulsemq-e2e-broker
    exe.parent().and_then(Path::parent).expect("target dir").join("pulsemq-e2e-broker")
}

/// The `pulsemq` executable, started with a YAML config in a temp dir.
pub struct BinaryBroker {
    pub dir: tempfile::TempDir,
    pub child: Option<Child>,
    pub pub_port: u16,
    pub sub_port: u16,
    /// The admin API's port, from the banner's `Admin    : http://…` line.
    pub admin_port: u16,
    pub banner: Vec<String>,
    pub admin: AdminFile,
}

impl BinaryBroker {
    pub fn start(cfg: &TestConfig) -> BinaryBroker {
        let dir = tempfile::tempdir().expect("tempdir");
        Self::start_in(dir, cfg)
    }

    /// Starts (or restarts) in an existing directory (same DB).
    pub fn start_in(dir: tempfile::TempDir, cfg: &TestConfig) -> BinaryBroker {
        let config = dir.path().join("config.yaml");
        std::fs::write(&config, cfg.yaml(dir.path())).unwrap();
        let mut child = Command::new(broker_bin())
            .arg("--config")
            .arg(&config)
            .current_dir(dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn broker");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut banner = Vec::new();
        let (mut pub_port, mut sub_port, mut admin_port) = (0, 0, 0);
        let mut rules = 0;
        while rules < 2 {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = match rx.recv_timeout(left) {
                Ok(l) => l,
                Err(_) => {
                    let _ = child.kill();
                    let out = child.wait_with_output().unwrap();
                    panic!("broker did not print its banner; stderr: {}", String::from_utf8_lossy(&out.stderr));
                }
            };
            if line.starts_with("=====") {
                rules += 1;
            }
            if let Some(p) = port_after(&line, "Command") {
                pub_port = p;
            }
            if let Some(p) = port_after(&line, "Delivery") {
                sub_port = p;
            }
            if let Some(p) = port_after(&line, "Admin ") {
                admin_port = p;
            }
            if rules > 0 {
                banner.push(line);
            }
        }
        // Keep draining stdout so the broker never blocks on a full pipe.
        std::thread::spawn(move || while rx.recv().is_ok() {});
        let admin = AdminFile::read(&dir.path().join(".pulsemq_admin"));
        BinaryBroker { dir, child: Some(child), pub_port, sub_port, admin_port, banner, admin }
    }

    /// `http://127.0.0.1:<admin port>`.
    pub fn admin_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.admin_port)
    }

    /// The broker's database path (for tests that read what it stored).
    pub fn db_path(&self) -> PathBuf {
        self.dir.path().join("pulsemq.db")
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// Sends a signal (`TERM`, `INT`, `KILL`) and waits for the exit.
    pub fn signal_and_wait(&mut self, sig: &str) -> ExitStatus {
        let mut child = self.child.take().expect("running");
        Command::new("kill").arg(format!("-{sig}")).arg(child.id().to_string()).status().unwrap();
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(st) = child.try_wait().unwrap() {
                return st;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("broker did not exit within 15 s of SIG{sig}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops the process and gives back the directory (for a restart).
    pub fn stop(mut self) -> tempfile::TempDir {
        if self.child.is_some() {
            self.signal_and_wait("TERM");
        }
        std::mem::replace(&mut self.dir, tempfile::tempdir().unwrap())
    }
}

impl Drop for BinaryBroker {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn port_after(line: &str, label: &str) -> Option<u16> {
    let rest = line.trim_start().strip_prefix(label)?;
    rest.rsplit(':').next()?.trim().parse().ok()
}

/// The broker started through the library, with its store at hand.
pub struct InProcBroker {
    pub rt: tokio::runtime::Runtime,
    pub broker: Option<pulsemq::run::Broker>,
    pub dir: tempfile::TempDir,
    pub pub_port: u16,
    pub sub_port: u16,
    pub admin: AdminFile,
}

/// A user created for a test.
#[derive(Debug, Clone)]
pub struct TestUser {
    pub id: i64,
    pub username: String,
    pub token: String,
}

impl InProcBroker {
    pub fn start(cfg: &TestConfig) -> InProcBroker {
        let dir = tempfile::tempdir().unwrap();
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let broker = rt.block_on(pulsemq::run::start(cfg.config(dir.path()))).expect("broker starts");
        let admin = AdminFile::read(&dir.path().join(".pulsemq_admin"));
        InProcBroker { pub_port: broker.pub_port, sub_port: broker.sub_port, broker: Some(broker), rt, dir, admin }
    }

    pub fn store(&self) -> &Store {
        &self.broker.as_ref().unwrap().store
    }

    fn block<F: std::future::Future>(&self, f: F) -> F::Output {
        self.rt.block_on(f)
    }

    /// Creates a namespace (as the admin API would).
    pub fn namespace(&self, name: &str) -> i64 {
        let row = self.block(store::namespaces::create(self.store(), name, "test", "admin", None)).unwrap();
        let id = row.new_row().expect("new namespace").id;
        self.reload();
        id
    }

    /// Creates a user with a fresh MQ token.
    pub fn user(&self, name: &str, user_type: UserType) -> TestUser {
        let token = pulsemq::tokens::new_token();
        let hash = pulsemq::tokens::hash_token(&token);
        let new = store::users::NewUser { username: name, user_type, password_hash: None, token_hash: Some(&hash) };
        let row = self.block(store::users::create(self.store(), &new)).unwrap().new_row().expect("new user");
        self.reload();
        TestUser { id: row.id, username: name.to_owned(), token }
    }

    pub fn grant(&self, user: &TestUser, ns_id: i64, role: Role) {
        let g = self.block(store::permissions::grant(self.store(), user.id, ns_id, role, "admin")).unwrap();
        assert!(matches!(g, store::permissions::Grant::Granted(_)), "{g:?}");
        self.reload();
    }

    pub fn revoke(&self, user: &TestUser, ns_id: i64) {
        self.block(store::permissions::revoke(self.store(), user.id, ns_id)).unwrap().expect("had a role");
        self.reload();
    }

    pub fn set_active(&self, user: &TestUser, active: bool) {
        assert!(self.block(store::users::set_active(self.store(), user.id, active)).unwrap());
        self.reload();
    }

    /// Pushes a fresh permission snapshot to the engine and waits for it.
    pub fn reload(&self) {
        self.block(self.broker.as_ref().unwrap().reload_permissions()).unwrap();
    }

    pub fn connections(&self) -> Vec<pulsemq::control::ConnectionInfo> {
        let b = self.broker.as_ref().unwrap();
        self.block(b.engine.request(pulsemq::control::Control::Connections)).unwrap()
    }

    /// Drops of every session holding `subscription` (`"ns:pattern"`), lowest first.
    pub fn drops_of(&self, subscription: &str) -> Vec<u64> {
        let mut drops: Vec<u64> = self
            .connections()
            .iter()
            .filter(|c| c.subscriptions.iter().any(|s| s == subscription))
            .map(|c| c.drops)
            .collect();
        drops.sort_unstable();
        drops
    }

    pub fn kick(&self, user: &TestUser) -> usize {
        let b = self.broker.as_ref().unwrap();
        let id = user.id;
        self.block(b.engine.request(|tx| pulsemq::control::Control::KickUser { user_id: id, reply: Some(tx) })).unwrap()
    }

    /// Latest engine statistics snapshot.
    pub fn stats(&self) -> pulsemq::engine::stats::StatsSnapshot {
        self.broker.as_ref().unwrap().stats.borrow().clone()
    }

    pub fn endpoints(&self) -> (String, String) {
        (format!("tcp://127.0.0.1:{}", self.pub_port), format!("tcp://127.0.0.1:{}", self.sub_port))
    }
}

impl Drop for InProcBroker {
    fn drop(&mut self) {
        if let Some(b) = self.broker.take() {
            let _ = self.rt.block_on(b.shutdown());
        }
    }
}

/// Polls `f` until it returns `Some` or `timeout` passes.
pub fn eventually<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Convenience: build the six frames of a request.
pub fn request(
    t: MsgType,
    format: Format,
    flags: u8,
    request_id: u32,
    ns: &str,
    topic: &str,
    payload: &[u8],
) -> Vec<Vec<u8>> {
    let h = Header::new(t, format, flags, payload.len() as u32, request_id);
    Frames::new(h, ns, topic, "", payload.to_vec()).into_parts().to_vec()
}

/// Parses a reply's JSON body.
pub fn body(frames: &[Vec<u8>]) -> Value {
    serde_json::from_slice(&frames[4])
        .unwrap_or_else(|e| panic!("reply body is not JSON ({e}): {:?}", String::from_utf8_lossy(&frames[4])))
}

/// A TCP port free right now on 127.0.0.1 (for tests that restart a broker
/// on the same ports).
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    l.local_addr().expect("local addr").port()
}

/// Rust SDK options for a user of a broker listening on these ports, with
/// timeouts short enough for tests.
pub fn client_options(pub_port: u16, sub_port: u16, username: &str, token: &str) -> pulsemq_client::ClientOptions {
    pulsemq_client::ClientOptions::new("127.0.0.1", pub_port, sub_port, username, token)
        .request_timeout(Duration::from_secs(10))
        .connect_timeout(Duration::from_secs(10))
}
