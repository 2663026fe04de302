//! `pulsemq-bench`: starts the real broker (or targets a running one),
//! runs the scenarios of issues 6 and 15 with the Rust SDK and, in the same
//! run, against plain libzmq forwarders (the physical limit) and NATS (the
//! peer to beat: a `nats-server` it starts on loopback), and prints one table.
//!
//! ```text
//! cargo run --release -p pulsemq-bench            # full table (~2 min)
//! cargo run --release -p pulsemq-bench -- --quick # a few seconds, CI gate
//! ```
//!
//! Every target is a ratio against a reference measured in the same run
//! (or a latency percentile at a modest fixed rate), because the machines
//! are small and shared. The quick mode fails (exit 1) only on gross
//! regressions: SDK NO_ACK throughput under 0.3× the forwarder, or a
//! scenario that could not run.

mod broker;
mod forwarder;
mod nats;
mod raw;
mod report;
mod scenarios;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

use report::{load_average, machine, Row};
use scenarios::Bench;

/// NO_ACK throughput below this fraction of the forwarder fails `--quick`.
const GROSS_REGRESSION: f64 = 0.3;

#[derive(Parser, Debug)]
#[command(name = "pulsemq-bench", version, about = "PulseMQ benchmark against a plain libzmq forwarder, in one run")]
struct Args {
    /// A few seconds instead of ~2 minutes; fails only on gross regressions.
    #[arg(long)]
    quick: bool,
    /// A running broker (`host:pub_port:sub_port`) instead of starting one.
    #[arg(long, value_name = "HOST:PUB:SUB")]
    target: Option<String>,
    /// MQ user for --target (needs pub and sub roles in namespace `bench`).
    #[arg(long, default_value = "admin")]
    user: String,
    /// That user's token (with --target).
    #[arg(long, default_value = "")]
    token: String,
    /// The running broker's pid, to read its RSS (with --target).
    #[arg(long)]
    broker_pid: Option<u32>,
    /// Broker executable to start (default: `pulsemq` next to this binary).
    #[arg(long)]
    broker_bin: Option<PathBuf>,
    /// Only these scenarios (comma-separated): idle, one, latency, fanout, wildcard, arrow.
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Idle sessions to open.
    #[arg(long, default_value_t = 1000)]
    sessions: usize,
    /// Runs the broker under another program, e.g.
    /// `--broker-prefix "valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.out"`.
    #[arg(long, value_name = "COMMAND")]
    broker_prefix: Option<String>,
    /// Profiling load instead of the table: bare sessions (`noack`, `ack`,
    /// `fan16`, `wild10`, `wild1000`) or the SDK 1→1 (`sdk-noack`, `sdk-ack`);
    /// see bench/README.md.
    #[arg(long, value_name = "KIND")]
    drive: Option<String>,
    /// Messages for --drive.
    #[arg(long, default_value_t = 100_000)]
    count: u64,
    /// Leave out the NATS rows (nats-server is started otherwise).
    #[arg(long)]
    no_nats: bool,
    /// Internal: run a reference forwarder (`router` or `xpub`).
    #[arg(long, hide = true)]
    forwarder: Option<String>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    if let Some(mode) = &args.forwarder {
        return match forwarder::serve(mode) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("forwarder: {e}");
                ExitCode::FAILURE
            }
        };
    }
    match run(&args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("pulsemq-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> Result<ExitCode, String> {
    report::now_ns(); // start the shared clock
    let (_spawned, target) = match &args.target {
        Some(spec) => (None, broker::parse_target(spec, &args.user, &args.token, args.broker_pid)?),
        None => {
            let bin = broker::broker_bin(args.broker_bin.as_deref())?;
            let prefix: Vec<String> =
                args.broker_prefix.as_deref().unwrap_or("").split_whitespace().map(str::to_owned).collect();
            let (s, t) = broker::spawn(&bin, &prefix)?;
            (Some(s), t)
        }
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))?;
    let mut bench = Bench {
        rt,
        target,
        zctx: zmq::Context::new(),
        router: forwarder::Forwarder::start("router")?,
        xpub: forwarder::Forwarder::start("xpub")?,
        quick: args.quick,
        nats: None,
        notes: Vec::new(),
    };
    if args.drive.is_none() && !args.no_nats {
        match nats::Nats::start() {
            Ok(n) => bench.nats = Some(n),
            Err(e) => bench.notes.push(format!("NATS rows skipped: {e}")),
        }
    }
    if let Some(kind) = &args.drive {
        let r = scenarios::drive(&bench, kind, args.count)?;
        println!(
            "drive {kind}: {} of {} delivered in {:.3} s = {} msg/s",
            r.delivered,
            r.expected,
            r.secs,
            report::fmt_rate(r.rate())
        );
        return Ok(if r.loss() == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE });
    }
    let load_start = load_average();
    if let Some(n) = &bench.nats {
        bench.notes.push(format!("NATS peer: {} at {}", n.server.version, n.server.url));
    }
    println!(
        "pulsemq-bench{}: broker {}:{}/{} ({}); machine {}; load average at start {load_start}",
        if args.quick { " --quick" } else { "" },
        bench.target.host,
        bench.target.pub_port,
        bench.target.sub_port,
        if args.target.is_some() { "running" } else { "started by the bench" },
        machine(),
    );
    let want = |s: &str| args.only.is_empty() || args.only.iter().any(|o| o == s);
    let mut rows: Vec<Row> = Vec::new();
    let mut failures: Vec<String> = Vec::new();
    let mut step = |name: &str, f: &mut dyn FnMut(&mut Bench) -> scenarios::R<Vec<Row>>, bench: &mut Bench| {
        if !want(name) {
            return;
        }
        eprintln!("running {name}…");
        match f(bench) {
            Ok(r) => rows.extend(r),
            Err(e) => failures.push(format!("{name}: {e}")),
        }
    };
    // Idle sessions first, on a fresh broker, so the RSS is not inflated by
    // the queues of the throughput runs.
    let sessions = args.sessions;
    step("idle", &mut |b| b.idle_sessions(sessions), &mut bench);
    step("one", &mut |b| b.one_to_one(), &mut bench);
    step("latency", &mut |b| b.latency(), &mut bench);
    step("fanout", &mut |b| b.fanout(), &mut bench);
    step("wildcard", &mut |b| b.wildcard(), &mut bench);
    step("arrow", &mut |b| b.arrow(), &mut bench);

    println!();
    print!("{}", report::table(&rows));
    println!();
    for n in &bench.notes {
        println!("- {n}");
    }
    println!("- load average at start {load_start}, at end {}", load_average());

    // The gate: gross regressions only, never noise.
    if let Some(r) = rows.iter().find(|r| r.scenario.starts_with("1→1 NO_ACK (SDK)")) {
        let ratio: f64 = r.ratio.trim_end_matches('×').parse().unwrap_or(0.0);
        if ratio < GROSS_REGRESSION {
            failures.push(format!("1→1 NO_ACK is {ratio:.2}× the forwarder (gate: ≥ {GROSS_REGRESSION}×)"));
        }
    }
    let missed: Vec<&str> = rows.iter().filter(|r| r.met == Some(false)).map(|r| r.scenario.as_str()).collect();
    if !missed.is_empty() {
        println!("- targets not met (reported, not a failure): {}", missed.join("; "));
    }
    if failures.is_empty() {
        println!("bench: OK");
        Ok(ExitCode::SUCCESS)
    } else {
        for f in &failures {
            println!("bench FAILED: {f}");
        }
        Ok(ExitCode::FAILURE)
    }
}
