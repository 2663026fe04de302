//! The `pulsemq` executable as an operator meets it: banner, credentials
//! file, log files, signals, restart on the same database, and start-up
//! failures that end with one clear line.

use std::os::unix::fs::PermissionsExt;
use std::process::Command;
use std::time::Duration;

use pulsemq_e2e::raw::RawPeer;
use pulsemq_e2e::{broker_bin, eventually, BinaryBroker, TestConfig};
use pulsemq_shared::Format;

#[test]
fn first_start_banner_credentials_and_clean_sigterm() {
    let mut b = BinaryBroker::start(&TestConfig::default());
    let banner = b.banner.join("\n");
    assert!(banner.contains(&format!("tcp://127.0.0.1:{}", b.pub_port)), "{banner}");
    assert!(banner.contains(&format!("tcp://127.0.0.1:{}", b.sub_port)), "{banner}");
    assert!(b.pub_port != 0 && b.sub_port != 0 && b.pub_port != b.sub_port);

    let creds = b.dir.path().join(".pulsemq_admin");
    let mode = std::fs::metadata(&creds).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "credentials file must be private");
    let text = std::fs::read_to_string(&creds).unwrap();
    assert!(text.lines().all(|l| l.contains(": ")), "plain key: value lines: {text}");
    assert_eq!(b.admin.username, "admin");
    assert_eq!(b.admin.token.len(), 32);
    assert!(b.admin.password.len() >= 16);

    // The bootstrap token opens an MQ session.
    let mut p = RawPeer::login(b.pub_port, b.sub_port, "admin", &b.admin.token.clone());
    assert_eq!(p.publish("md", "sz000651.kline.1m", Format::Bytes, b"1").status().as_deref(), Some("PUB_OK"));

    let logs = b.dir.path().join("logs");
    let found = eventually(Duration::from_secs(5), || {
        std::fs::read_dir(&logs)
            .ok()?
            .filter_map(Result::ok)
            .find(|e| e.file_name().to_string_lossy().starts_with("pulsemq"))
    });
    assert!(found.is_some(), "a daily log file is written");

    let status = b.signal_and_wait("TERM");
    assert_eq!(status.code(), Some(0), "SIGTERM ends cleanly");
}

#[test]
fn restart_keeps_the_database_and_sigint_exits_zero() {
    let b = BinaryBroker::start(&TestConfig::default());
    let first = b.admin.clone();
    let mut p = RawPeer::login(b.pub_port, b.sub_port, "admin", &first.token);
    assert_eq!(p.publish("md", "persisted.topic", Format::Bytes, b"1").status().as_deref(), Some("PUB_OK"));
    drop(p);
    // SIGTERM flushes the writer: the topic must be in the database afterwards.
    let dir = b.stop();
    let mut again = BinaryBroker::start_in(dir, &TestConfig::default());
    assert_eq!(again.admin, first, "no new admin on the second start");
    assert!(!again.banner.join("\n").contains("credentials written"), "{:?}", again.banner);
    let mut p = RawPeer::login(again.pub_port, again.sub_port, "admin", &first.token);
    let r = p.query(serde_json::json!({"type": "topics", "namespace": "md"}));
    assert_eq!(r.json()["data"], serde_json::json!(["persisted.topic"]));
    assert_eq!(again.signal_and_wait("INT").code(), Some(0), "SIGINT ends cleanly");
}

fn run_expecting_failure(args: &[&str], dir: &std::path::Path) -> (i32, String) {
    let out = Command::new(broker_bin()).args(args).current_dir(dir).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_owned();
    (out.status.code().unwrap_or(-1), stderr)
}

#[test]
fn broken_yaml_fails_with_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("bad.yaml");
    std::fs::write(&cfg, "server:\n  pub_port: [1,\n").unwrap();
    let (code, err) = run_expecting_failure(&["--config", cfg.to_str().unwrap()], dir.path());
    assert_ne!(code, 0);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("bad.yaml"), "{err}");

    std::fs::write(&cfg, "server:\n  pubport: 1\n").unwrap();
    let (code, err) = run_expecting_failure(&["--config", cfg.to_str().unwrap()], dir.path());
    assert_ne!(code, 0);
    assert!(err.contains("pubport"), "names the unknown key: {err}");

    let (code, err) = run_expecting_failure(&["--config", "/nonexistent.yaml"], dir.path());
    assert_ne!(code, 0);
    assert!(err.contains("/nonexistent.yaml"), "{err}");
    assert!(!dir.path().join("pulsemq.db").exists(), "nothing was created");
}

#[test]
fn taken_port_fails_with_one_clear_line() {
    let b = BinaryBroker::start(&TestConfig::default());
    let dir = tempfile::tempdir().unwrap();
    let taken = b.pub_port.to_string();
    let db = dir.path().join("x.db");
    let (code, err) = run_expecting_failure(
        &[
            "--host",
            "127.0.0.1",
            "--pub-port",
            &taken,
            "--sub-port",
            "0",
            "--admin-port",
            "0",
            "--db-path",
            db.to_str().unwrap(),
        ],
        dir.path(),
    );
    assert_ne!(code, 0);
    assert!(!db.exists(), "no database is created when a port is taken");
    assert_eq!(err.lines().filter(|l| l.contains("pulsemq:")).count(), 1, "{err}");
    assert!(err.contains(&taken) && err.contains("--pub-port"), "says which port and how to change it: {err}");
}

/// The database and its WAL and shared-memory files hold the JWT secret and
/// bcrypt hashes: they are the owner's alone, whatever the umask, and the
/// files of an older installation (mode 0644) are tightened at start.
#[test]
fn the_database_files_are_readable_by_the_owner_only() {
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let files = |dir: &std::path::Path| {
        ["pulsemq.db", "pulsemq.db-wal", "pulsemq.db-shm"].map(|f| dir.join(f)).into_iter().filter(|p| p.exists())
    };
    // While the broker runs, the database has its WAL and shared-memory files.
    let check_running = |b: &BinaryBroker, when: &str| {
        let mut p = RawPeer::login(b.pub_port, b.sub_port, "admin", &b.admin.token.clone());
        assert_eq!(p.publish("md", "t", Format::Bytes, b"1").status().as_deref(), Some("PUB_OK"));
        let found: Vec<_> = files(b.dir.path()).collect();
        assert!(found.len() == 3, "the database, its WAL and SHM exist {when}: {found:?}");
        for f in &found {
            assert_eq!(mode(f), 0o600, "{} {when}", f.display());
        }
    };
    let b = BinaryBroker::start(&TestConfig::default());
    check_running(&b, "at first start");
    let dir = b.stop();
    // An older installation's world-readable database is made private again.
    for f in files(dir.path()) {
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let b = BinaryBroker::start_in(dir, &TestConfig::default());
    check_running(&b, "after a restart on a 0644 database");
}
