//! The deployment files in `deploy/` against the real broker: the Grafana
//! dashboard queries only metrics that `/metrics` exports, the systemd unit
//! passes `systemd-analyze verify` without a warning, and the example
//! configurations are accepted as they are. (The Dockerfile is exercised by
//! `scripts/docker-smoke.sh` where a Docker engine runs.)

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use pulsemq_e2e::{broker_bin, BinaryBroker, TestConfig};
use serde_json::Value;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("repo root").to_path_buf()
}

/// Every `pulsemq_*` name in a PromQL expression.
fn metric_names(expr: &str, into: &mut BTreeSet<String>) {
    let mut rest = expr;
    while let Some(at) = rest.find("pulsemq_") {
        let tail = &rest[at..];
        let end = tail.find(|c: char| !(c.is_ascii_lowercase() || c == '_')).unwrap_or(tail.len());
        into.insert(tail[..end].to_owned());
        rest = &tail[end..];
    }
}

#[tokio::test]
async fn the_grafana_dashboard_queries_only_metrics_the_broker_exports() {
    let text = std::fs::read_to_string(repo().join("deploy/grafana/pulsemq-dashboard.json")).expect("dashboard");
    let dash: Value = serde_json::from_str(&text).expect("the dashboard is JSON");
    let panels = dash["panels"].as_array().expect("panels");
    assert!(panels.len() >= 8, "traffic, drops, latency, sessions, auth, memory at least");
    let mut used = BTreeSet::new();
    for p in panels {
        let title = p["title"].as_str().expect("every panel has a title");
        assert_eq!(p["datasource"]["uid"], "${datasource}", "{title}: uses the dashboard's Prometheus variable");
        let targets = p["targets"].as_array().unwrap_or_else(|| panic!("{title}: no queries"));
        assert!(!targets.is_empty(), "{title}: no queries");
        for t in targets {
            metric_names(t["expr"].as_str().unwrap_or_else(|| panic!("{title}: a target without expr")), &mut used);
        }
    }
    for v in dash["templating"]["list"].as_array().expect("variables") {
        if let Some(q) = v["definition"].as_str() {
            metric_names(q, &mut used);
        }
    }

    let b = BinaryBroker::start(&TestConfig::default());
    let exported = reqwest::get(format!("{}/metrics", b.admin_url())).await.unwrap().text().await.unwrap();
    let names: BTreeSet<&str> = exported
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| l.split(['{', ' ']).next())
        .collect();
    let missing: Vec<&String> = used.iter().filter(|m| !names.contains(m.as_str())).collect();
    assert!(missing.is_empty(), "the dashboard queries metrics /metrics does not export: {missing:?}");
    // And it shows every traffic counter the broker has (a new counter gets a panel).
    for must in ["pulsemq_messages_in_total", "pulsemq_drops_total", "pulsemq_publish_latency_microseconds"] {
        assert!(used.contains(must), "the dashboard does not show {must}");
    }
}

#[test]
fn the_systemd_unit_verifies_without_a_warning() {
    let Ok(out) = Command::new("systemd-analyze").arg("--version").output() else {
        panic!("systemd-analyze is missing: apt-get install systemd (scripts/setup.sh does for the tests)");
    };
    assert!(out.status.success());
    let unit = std::fs::read_to_string(repo().join("deploy/pulsemq.service")).expect("unit");
    assert!(unit.contains("ExecStart=/usr/local/bin/pulsemq --config /etc/pulsemq/config.yaml"));
    // verify checks that ExecStart names an executable: point it at the built broker.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pulsemq.service");
    std::fs::write(&path, unit.replace("/usr/local/bin/pulsemq", broker_bin().to_str().unwrap())).unwrap();
    let out = Command::new("systemd-analyze").arg("verify").arg(&path).output().expect("systemd-analyze verify");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && stderr.trim().is_empty(), "systemd-analyze verify: {stderr}");

    // The same check does catch a mistake (so the assertion above means something).
    std::fs::write(&path, unit.replace("MemoryMax=", "MemoryMaxx=").replace("/usr/local/bin/pulsemq", "/bin/true"))
        .unwrap();
    let out = Command::new("systemd-analyze").arg("verify").arg(&path).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("MemoryMaxx"), "a misspelt key is reported");
}

#[test]
fn the_example_configurations_are_accepted_as_they_are() {
    for name in ["deploy/config.yaml", "deploy/docker-config.yaml"] {
        let path = repo().join(name);
        let text = std::fs::read_to_string(&path).unwrap();
        let cfg = pulsemq::config::Config::from_yaml(&text, &path).unwrap_or_else(|e| panic!("{name}: {e}"));
        cfg.validate().unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(cfg.storage.db_path.is_absolute(), "{name}: the database path does not depend on the cwd");
    }
}
