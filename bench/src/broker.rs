//! The broker under test: the real `pulsemq` release binary started as a
//! child with a temporary config and database on ports 0, or a broker that
//! is already running (`--target`).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// High-water mark used on every socket of the bench, the broker's and the
/// reference forwarders': deep enough that a throughput run measures speed,
/// not drops.
pub const HWM: i32 = 1_000_000;

/// Where and as whom to reach a broker.
#[derive(Debug, Clone)]
pub struct Target {
    pub host: String,
    pub pub_port: u16,
    pub sub_port: u16,
    pub user: String,
    pub token: String,
    /// Known only for a broker the bench started (or `--broker-pid`).
    pub pid: Option<u32>,
}

/// A broker the bench started; stopped (SIGTERM) when dropped.
pub struct Spawned {
    child: Child,
    /// How long the broker may take to exit on SIGTERM (long under valgrind).
    grace: Duration,
    _dir: tempfile::TempDir,
}

impl Drop for Spawned {
    /// SIGTERM to the child and to its descendants: under a `--broker-prefix`
    /// that forks (`strace -f`, `perf record`) the broker is a grandchild,
    /// and a tracer that is told to stop detaches and leaves it running on
    /// its ports. Under valgrind the child is the broker itself.
    fn drop(&mut self) {
        let pid = self.child.id();
        let family: Vec<u32> = std::iter::once(pid).chain(descendants(pid)).collect();
        signal_all(&family, libc::SIGTERM);
        let deadline = Instant::now() + self.grace;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                if !family[1..].iter().any(|&p| alive(p)) {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        signal_all(&family, libc::SIGKILL);
        let _ = self.child.wait();
    }
}

fn signal_all(pids: &[u32], signal: i32) {
    for &p in pids {
        // SAFETY: kill(2) on processes this bench started (directly or
        // through the prefix); no memory is shared.
        unsafe { libc::kill(p as i32, signal) };
    }
}

/// Whether `pid` still exists (a zombie counts until it is reaped).
fn alive(pid: u32) -> bool {
    // SAFETY: signal 0 only checks for existence.
    unsafe { libc::kill(pid as i32, 0) == 0 }
}

/// Every process below `pid`, from `/proc/<pid>/task/<tid>/children`
/// (empty where the kernel does not offer that file).
fn descendants(pid: u32) -> Vec<u32> {
    let mut found = Vec::new();
    let mut queue = vec![pid];
    while let Some(p) = queue.pop() {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{p}/task")) else { continue };
        for task in tasks.flatten() {
            let Ok(list) = std::fs::read_to_string(task.path().join("children")) else { continue };
            for child in list.split_whitespace().filter_map(|c| c.parse::<u32>().ok()) {
                found.push(child);
                queue.push(child);
            }
        }
    }
    found
}

/// The broker executable: `--broker-bin`, `$PULSEMQ_BIN`, or `pulsemq`
/// next to this executable. Under `cargo run` the sibling is (re)built
/// first, so the bench never measures a stale broker.
pub fn broker_bin(explicit: Option<&Path>) -> Result<PathBuf, String> {
    if let Some(p) = explicit {
        return Ok(p.to_path_buf());
    }
    if let Ok(p) = std::env::var("PULSEMQ_BIN") {
        return Ok(PathBuf::from(p));
    }
    let exe = std::env::current_exe().map_err(|e| format!("cannot locate the bench executable: {e}"))?;
    let dir = exe.parent().ok_or("the bench executable has no directory")?;
    let sibling = dir.join("pulsemq");
    if let Ok(cargo) = std::env::var("CARGO") {
        let release = dir.file_name().is_some_and(|n| n == "release");
        let mut cmd = Command::new(cargo);
        cmd.args(["build", "--quiet", "-p", "pulsemq"]);
        if release {
            cmd.arg("--release");
        }
        eprintln!("building the broker (cargo build{} -p pulsemq)…", if release { " --release" } else { "" });
        let st = cmd.status().map_err(|e| format!("cannot run cargo: {e}"))?;
        if !st.success() {
            return Err("building the broker failed".into());
        }
    }
    if sibling.exists() {
        Ok(sibling)
    } else {
        Err(format!(
            "no broker at {}: run `cargo build --release -p pulsemq`, or pass --broker-bin / --target",
            sibling.display()
        ))
    }
}

fn config_yaml(dir: &Path) -> String {
    format!(
        "server:\n  host: 127.0.0.1\n  pub_port: 0\n  sub_port: 0\n  admin_port: 0\n\
         storage:\n  db_path: {db}\n\
         limits:\n  max_connections_per_user: 5000\n  max_subscriptions_per_conn: 5000\n\
         broker:\n  hwm: {HWM}\n\
         logging:\n  dir: {logs}\n  level: warn\n",
        db = dir.join("pulsemq.db").display(),
        logs = dir.join("logs").display(),
    )
}

/// `tcp://host:PORT` at the end of a banner line that starts with `label`.
fn port_after(line: &str, label: &str) -> Option<u16> {
    let rest = line.trim_start().strip_prefix(label)?;
    rest.rsplit(':').next()?.trim().parse().ok()
}

/// Starts the broker and waits for its banner and credentials file.
/// `prefix` runs it under another program (`valgrind --tool=callgrind`).
pub fn spawn(bin: &Path, prefix: &[String]) -> Result<(Spawned, Target), String> {
    let dir = tempfile::tempdir().map_err(|e| format!("temp dir: {e}"))?;
    let config = dir.path().join("bench.yaml");
    std::fs::write(&config, config_yaml(dir.path())).map_err(|e| format!("write config: {e}"))?;
    let stderr = std::fs::File::create(dir.path().join("stderr.log")).map_err(|e| format!("stderr log: {e}"))?;
    let mut cmd = match prefix.split_first() {
        Some((program, args)) => {
            let mut c = Command::new(program);
            c.args(args).arg(bin);
            c
        }
        None => Command::new(bin),
    };
    let mut child = cmd
        .arg("--config")
        .arg(&config)
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
    let stdout = child.stdout.take().expect("piped");
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            // After the banner nobody listens: keep draining regardless.
            let _ = tx.send(line);
        }
    });
    let slow = !prefix.is_empty();
    let grace = Duration::from_secs(if slow { 120 } else { 5 });
    let spawned = Spawned { child, grace, _dir: dir };
    let deadline = Instant::now() + if slow { Duration::from_secs(300) } else { Duration::from_secs(30) };
    let (mut pub_port, mut sub_port) = (None, None);
    while pub_port.is_none() || sub_port.is_none() {
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok(line) = rx.recv_timeout(left) else {
            let err = std::fs::read_to_string(spawned._dir.path().join("stderr.log")).unwrap_or_default();
            return Err(format!("the broker printed no banner in time; stderr:\n{err}"));
        };
        pub_port = pub_port.or_else(|| port_after(&line, "Command"));
        sub_port = sub_port.or_else(|| port_after(&line, "Delivery"));
    }
    let creds = std::fs::read_to_string(spawned._dir.path().join(".pulsemq_admin"))
        .map_err(|e| format!("cannot read .pulsemq_admin: {e}"))?;
    let get = |k: &str| creds.lines().find_map(|l| l.strip_prefix(&format!("{k}: "))).map(|v| v.trim().to_owned());
    let (Some(user), Some(token)) = (get("username"), get("token")) else {
        return Err(".pulsemq_admin has no username/token".into());
    };
    let target = Target {
        host: "127.0.0.1".into(),
        pub_port: pub_port.expect("set"),
        sub_port: sub_port.expect("set"),
        user,
        token,
        pid: Some(spawned.child.id()),
    };
    Ok((spawned, target))
}

/// Parses `--target host:pub:sub`.
pub fn parse_target(spec: &str, user: &str, token: &str, pid: Option<u32>) -> Result<Target, String> {
    let mut it = spec.rsplitn(3, ':');
    let (Some(sub), Some(publ), Some(host)) = (it.next(), it.next(), it.next()) else {
        return Err(format!("--target must be host:pub_port:sub_port, not '{spec}'"));
    };
    let port = |s: &str| s.parse::<u16>().map_err(|_| format!("'{s}' is not a port"));
    Ok(Target {
        host: host.trim_matches(['[', ']']).to_owned(),
        pub_port: port(publ)?,
        sub_port: port(sub)?,
        user: user.to_owned(),
        token: token.to_owned(),
        pid,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn banner_ports() {
        assert_eq!(port_after("  Command  : tcp://127.0.0.1:40123", "Command"), Some(40123));
        assert_eq!(port_after("  Delivery : tcp://127.0.0.1:40124", "Delivery"), Some(40124));
        assert_eq!(port_after("  Database : /tmp/x.db", "Command"), None);
    }

    #[test]
    fn target_spec() {
        let t = parse_target("10.1.2.3:5555:5556", "u", "t", None).unwrap();
        assert_eq!((t.host.as_str(), t.pub_port, t.sub_port), ("10.1.2.3", 5555, 5556));
        assert!(parse_target("host:5555", "u", "t", None).is_err());
    }
}
