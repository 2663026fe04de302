//! The client examples (`client/examples/*.rs`, issue 3 §8–9) run as the
//! programs users run: each built example binary against a real broker,
//! configured through the environment its header documents
//! (`PULSEMQ_HOST`, `PULSEMQ_PUB_PORT`, `PULSEMQ_SUB_PORT`, `PULSEMQ_USER`,
//! `PULSEMQ_TOKEN`, `PULSEMQ_NAMESPACE`), with bounded work: a COUNT
//! argument, examples that stop by themselves, or Ctrl-C (SIGINT) once the
//! expected output appeared. Each test checks the exit status and stdout,
//! and what the broker delivered where the example publishes.
//!
//! Also the cross-language peer (`cross_peer`, used by the Python suite)
//! against itself, so its fixture and checks are known good on their own.
//!
//! The examples are built by a workspace `cargo test` (examples are test
//! targets of `pulsemq-client`) or `cargo build -p pulsemq-client --examples`,
//! into `target/<profile>/examples/`, next to this test's `target/<profile>/deps/`.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use pulsemq_client::{Client, Data, Format, Message, Payload, Subscription};
use pulsemq_e2e::{client_options, free_port, InProcBroker, TestConfig};
use serde::Deserialize;

const NS: &str = "market_data";
const WAIT: Duration = Duration::from_secs(20);

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

/// `target/<profile>/examples/<name>`, from this test's own path.
fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    let profile_dir = exe.parent().and_then(Path::parent).expect("target/<profile>/deps/<test>");
    let path = profile_dir.join("examples").join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.exists(),
        "example binary {} is missing: run `cargo build -p pulsemq-client --examples` \
         (a workspace `cargo test` builds it)",
        path.display()
    );
    path
}

/// A broker with the examples' namespace.
fn broker(cfg: &TestConfig) -> InProcBroker {
    let b = InProcBroker::start(cfg);
    b.namespace(NS);
    b
}

async fn admin(b: &InProcBroker) -> Client {
    Client::connect(client_options(b.pub_port, b.sub_port, "admin", &b.admin.token)).await.expect("admin connects")
}

async fn next(sub: &mut Subscription) -> Message {
    tokio::time::timeout(WAIT, sub.next()).await.expect("a message in time").expect("stream open")
}

/// A running program, its stdout read line by line on a thread.
struct Running {
    name: String,
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
    stderr: Arc<Mutex<String>>,
    _cwd: tempfile::TempDir,
}

impl Running {
    /// Starts `program` with the broker's settings in the environment and
    /// an empty working directory (no `.pulsemq_admin` to fall back on).
    fn start(b: &InProcBroker, program: &Path, args: &[&str]) -> Running {
        let cwd = tempfile::tempdir().unwrap();
        let mut child = Command::new(program)
            .args(args)
            .current_dir(cwd.path())
            .env("PULSEMQ_HOST", "127.0.0.1")
            .env("PULSEMQ_PUB_PORT", b.pub_port.to_string())
            .env("PULSEMQ_SUB_PORT", b.sub_port.to_string())
            .env("PULSEMQ_USER", &b.admin.username)
            .env("PULSEMQ_TOKEN", &b.admin.token)
            .env("PULSEMQ_NAMESPACE", NS)
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", program.display()));
        let (tx, lines) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let (sink, mut pipe) = (stderr.clone(), child.stderr.take().unwrap());
        std::thread::spawn(move || {
            let mut buf = String::new();
            let _ = pipe.read_to_string(&mut buf);
            sink.lock().unwrap().push_str(&buf);
        });
        let name = program.file_name().unwrap().to_string_lossy().into_owned();
        Running { name, child, lines, seen: Vec::new(), stderr, _cwd: cwd }
    }

    fn run(b: &InProcBroker, name: &str, args: &[&str]) -> Running {
        Running::start(b, &example(name), args)
    }

    fn fail(&mut self, why: &str) -> ! {
        let _ = self.child.kill();
        let _ = self.child.wait();
        std::thread::sleep(Duration::from_millis(100));
        let err = self.stderr.lock().unwrap().clone();
        panic!("{}: {why}\n--- stdout:\n{}\n--- stderr:\n{err}", self.name, self.seen.join("\n"));
    }

    /// The next stdout line matching `pred` within `timeout` (earlier lines are kept in `seen`).
    fn line_within(&mut self, timeout: Duration, pred: impl Fn(&str) -> bool) -> Option<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let line = self.lines.recv_timeout(deadline.saturating_duration_since(Instant::now())).ok()?;
            self.seen.push(line.clone());
            if pred(&line) {
                return Some(line);
            }
        }
    }

    fn expect_line(&mut self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        match self.line_within(WAIT, pred) {
            Some(l) => l,
            None => self.fail(&format!("no line {what} within {WAIT:?}")),
        }
    }

    /// Waits until every line of `want` was printed, in any order (output
    /// of concurrent tasks), counting lines already seen.
    fn expect_all(&mut self, want: &[&str]) {
        let missing = |seen: &[String]| want.iter().filter(|w| !seen.iter().any(|l| l == *w)).count();
        while missing(&self.seen) > 0 {
            if self.line_within(WAIT, |l| want.contains(&l)).is_none() {
                let left: Vec<_> = want.iter().filter(|w| !self.seen.iter().any(|l| l == *w)).collect();
                self.fail(&format!("still missing {left:?} after {WAIT:?}"));
            }
        }
    }

    /// Waits for the exit, asserts success and returns every stdout line.
    fn succeeds(mut self) -> Vec<String> {
        let deadline = Instant::now() + WAIT * 2;
        let status: ExitStatus = loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                break st;
            }
            if Instant::now() > deadline {
                self.fail("did not exit in time");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        // The reader thread ends at EOF, which the exit brings.
        while let Ok(l) = self.lines.recv_timeout(Duration::from_secs(5)) {
            self.seen.push(l);
        }
        if !status.success() {
            self.fail(&format!("exited with {status}"));
        }
        std::mem::take(&mut self.seen)
    }

    /// Ctrl-C, as a user stops the long-running examples: they must exit cleanly.
    fn interrupt(self) -> Vec<String> {
        let st = Command::new("kill").arg("-INT").arg(self.child.id().to_string()).status().unwrap();
        assert!(st.success(), "kill -INT failed");
        self.succeeds()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn count(lines: &[String], pred: impl Fn(&str) -> bool) -> usize {
    lines.iter().filter(|l| pred(l)).count()
}

/// README §1.3: `publisher 3` sends three K-lines as BYTES, one a second, and exits.
#[test]
fn publisher_sends_count_klines_then_exits() {
    let b = broker(&TestConfig::default());
    let rt = runtime();
    let (client, mut sub) = rt.block_on(async {
        let c = admin(&b).await;
        let s = c.subscribe(NS, "sz000651.kline.1m").await.unwrap();
        (c, s)
    });
    let out = Running::run(&b, "publisher", &["3"]).succeeds();
    assert_eq!(out, ["publisher connected", "sent K-line #1", "sent K-line #2", "sent K-line #3", "done"]);
    rt.block_on(async {
        for i in 0..3u64 {
            let m = next(&mut sub).await;
            assert_eq!((m.format, m.seq, m.publisher.as_str()), (Format::Bytes, i + 1, "admin"));
            let k: serde_json::Value = serde_json::from_slice(&m.payload).expect("K-line JSON");
            assert_eq!(k["symbol"], "sz000651");
            assert_eq!(k["close"].as_f64(), Some(10.55 + i as f64 * 0.01));
        }
        client.close().await;
    });
}

/// README §1.4: the subscriber prints each message its pattern matches (and
/// only those) until Ctrl-C.
#[test]
fn subscriber_prints_matches_until_ctrl_c() {
    let b = broker(&TestConfig::default());
    let rt = runtime();
    let mut ex = Running::run(&b, "subscriber", &[]);
    ex.expect_line("'subscribed'", |l| l == "subscribed to market_data/sz000651.kline.>; Ctrl-C to stop");
    rt.block_on(async {
        let c = admin(&b).await;
        for topic in ["sz000651.kline.1m", "sz000651.trade", "sz000651.kline.5m"] {
            c.publish(NS, topic, Format::Bytes, b"12345".to_vec()).await.unwrap();
        }
        c.close().await;
    });
    ex.expect_line("for 1m", |l| l == "[market_data] sz000651.kline.1m: 5 bytes (seq 1, from admin)");
    ex.expect_line("for 5m", |l| l == "[market_data] sz000651.kline.5m: 5 bytes (seq 1, from admin)");
    let out = ex.interrupt();
    assert_eq!(count(&out, |l| l.contains("sz000651.trade")), 0, "{out:#?}");
}

#[derive(Debug, Deserialize, PartialEq)]
struct Row {
    symbol: String,
    price: f64,
    volume: i64,
}

/// README §2: the four formats; what arrives decodes to what was meant.
#[test]
fn formats_publishes_each_format() {
    let b = broker(&TestConfig::default());
    let rt = runtime();
    let (client, mut sub) = rt.block_on(async {
        let c = admin(&b).await;
        let s = c.subscribe(NS, "sz000651.>").await.unwrap();
        (c, s)
    });
    let out = Running::run(&b, "formats", &[]).succeeds();
    assert_eq!(out.len(), 1, "{out:?}");
    assert!(out[0].starts_with("all formats published (") && out[0].ends_with(" bytes of Arrow)"), "{out:?}");
    rt.block_on(async {
        let raw = next(&mut sub).await;
        assert_eq!((raw.topic.as_str(), raw.data().unwrap()), ("sz000651.raw", Data::Bytes(vec![1u8, 2, 3, 4].into())));
        let signal = next(&mut sub).await;
        assert_eq!(signal.topic, "sz000651.signal");
        assert_eq!(signal.data().unwrap(), Data::String(r#"{"action":"BUY","price":10.5}"#.into()));
        let snapshot = next(&mut sub).await;
        assert_eq!((snapshot.topic.as_str(), snapshot.format), ("sz000651.snapshot", Format::DfMsgpack));
        let rows: Vec<Row> = snapshot.records().unwrap();
        assert_eq!(
            rows.iter().map(|r| (r.price, r.volume)).collect::<Vec<_>>(),
            [(10.5, 100), (10.6, 200), (10.55, 150)]
        );
        assert!(rows.iter().all(|r| r.symbol == "sz000651"));
        let ticks = next(&mut sub).await;
        assert_eq!((ticks.topic.as_str(), ticks.format), ("sz000651.tick_batch", Format::DfArrow));
        let batches = ticks.record_batches().unwrap();
        assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 100_000);
        let names: Vec<String> = batches[0].schema().fields().iter().map(|f| f.name().clone()).collect();
        assert_eq!(names, ["symbol", "timestamp", "price", "volume"]);
        client.close().await;
    });
}

/// README §3: two wildcard subscriptions on one client, each printing
/// exactly its matches.
#[test]
fn wildcards_route_each_pattern() {
    let b = broker(&TestConfig::default());
    let rt = runtime();
    let mut ex = Running::run(&b, "wildcards", &[]);
    ex.expect_line("'subscribed'", |l| l == "subscribed; Ctrl-C to stop");
    rt.block_on(async {
        let c = admin(&b).await;
        // The non-matching topic first: per-subscription order means it
        // would be printed before the lines the test waits for.
        for topic in ["sh600000.kline.5m", "sz000651.kline.1m", "sz000001.kline.1m", "sz000651.trade"] {
            c.publish(NS, topic, Format::String, "x").await.unwrap();
        }
        c.close().await;
    });
    let mut want = vec![
        "[all sz000651] sz000651.kline.1m",
        "[1m K-line] sz000651.kline.1m",
        "[1m K-line] sz000001.kline.1m",
        "[all sz000651] sz000651.trade",
    ];
    ex.expect_all(&want);
    let mut got: Vec<String> = ex.interrupt().into_iter().skip(1).collect();
    got.sort();
    want.sort_unstable();
    assert_eq!(got, want);
}

/// Sync mode (README §4): the blocking API; stops by itself after 10
/// messages (one published before `run()`, nine from another thread).
#[test]
fn sync_mode_stops_after_ten_messages() {
    let b = broker(&TestConfig::default());
    let out = Running::run(&b, "sync_mode", &[]).succeeds();
    assert_eq!(out.last().map(String::as_str), Some("stopped"), "{out:#?}");
    for i in 1..=10 {
        assert_eq!(count(&out, |l| l.starts_with(&format!("#{i} "))), 1, "#{i} in {out:#?}");
    }
    assert_eq!(
        count(&out, |l| l.contains(" sz000651.signal seq=1 ") && l.contains(r#""action\":\"BUY"#)),
        1,
        "{out:#?}"
    );
    assert_eq!(count(&out, |l| l.contains(" sz000651.trade seq=")), 9, "{out:#?}");
    assert_eq!(out.len(), 11, "{out:#?}");
}

/// Compression: each algorithm shrinks the book on the wire and the
/// subscriber gets it back whole, knowing which algorithm was used.
#[test]
fn compression_round_trips_each_algorithm() {
    let b = broker(&TestConfig::default());
    let out = Running::run(&b, "compression", &[]).succeeds();
    assert_eq!(out.len(), 6, "{out:#?}");
    for (pair, (algo, variant)) in out.chunks(2).zip([("zlib", "Zlib"), ("lz4", "Lz4"), ("zstd", "Zstd")]) {
        // "zlib: 3599 → 120 bytes on the wire"
        let sizes =
            pair[0].trim_start().strip_prefix(&format!("{algo}: ")).and_then(|r| r.strip_suffix(" bytes on the wire"));
        let (plain, wire) = sizes.and_then(|s| s.split_once(" → ")).unwrap_or_else(|| panic!("{pair:?}"));
        let (plain, wire): (usize, usize) = (plain.parse().unwrap(), wire.parse().unwrap());
        assert!(wire < plain / 4, "{algo}: {plain} → {wire}");
        assert_eq!(pair[1].trim(), format!("received {plain} bytes, compression Some({variant})"));
    }
}

/// README §4 queries: namespaces with their topics, one namespace's topics, permissions.
#[test]
fn queries_list_namespaces_topics_and_permissions() {
    let b = broker(&TestConfig::default());
    runtime().block_on(async {
        let c = admin(&b).await;
        c.publish_payload(NS, "sz000651.kline.1m", Payload::bytes(vec![1u8])).await.unwrap();
        c.close().await;
    });
    let out = Running::run(&b, "queries", &[]).succeeds();
    assert!(out.contains(&r#"namespace market_data (1 topics): ["sz000651.kline.1m"]"#.to_owned()), "{out:#?}");
    assert!(out.contains(&r#"topics of market_data: ["sz000651.kline.1m"]"#.to_owned()), "{out:#?}");
    assert_eq!(count(&out, |l| l.starts_with("permissions: PermissionInfo { user_type: ")), 1, "{out:#?}");
}

/// README §5: three subscribers on their own connections, each printing
/// exactly what its pattern matches.
#[test]
fn concurrent_subscribers_each_get_their_matches() {
    let b = broker(&TestConfig::default());
    let rt = runtime();
    let mut ex = Running::run(&b, "concurrent_subscribers", &[]);
    ex.expect_all(&[
        "[sub_kline] subscribed to sz000651.kline.>",
        "[sub_trade] subscribed to sz000651.trade",
        "[sub_all] subscribed to sz000651.>",
    ]);
    rt.block_on(async {
        let c = admin(&b).await;
        for (topic, size) in
            [("sz000001.trade", 1), ("sz000651.kline.1m", 2), ("sz000651.trade", 3), ("sz000651.depth", 4)]
        {
            c.publish(NS, topic, Format::Bytes, vec![0u8; size]).await.unwrap();
        }
        c.close().await;
    });
    let mut want = vec![
        "[sub_kline] sz000651.kline.1m: 2 bytes",
        "[sub_all] sz000651.kline.1m: 2 bytes",
        "[sub_trade] sz000651.trade: 3 bytes",
        "[sub_all] sz000651.trade: 3 bytes",
        "[sub_all] sz000651.depth: 4 bytes",
    ];
    ex.expect_all(&want);
    let mut got: Vec<String> = ex.interrupt().into_iter().filter(|l| !l.contains(" subscribed to ")).collect();
    got.sort();
    want.sort_unstable();
    assert_eq!(got, want);
}

/// README §8: the broker restarts on the same ports and database; the
/// example reports the loss and the recovery and receives again, without
/// doing anything itself.
#[test]
fn reconnect_recovers_after_a_broker_restart() {
    let cfg = TestConfig { pub_port: free_port(), sub_port: free_port(), ..TestConfig::default() };
    let mut b = broker(&cfg);
    let rt = runtime();
    let mut ex = Running::run(&b, "reconnect", &[]);
    ex.expect_line("'subscribed'", |l| l.starts_with("subscribed (reconnect on)"));
    let publish_once = |b: &InProcBroker| {
        rt.block_on(async {
            let c = admin(b).await;
            c.publish(NS, "sz000651.tick", Format::String, "t").await.unwrap();
            c.close().await;
        })
    };
    publish_once(&b);
    ex.expect_line("'received … seq=1'", |l| l == "received sz000651.tick seq=1");

    let old = b.broker.take().expect("running");
    b.rt.block_on(old.shutdown()).expect("clean shutdown");
    let config = pulsemq::config::Config::from_yaml(&cfg.yaml(b.dir.path()), Path::new("test.yaml")).unwrap();
    b.broker = Some(b.rt.block_on(pulsemq::run::start(config)).expect("broker restarts on the same ports"));

    ex.expect_line("'event: Disconnected'", |l| l.starts_with("event: Disconnected"));
    ex.expect_line("'event: Reconnected'", |l| l.starts_with("event: Reconnected"));
    // Re-subscription may still be on its way: publish until one arrives.
    let deadline = Instant::now() + WAIT;
    loop {
        publish_once(&b);
        if ex.line_within(Duration::from_millis(500), |l| l.starts_with("received sz000651.tick seq=")).is_some() {
            break;
        }
        if Instant::now() > deadline {
            ex.fail("nothing received after the restart");
        }
    }
    let out = ex.interrupt();
    assert_eq!(count(&out, |l| l.starts_with("stream ended")), 0, "{out:#?}");
}

/// The cross-language peer against itself: `expect` accepts exactly what
/// `publish` sends (16 messages: 4 kinds × none/zlib/lz4/zstd).
#[test]
fn cross_peer_accepts_its_own_fixture() {
    let b = broker(&TestConfig::default());
    let peer = Path::new(env!("CARGO_BIN_EXE_cross_peer"));
    let mut expect = Running::start(&b, peer, &["expect", NS, "self", "--timeout", "20"]);
    expect.expect_line("ready", |l| l.contains(r#""ready":true"#));
    let published = Running::start(&b, peer, &["publish", NS, "self"]).succeeds();
    assert_eq!(published.len(), 16, "{published:#?}");
    let out = expect.succeeds();
    let verdicts: Vec<serde_json::Value> =
        out.iter().filter(|l| l.contains(r#""topic""#)).map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(verdicts.len(), 16, "{out:#?}");
    assert!(verdicts.iter().all(|v| v["ok"] == true), "{out:#?}");
    assert_eq!(out.last().map(String::as_str), Some(r#"{"expected":16,"failed":0,"passed":16,"summary":true}"#));
}
