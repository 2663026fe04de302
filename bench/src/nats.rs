//! NATS, the peer to beat, measured in the same run: a `nats-server` the
//! bench starts itself on a loopback port in a temporary directory (never
//! one someone else runs), driven with `async-nats` with the same message
//! sizes, counts and rates as the PulseMQ rows.
//!
//! The NATS clients get a tokio runtime of their own with two workers (all
//! of async-nats' socket work runs on the runtime), so they are not
//! starved by the single-worker runtime the PulseMQ SDK rows use (the SDK
//! has its own I/O thread per client).

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::StreamExt;

use crate::raw::Received;
use crate::report::{now_ns, read_stamp, stamp};

/// Subject of the throughput and latency rows.
pub const SUBJECT: &str = "bench.tick";

/// A `nats-server` child process on 127.0.0.1.
pub struct NatsServer {
    child: Child,
    pub url: String,
    pub version: String,
    _dir: tempfile::TempDir,
}

fn binary() -> Option<PathBuf> {
    let from_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join("nats-server"));
    from_path.chain(["/usr/bin/nats-server".into(), "/usr/sbin/nats-server".into()]).find(|p| p.is_file())
}

impl NatsServer {
    /// Starts `nats-server -a 127.0.0.1 -p <free port>` and waits until it
    /// accepts connections.
    pub fn start() -> Result<NatsServer, String> {
        let bin = binary().ok_or("nats-server not found: run scripts/setup.sh (installs Debian's nats-server)")?;
        let version = Command::new(&bin)
            .arg("--version")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_default();
        let dir = tempfile::tempdir().map_err(|e| format!("temp dir: {e}"))?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("free port: {e}"))?
            .port();
        let log = std::fs::File::create(dir.path().join("nats.log")).map_err(|e| format!("nats log: {e}"))?;
        let child = Command::new(&bin)
            .args(["-a", "127.0.0.1", "-p", &port.to_string()])
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
        let mut server = NatsServer { child, url: format!("nats://127.0.0.1:{port}"), version, _dir: dir };
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline || server.child.try_wait().ok().flatten().is_some() {
                return Err(format!("nats-server did not listen on port {port} within 10 s"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(server)
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The NATS side of the bench: a server and the runtime its clients use.
pub struct Nats {
    pub server: NatsServer,
    rt: tokio::runtime::Runtime,
}

fn err(e: impl std::fmt::Display) -> String {
    format!("nats: {e}")
}

impl Nats {
    pub fn start() -> Result<Nats, String> {
        let server = NatsServer::start()?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| format!("tokio runtime: {e}"))?;
        Ok(Nats { server, rt })
    }

    async fn connect(&self) -> Result<async_nats::Client, String> {
        async_nats::connect(self.server.url.as_str()).await.map_err(err)
    }

    /// Receives on a subscription on a thread of its own until `expect`
    /// messages or `idle` without one.
    fn receiver(
        &self,
        mut sub: async_nats::Subscriber,
        expect: u64,
        idle: Duration,
    ) -> std::thread::JoinHandle<Received> {
        let handle = self.rt.handle().clone();
        std::thread::spawn(move || {
            handle.block_on(async move {
                let mut r = Received { lat_ns: Vec::with_capacity(expect as usize), ..Default::default() };
                while r.count < expect {
                    let Ok(Some(m)) = tokio::time::timeout(idle, sub.next()).await else { break };
                    let now = now_ns();
                    r.count += 1;
                    r.last_ns = now;
                    r.lat_ns.push(now.saturating_sub(read_stamp(&m.payload)));
                }
                r
            })
        })
    }

    /// 1→`subs`: publishes `count` stamped messages of `size` bytes as fast
    /// as the client takes them; returns the start time and each receiver's count.
    pub fn fanout(&self, subs: usize, count: u64, size: usize, idle: Duration) -> Result<(u64, Vec<Received>), String> {
        self.rt.block_on(async {
            let publ = self.connect().await?;
            let mut receivers = Vec::new();
            let mut keep = Vec::new();
            for _ in 0..subs {
                let c = self.connect().await?;
                let sub = c.subscribe(SUBJECT).await.map_err(err)?;
                c.flush().await.map_err(err)?;
                receivers.push(self.receiver(sub, count, idle));
                keep.push(c);
            }
            let start = now_ns();
            for _ in 0..count {
                let mut p = vec![0u8; size];
                stamp(&mut p);
                publ.publish(SUBJECT, p.into()).await.map_err(err)?;
            }
            publ.flush().await.map_err(err)?;
            let got = receivers.into_iter().map(|h| h.join().expect("receiver")).collect();
            drop(keep);
            Ok((start, got))
        })
    }

    /// One publisher at a fixed rate, one subscriber: `paced` calls the
    /// sender; returns the start time and the receiver's samples.
    pub fn latency(
        &self,
        count: u64,
        idle: Duration,
        paced: impl FnOnce(&mut dyn FnMut(&mut [u8])) -> u64,
    ) -> Result<(u64, Received), String> {
        let (publ, sub) = self.rt.block_on(async {
            let publ = self.connect().await?;
            let subc = self.connect().await?;
            let sub = subc.subscribe(SUBJECT).await.map_err(err)?;
            subc.flush().await.map_err(err)?;
            Ok::<_, String>((publ, (subc, sub)))
        })?;
        let (subc, sub) = sub;
        let h = self.receiver(sub, count, idle);
        let handle = self.rt.handle().clone();
        let start = paced(&mut |p: &mut [u8]| {
            stamp(p);
            handle.block_on(publ.publish(SUBJECT, p.to_vec().into())).expect("publish");
        });
        let r = h.join().expect("receiver");
        drop(subc);
        Ok((start, r))
    }

    /// Pipelined request/reply round trips (`window` in flight), against a
    /// responder on its own connection: NATS's nearest to an acknowledged
    /// publish. Returns (start, completed, end).
    pub fn request_reply(&self, count: u64, window: usize, size: usize) -> Result<(u64, u64, u64), String> {
        self.rt.block_on(async {
            let responder = self.connect().await?;
            let mut requests = responder.subscribe("bench.req").await.map_err(err)?;
            responder.flush().await.map_err(err)?;
            let r2 = responder.clone();
            let serving = tokio::spawn(async move {
                while let Some(m) = requests.next().await {
                    if let Some(reply) = m.reply {
                        let _ = r2.publish(reply, bytes::Bytes::new()).await;
                    }
                }
            });
            let client = self.connect().await?;
            let start = now_ns();
            let done = futures_util::stream::iter(0..count)
                .map(|_| {
                    let c = client.clone();
                    async move { c.request("bench.req", vec![0u8; size].into()).await.is_ok() }
                })
                .buffer_unordered(window)
                .fold(0u64, |n, ok| async move { n + ok as u64 })
                .await;
            let end = now_ns();
            serving.abort();
            Ok((start, done, end))
        })
    }
}
