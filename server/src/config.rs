//! Configuration: built-in defaults < YAML file (`--config`) < command-line flags.
//!
//! Keys and defaults are those of the original product (original-0.2.0.md §9),
//! and every key does what its name says. Unlike the original, an unknown
//! key, a wrong type or an out-of-range value stops start-up with one line
//! naming the key, instead of being ignored or crashing later.

use std::path::{Path, PathBuf};

use clap::Parser;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Bind address of all listeners.
    pub host: String,
    /// Command port (ROUTER: AUTH, PUB, SUB, …). 0 = pick a free port.
    pub pub_port: u16,
    /// Delivery port (ROUTER: ATTACH in, MSG out). 0 = pick a free port.
    pub sub_port: u16,
    /// Admin HTTP API and console. 0 = pick a free port.
    pub admin_port: u16,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig { host: "0.0.0.0".into(), pub_port: 5555, sub_port: 5556, admin_port: 8080 }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageConfig {
    /// Only `sqlite` exists today; the key is kept so a config naming
    /// another driver fails loudly instead of silently using SQLite.
    pub driver: String,
    pub db_path: PathBuf,
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig { driver: "sqlite".into(), db_path: PathBuf::from("./pulsemq.db") }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// How MQ tokens are stored; only `sha256` (tokens are 128-bit random,
    /// so an unsalted fast hash is sufficient).
    pub token_hash: String,
    /// Seconds between client PINGs; also told to clients in AUTH_OK.
    pub ping_interval: u64,
    /// Seconds a client waits for a PONG. A session silent for
    /// `2 × ping_interval + ping_timeout` is expired and its slot freed.
    pub ping_timeout: u64,
    /// JWT signing secret for the admin API. Unset (the default) = a random
    /// secret generated at first start and kept in the database; never a
    /// built-in constant. When set it must be at least 32 bytes.
    pub jwt_secret: Option<String>,
    /// Lifetime of an admin login, seconds.
    pub jwt_expiry: u64,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            token_hash: "sha256".into(),
            ping_interval: 30,
            ping_timeout: 3,
            jwt_secret: None,
            jwt_expiry: 86_400,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// Live sessions per user; a session that ends (BYE, expiry, kick) frees its slot.
    pub max_connections_per_user: usize,
    /// Distinct (namespace, pattern) subscriptions per session.
    pub max_subscriptions_per_conn: usize,
    /// Safety-net full reload of the permission snapshot, seconds. Admin
    /// changes are pushed to the broker immediately; this only catches
    /// changes made to the database behind the broker's back.
    pub cache_refresh_sec: u64,
    /// Topics one namespace may hold; a publish that would create one more
    /// gets ERROR 13. Each topic costs a database row, a cached last value
    /// (up to 64 KiB) and a line in every statistics snapshot, so this is
    /// what bounds the memory a publisher can make the broker spend. A
    /// namespace may carry its own limit (`max_topics` in the admin API).
    pub max_topics_per_namespace: usize,
    /// Topics one user may create, over all namespaces (0 = no limit):
    /// bounds an `mq_super` publisher, whose publishes may create namespaces.
    pub max_topics_per_user: usize,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            max_connections_per_user: 10,
            max_subscriptions_per_conn: 500,
            cache_refresh_sec: 300,
            max_topics_per_namespace: 100_000,
            max_topics_per_user: 1_000_000,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BrokerConfig {
    /// ZeroMQ high-water mark (messages) of each peer pipe. A subscriber
    /// whose delivery pipe holds this many messages has further messages
    /// dropped (for it alone) and counted.
    pub hwm: i32,
    /// Bytes one protocol-6 subscriber may have in flight unread (handed to
    /// ZeroMQ, not yet confirmed by the PONG of a drain marker), and as many
    /// again parked in the broker, before its messages are dropped (for it
    /// alone, counted). A burst smaller than this arrives whole; a stalled
    /// subscriber costs at most twice this (see `engine::drain`).
    pub session_buffer_bytes: u64,
}

/// Default of [`BrokerConfig::session_buffer_bytes`]: 64 MiB.
pub const DEFAULT_SESSION_BUFFER: u64 = 64 * 1024 * 1024;

impl Default for BrokerConfig {
    fn default() -> Self {
        BrokerConfig { hwm: 10_000, session_buffer_bytes: DEFAULT_SESSION_BUFFER }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LoggingConfig {
    /// Directory of the daily-rotated `pulsemq.<date>.log` files.
    pub dir: PathBuf,
    /// Daily files kept.
    pub max_days: usize,
    /// `debug`, `info`, `warn` or `error`.
    pub level: String,
}

impl Default for LoggingConfig {
    fn default() -> Self {
        LoggingConfig { dir: PathBuf::from("./logs"), max_days: 7, level: "info".into() }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MonitoringConfig {
    /// Days of per-minute statistics kept (the original's name, kept for
    /// compatibility, says minutes; the unit has always been days).
    pub stats_retention_minutes: u64,
    /// Days of per-hour statistics kept.
    pub stats_retention_hours: u64,
    /// Seconds between two runs of the statistics (and audit) clean-up.
    pub cleanup_interval_sec: u64,
    /// Days of audit log kept; 0 keeps it forever. The log is bounded per
    /// minute too ([`crate::store::failure_audit`]), so what an outsider
    /// can make it hold is capped either way.
    pub audit_retention_days: u64,
    /// Seconds between two samples of every session and active topic for
    /// the console's drill-down charts, the slow-consumer list and the
    /// alarms (`crate::monitor`).
    pub sample_interval_sec: u64,
    /// Minutes of samples kept in memory (the drill-down charts' span).
    pub recent_minutes: u64,
}

impl Default for MonitoringConfig {
    fn default() -> Self {
        MonitoringConfig {
            stats_retention_minutes: 7,
            stats_retention_hours: 30,
            cleanup_interval_sec: 300,
            audit_retention_days: 90,
            sample_interval_sec: 5,
            recent_minutes: 10,
        }
    }
}

/// When the broker raises an alarm (`crate::monitor::alarms`): a figure
/// summed over the last `window_sec` reached its threshold. 0 switches an
/// alarm off. An alarm clears once a whole window passed below it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlarmsConfig {
    pub window_sec: u64,
    /// Deliveries dropped for slow subscribers: for market data any loss
    /// is worth a look, hence 1.
    pub drops: u64,
    /// AUTHs refused by `limits.max_connections_per_user`.
    pub connection_limit_hits: u64,
    /// Failed MQ AUTHs (a guessing client, or a fleet with a revoked token).
    pub auth_failures: u64,
    /// Bytes waiting for one protocol-6 subscriber that make it a slow
    /// consumer (listed, and alarmed on) even before it drops.
    pub slow_consumer_bytes: u64,
    /// Days of alarm history kept; 0 keeps it forever.
    pub retention_days: u64,
}

impl Default for AlarmsConfig {
    fn default() -> Self {
        AlarmsConfig {
            window_sec: 60,
            drops: 1,
            connection_limit_hits: 1,
            auth_failures: 20,
            slow_consumer_bytes: 16 * 1024 * 1024,
            retention_days: 90,
        }
    }
}

/// The whole configuration.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub server: ServerConfig,
    pub storage: StorageConfig,
    pub auth: AuthConfig,
    pub limits: LimitsConfig,
    pub broker: BrokerConfig,
    pub logging: LoggingConfig,
    pub monitoring: MonitoringConfig,
    pub alarms: AlarmsConfig,
}

/// Command line of the `pulsemq` binary.
#[derive(Debug, Clone, Default, Parser)]
#[command(name = "pulsemq", version, about = "PulseMQ message broker for market data (ZeroMQ + admin API + console)")]
pub struct Cli {
    /// YAML configuration file (keys as in the README's Configuration section).
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Bind address (server.host).
    #[arg(long)]
    pub host: Option<String>,
    /// Command port (server.pub_port); 0 picks a free port.
    #[arg(long)]
    pub pub_port: Option<u16>,
    /// Delivery port (server.sub_port); 0 picks a free port.
    #[arg(long)]
    pub sub_port: Option<u16>,
    /// Admin API / console port (server.admin_port); 0 picks a free port.
    #[arg(long)]
    pub admin_port: Option<u16>,
    /// debug, info, warn or error (logging.level).
    #[arg(long)]
    pub log_level: Option<String>,
    /// SQLite database file (storage.db_path).
    #[arg(long)]
    pub db_path: Option<PathBuf>,
}

impl Cli {
    /// Parses the process arguments (exits with usage on error, as clap does).
    pub fn from_env() -> Self {
        <Self as Parser>::parse()
    }
}

impl Config {
    /// Parses YAML text; errors name the problem and, where the parser
    /// knows it, the line and column.
    pub fn from_yaml(text: &str, origin: &Path) -> Result<Config> {
        if text.trim().is_empty() {
            return Ok(Config::default());
        }
        let cfg: Config = serde_saphyr::from_str(text)
            .map_err(|e| Error::Config(format!("{}: {}", origin.display(), one_line(&e.to_string()))))?;
        Ok(cfg)
    }

    /// Defaults, then the YAML file if given, then the flags; validated.
    pub fn load(cli: &Cli) -> Result<Config> {
        let mut cfg = match &cli.config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| Error::Config(format!("cannot read config file {}: {e}", path.display())))?;
                Config::from_yaml(&text, path)?
            }
            None => Config::default(),
        };
        cfg.apply_cli(cli);
        cfg.validate()?;
        Ok(cfg)
    }

    fn apply_cli(&mut self, cli: &Cli) {
        if let Some(h) = &cli.host {
            self.server.host = h.clone();
        }
        if let Some(p) = cli.pub_port {
            self.server.pub_port = p;
        }
        if let Some(p) = cli.sub_port {
            self.server.sub_port = p;
        }
        if let Some(p) = cli.admin_port {
            self.server.admin_port = p;
        }
        if let Some(l) = &cli.log_level {
            self.logging.level = l.clone();
        }
        if let Some(d) = &cli.db_path {
            self.storage.db_path = d.clone();
        }
    }

    /// Range and consistency checks, one clear message per problem.
    pub fn validate(&self) -> Result<()> {
        let bad = |key: &str, why: &str| Err(Error::Config(format!("{key}: {why}")));
        if self.server.host.trim().is_empty() {
            return bad("server.host", "must not be empty");
        }
        let ports = [self.server.pub_port, self.server.sub_port, self.server.admin_port];
        for (i, a) in ports.iter().enumerate() {
            for b in &ports[i + 1..] {
                if *a != 0 && a == b {
                    return bad(
                        "server",
                        &format!("port {a} is configured twice; pub_port, sub_port and admin_port must differ"),
                    );
                }
            }
        }
        if self.storage.driver != "sqlite" {
            return bad("storage.driver", &format!("'{}' is not supported; use \"sqlite\"", self.storage.driver));
        }
        if self.storage.db_path.as_os_str().is_empty() {
            return bad("storage.db_path", "must not be empty");
        }
        if self.auth.token_hash != "sha256" {
            return bad("auth.token_hash", &format!("'{}' is not supported; use \"sha256\"", self.auth.token_hash));
        }
        if self.auth.ping_interval == 0 || self.auth.ping_interval > 3600 {
            return bad("auth.ping_interval", "must be between 1 and 3600 seconds");
        }
        if self.auth.ping_timeout == 0 || self.auth.ping_timeout > 600 {
            return bad("auth.ping_timeout", "must be between 1 and 600 seconds");
        }
        if let Some(s) = &self.auth.jwt_secret {
            if s.len() < 32 {
                return bad(
                    "auth.jwt_secret",
                    "must be at least 32 bytes (or remove it to use a random per-installation secret)",
                );
            }
        }
        if self.auth.jwt_expiry < 60 {
            return bad("auth.jwt_expiry", "must be at least 60 seconds");
        }
        if self.limits.max_connections_per_user == 0 {
            return bad("limits.max_connections_per_user", "must be at least 1");
        }
        if self.limits.max_topics_per_namespace == 0 {
            return bad("limits.max_topics_per_namespace", "must be at least 1");
        }
        if self.limits.max_subscriptions_per_conn == 0 {
            return bad("limits.max_subscriptions_per_conn", "must be at least 1");
        }
        if self.limits.cache_refresh_sec == 0 {
            return bad("limits.cache_refresh_sec", "must be at least 1");
        }
        if self.broker.hwm < 1 {
            return bad("broker.hwm", "must be at least 1");
        }
        if self.broker.session_buffer_bytes < 1024 * 1024 {
            return bad("broker.session_buffer_bytes", "must be at least 1048576 (1 MiB)");
        }
        if self.logging.max_days == 0 {
            return bad("logging.max_days", "must be at least 1");
        }
        if crate::logging::parse_level(&self.logging.level).is_none() {
            return bad("logging.level", &format!("'{}' is not one of debug, info, warn, error", self.logging.level));
        }
        if self.monitoring.cleanup_interval_sec == 0 {
            return bad("monitoring.cleanup_interval_sec", "must be at least 1");
        }
        if self.monitoring.stats_retention_minutes == 0 || self.monitoring.stats_retention_hours == 0 {
            return bad("monitoring.stats_retention_*", "must be at least 1 day");
        }
        if self.monitoring.audit_retention_days > 36_500 {
            return bad(
                "monitoring.audit_retention_days",
                "must be at most 36500 (100 years); 0 keeps the log forever",
            );
        }
        if !(1..=60).contains(&self.monitoring.sample_interval_sec) {
            return bad("monitoring.sample_interval_sec", "must be between 1 and 60 seconds");
        }
        if !(1..=120).contains(&self.monitoring.recent_minutes) {
            return bad("monitoring.recent_minutes", "must be between 1 and 120");
        }
        let a = &self.alarms;
        if a.window_sec < self.monitoring.sample_interval_sec || a.window_sec > 3600 {
            return bad("alarms.window_sec", "must be between monitoring.sample_interval_sec and 3600 seconds");
        }
        if a.retention_days > 36_500 {
            return bad("alarms.retention_days", "must be at most 36500 (100 years); 0 keeps the history forever");
        }
        Ok(())
    }

    /// Silence after which a protocol-5 session is expired.
    pub fn session_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(2 * self.auth.ping_interval + self.auth.ping_timeout)
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(s: &str) -> Result<Config> {
        Config::from_yaml(s, Path::new("test.yaml")).and_then(|c| c.validate().map(|_| c))
    }

    #[test]
    fn defaults_are_the_original_ones() {
        let c = Config::default();
        assert_eq!((c.server.pub_port, c.server.sub_port, c.server.admin_port), (5555, 5556, 8080));
        assert_eq!(c.limits.max_connections_per_user, 10);
        assert_eq!(c.limits.max_subscriptions_per_conn, 500);
        assert_eq!(c.broker.hwm, 10_000);
        assert_eq!(c.broker.session_buffer_bytes, 64 * 1024 * 1024);
        assert_eq!(c.session_timeout().as_secs(), 63);
        c.validate().unwrap();
    }

    #[test]
    fn seed_readme_yaml_is_accepted() {
        let c = yaml(
            "server:\n  host: \"0.0.0.0\"\n  pub_port: 6000\n  sub_port: 6001\n  admin_port: 9090\nstorage:\n  db_path: \"/data/pulsemq.db\"\nauth:\n  jwt_secret: \"your-production-secret-key-at-least-32-bytes\"\n  jwt_expiry: 43200\nlimits:\n  max_connections_per_user: 20\n  max_subscriptions_per_conn: 1000\nbroker:\n  hwm: 50000\nlogging:\n  dir: \"/var/log/pulsemq\"\n  level: \"info\"\n  max_days: 30\n",
        )
        .unwrap();
        assert_eq!(c.server.pub_port, 6000);
        assert_eq!(c.broker.hwm, 50_000);
        assert_eq!(c.auth.jwt_expiry, 43_200);
        assert_eq!(c.logging.max_days, 30);
        assert_eq!(c.auth.ping_interval, 30, "unset keys keep their defaults");
    }

    #[test]
    fn broken_yaml_names_the_problem() {
        let e = yaml("server:\n  pub_port: [1,\n").unwrap_err().to_string();
        assert!(e.starts_with("config: test.yaml:"), "{e}");
        assert!(!e.contains('\n'), "one line: {e}");
    }

    #[test]
    fn unknown_keys_and_bad_values_are_rejected() {
        let e = yaml("server:\n  bogus: 1\n").unwrap_err().to_string();
        assert!(e.contains("bogus"), "{e}");
        let e = yaml("server:\n  pub_port: 70000\n").unwrap_err().to_string();
        assert!(e.contains("test.yaml"), "{e}");
        let e = yaml("logging:\n  level: loud\n").unwrap_err().to_string();
        assert!(e.contains("logging.level"), "{e}");
        let e = yaml("auth:\n  jwt_secret: short\n").unwrap_err().to_string();
        assert!(e.contains("auth.jwt_secret"), "{e}");
        let e = yaml("server:\n  pub_port: 7000\n  sub_port: 7000\n").unwrap_err().to_string();
        assert!(e.contains("7000"), "{e}");
    }

    #[test]
    fn cli_overrides_yaml() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.yaml");
        std::fs::write(&path, "server:\n  pub_port: 6000\n  host: 127.0.0.1\n").unwrap();
        let cli = Cli { config: Some(path), pub_port: Some(7000), log_level: Some("debug".into()), ..Cli::default() };
        let c = Config::load(&cli).unwrap();
        assert_eq!(c.server.pub_port, 7000);
        assert_eq!(c.server.host, "127.0.0.1");
        assert_eq!(c.logging.level, "debug");
    }

    #[test]
    fn missing_config_file_is_a_clear_error() {
        let cli = Cli { config: Some("/nonexistent/pulsemq.yaml".into()), ..Cli::default() };
        let e = Config::load(&cli).unwrap_err().to_string();
        assert!(e.contains("cannot read config file /nonexistent/pulsemq.yaml"), "{e}");
    }
}
