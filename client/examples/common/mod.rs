//! Connection settings shared by the examples.
//!
//! Every example reads the same environment variables, so it runs against
//! a broker started with `cargo run -p pulsemq` in the repository root
//! without arguments:
//!
//! | variable            | default                                   |
//! |---------------------|-------------------------------------------|
//! | `PULSEMQ_HOST`      | `127.0.0.1`                               |
//! | `PULSEMQ_PUB_PORT`  | `5555`                                    |
//! | `PULSEMQ_SUB_PORT`  | `5556`                                    |
//! | `PULSEMQ_USER`      | `username:` line of `./.pulsemq_admin`    |
//! | `PULSEMQ_TOKEN`     | `token:` line of `./.pulsemq_admin`       |
//! | `PULSEMQ_ADMIN_FILE`| `./.pulsemq_admin`                        |
//!
//! The examples publish to the namespace `market_data` (override with
//! `PULSEMQ_NAMESPACE`); create it first in the console or through the
//! admin API (README §1.2).

#![allow(dead_code)]

use pulsemq_client::ClientOptions;

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn admin_file_field(key: &str) -> Option<String> {
    let path = var("PULSEMQ_ADMIN_FILE").unwrap_or_else(|| ".pulsemq_admin".into());
    let text = std::fs::read_to_string(path).ok()?;
    text.lines().find_map(|l| l.strip_prefix(&format!("{key}: "))).map(|v| v.trim().to_owned())
}

/// Client options from the environment (see the table above).
pub fn options() -> ClientOptions {
    let host = var("PULSEMQ_HOST").unwrap_or_else(|| "127.0.0.1".into());
    let port = |name: &str, default: u16| {
        var(name).map(|p| p.parse().unwrap_or_else(|_| panic!("{name} must be a port number"))).unwrap_or(default)
    };
    let user = var("PULSEMQ_USER").or_else(|| admin_file_field("username")).unwrap_or_else(|| "admin".into());
    let token = var("PULSEMQ_TOKEN")
        .or_else(|| admin_file_field("token"))
        .expect("set PULSEMQ_TOKEN or run from the directory holding .pulsemq_admin");
    ClientOptions::new(host, port("PULSEMQ_PUB_PORT", 5555), port("PULSEMQ_SUB_PORT", 5556), user, token)
}

/// The namespace the examples use.
pub fn namespace() -> String {
    var("PULSEMQ_NAMESPACE").unwrap_or_else(|| "market_data".into())
}
