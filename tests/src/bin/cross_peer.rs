//! The Rust side of the cross-language tests (`python/tests/test_cross_rust.py`).
//!
//! ```text
//! cross_peer publish <namespace> <prefix>
//! cross_peer expect  <namespace> <prefix> [--timeout SECS]
//! ```
//!
//! Both modes work on one fixed fixture set: four payload kinds (BYTES, a
//! non-ASCII STRING, MessagePack records, a two-batch Arrow stream) each sent
//! as is and compressed with zlib, lz4 and zstd, on the topics
//! `<prefix>.<kind>.<none|zlib|lz4|zstd>` (16 messages). The Python test
//! builds the same data with pandas; the two definitions must stay in step.
//!
//! - `publish` sends the set with the Rust SDK and exits 0 once every
//!   message was acknowledged (compression is forced: threshold 0, and a
//!   payload the algorithm did not shrink is an error).
//! - `expect` subscribes to `<prefix>.>`, prints `{"ready":true,...}` once the
//!   subscription is active, then decodes each message with the Rust SDK and
//!   compares it with the fixture, printing one JSON verdict per message
//!   (`{"topic","kind","compression","ok","detail"}`) and a final
//!   `{"summary":...}` line. Exit status 1 on any mismatch, undecodable,
//!   unexpected or duplicate message, or when the set is not complete within
//!   the timeout (default 20 s).
//!
//! Connection settings come from the environment, like the client examples:
//! `PULSEMQ_HOST` (127.0.0.1), `PULSEMQ_PUB_PORT` (5555), `PULSEMQ_SUB_PORT`
//! (5556), `PULSEMQ_USER` (admin), `PULSEMQ_TOKEN` (required).

use std::collections::BTreeSet;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use pulsemq_client::arrow_array::{
    Array, BooleanArray, Float64Array, Int64Array, StringArray, TimestampMicrosecondArray, TimestampNanosecondArray,
};
use pulsemq_client::arrow_schema::{DataType, Field, Schema, TimeUnit};
use pulsemq_client::{Client, ClientOptions, Compression, Event, Message, Payload, PublishOptions, RecordBatch};
use serde::{Deserialize, Serialize};
use serde_json::json;

const KINDS: [&str; 4] = ["bytes", "string", "records", "arrow"];
const COMPRESSIONS: [Option<Compression>; 4] =
    [None, Some(Compression::Zlib), Some(Compression::Lz4), Some(Compression::Zstd)];

/// Rows of the records fixture and of the Arrow fixture.
const RECORD_ROWS: i64 = 40;
const ARROW_BATCHES: [i64; 2] = [30, 20];

fn compression_name(c: Option<Compression>) -> &'static str {
    c.map_or("none", |c| c.name())
}

// ---- the fixture (mirrored in python/tests/test_cross_rust.py) ----------------------------

/// 4 KiB covering every byte value: `(i * 7) mod 256`.
fn fixture_bytes() -> Vec<u8> {
    (0..4096u32).map(|i| (i * 7 % 256) as u8).collect()
}

/// Multi-byte UTF-8 (CJK, accents, a 4-byte emoji), one line per i.
fn fixture_string() -> String {
    (0..60).map(|i| format!("PulseMQ 跨语言 — ünïcödé ✓ 🚀 #{i}\n")).collect()
}

/// One record of the DF_MSGPACK fixture, fields in the DataFrame's column order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Row {
    id: i64,
    price: f64,
    symbol: String,
    active: bool,
    /// Null on even rows.
    note: Option<String>,
    /// Always null.
    missing: Option<String>,
}

fn fixture_rows() -> Vec<Row> {
    (0..RECORD_ROWS)
        .map(|i| Row {
            id: (i - 3) * 1_000_000_007,
            price: 10.0 + i as f64 * 0.1,
            symbol: format!("sz{:06}-格力", 651 + i),
            active: i % 3 == 0,
            note: (i % 2 == 1).then(|| format!("n{i}")),
            missing: None,
        })
        .collect()
}

const T0_NS: i64 = 1_735_689_600_000_000_000; // 2025-01-01T00:00:00Z

fn arrow_schema() -> Arc<Schema> {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, true),
        Field::new("price", DataType::Float64, true),
        Field::new("symbol", DataType::Utf8, true),
        Field::new("active", DataType::Boolean, true),
        Field::new("ts", DataType::Timestamp(TimeUnit::Nanosecond, None), true),
        Field::new("ts_utc", DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())), true),
        Field::new("ts_sh", DataType::Timestamp(TimeUnit::Nanosecond, Some("Asia/Shanghai".into())), true),
    ]))
}

/// Two batches (30 + 20 rows, global row index r), nulls in `price` and `symbol`.
fn fixture_batches() -> Vec<RecordBatch> {
    let schema = arrow_schema();
    let mut start = 0i64;
    ARROW_BATCHES
        .iter()
        .map(|&n| {
            let rows = start..start + n;
            start += n;
            let columns: Vec<Arc<dyn Array>> = vec![
                Arc::new(Int64Array::from_iter_values(rows.clone().map(|r| r * 37 - 100))),
                Arc::new(Float64Array::from_iter(rows.clone().map(|r| (r % 7 != 3).then_some(100.0 + r as f64 * 0.5)))),
                Arc::new(StringArray::from_iter(
                    rows.clone().map(|r| (r % 11 != 5).then(|| format!("sh{}-茅台", 600_000 + r))),
                )),
                Arc::new(BooleanArray::from_iter(rows.clone().map(|r| Some(r % 2 == 0)))),
                Arc::new(TimestampNanosecondArray::from_iter_values(rows.clone().map(|r| T0_NS + r * 1_000_000_123))),
                Arc::new(
                    TimestampMicrosecondArray::from_iter_values(rows.clone().map(|r| T0_NS / 1000 + r * 1_500_000))
                        .with_timezone("UTC"),
                ),
                Arc::new(
                    TimestampNanosecondArray::from_iter_values(rows.map(|r| T0_NS + r * 60_000_000_000))
                        .with_timezone("Asia/Shanghai"),
                ),
            ];
            RecordBatch::try_new(schema.clone(), columns).expect("fixture batch")
        })
        .collect()
}

fn fixture_payload(kind: &str) -> Payload {
    match kind {
        "bytes" => Payload::bytes(fixture_bytes()),
        "string" => Payload::string(fixture_string()),
        "records" => Payload::records(&fixture_rows()).expect("records fixture encodes"),
        "arrow" => Payload::arrow(&fixture_batches()).expect("arrow fixture encodes"),
        other => unreachable!("kind {other}"),
    }
}

// ---- checks -------------------------------------------------------------------------------

/// Compares a received message with the fixture of `kind`; `Ok` carries a
/// short description of what matched.
fn check(kind: &str, want_compression: Option<Compression>, m: &Message) -> Result<String, String> {
    if m.compression != want_compression {
        return Err(format!("compression {:?}, expected {:?}", m.compression, want_compression));
    }
    let want_format = fixture_payload(kind).format();
    if m.format != want_format {
        return Err(format!("format {}, expected {}", m.format.name(), want_format.name()));
    }
    match kind {
        "bytes" => {
            let want = fixture_bytes();
            if m.payload.as_ref() != want.as_slice() {
                let at = m.payload.iter().zip(&want).position(|(a, b)| a != b);
                return Err(format!("{} bytes, expected {}; first difference at {at:?}", m.payload.len(), want.len()));
            }
            Ok(format!("{} bytes", want.len()))
        }
        "string" => {
            let want = fixture_string();
            match m.as_str() {
                Some(s) if s == want => Ok(format!("{} chars, {} bytes", s.chars().count(), s.len())),
                Some(s) => Err(format!("text differs: got {:?}…", s.chars().take(40).collect::<String>())),
                None => Err("payload is not UTF-8".into()),
            }
        }
        "records" => {
            let rows: Vec<Row> = m.records().map_err(|e| format!("typed decode: {e}"))?;
            let want = fixture_rows();
            if rows != want {
                let at = rows.iter().zip(&want).position(|(a, b)| a != b);
                let detail = at.map(|i| format!("row {i}: got {:?}, expected {:?}", rows[i], want[i]));
                return Err(format!("{} rows, expected {}; {}", rows.len(), want.len(), detail.unwrap_or_default()));
            }
            // Same rows must also be the same bytes (issue 7 §2: byte-compatible).
            let ours = fixture_payload("records");
            if m.payload.as_ref() != ours.as_bytes() {
                return Err(format!(
                    "rows equal but bytes differ from the Rust encoding ({} vs {} bytes)",
                    m.payload.len(),
                    ours.len()
                ));
            }
            Ok(format!("{} rows, byte-identical to the Rust encoding", rows.len()))
        }
        "arrow" => {
            let batches = m.record_batches().map_err(|e| format!("Arrow decode: {e}"))?;
            compare_batches(&batches, &fixture_batches())
                .map(|rows| format!("{rows} rows in {} batch(es), schema and values equal", batches.len()))
        }
        other => Err(format!("unknown kind {other}")),
    }
}

/// Equal column names and types (metadata and nullability aside) and equal
/// values row by row, wherever the batch boundaries fall.
fn compare_batches(got: &[RecordBatch], want: &[RecordBatch]) -> Result<usize, String> {
    let (gs, ws) = (got.first().ok_or("no batch in the stream")?.schema(), want[0].schema());
    let describe =
        |s: &Schema| s.fields().iter().map(|f| format!("{}: {}", f.name(), f.data_type())).collect::<Vec<_>>();
    if describe(&gs) != describe(&ws) {
        return Err(format!("schema {:?}, expected {:?}", describe(&gs), describe(&ws)));
    }
    let (g, w) = (rows_of(got), rows_of(want));
    if g.len() != w.len() {
        return Err(format!("{} rows, expected {}", g.len(), w.len()));
    }
    for (r, ((gb, gi), (wb, wi))) in g.iter().zip(&w).enumerate() {
        for c in 0..ws.fields().len() {
            let (a, b) = (gb.column(c).slice(*gi, 1), wb.column(c).slice(*wi, 1));
            if a.as_ref() != b.as_ref() {
                return Err(format!("row {r} column {}: got {a:?}, expected {b:?}", ws.field(c).name()));
            }
        }
    }
    Ok(w.len())
}

/// Every row as (its batch, its index in the batch).
fn rows_of(batches: &[RecordBatch]) -> Vec<(&RecordBatch, usize)> {
    batches.iter().flat_map(|b| (0..b.num_rows()).map(move |i| (b, i))).collect()
}

// ---- modes --------------------------------------------------------------------------------

fn options() -> Result<ClientOptions, String> {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let port = |k: &str, default: u16| -> Result<u16, String> {
        var(k).map_or(Ok(default), |p| p.parse().map_err(|_| format!("{k} must be a port number, not {p:?}")))
    };
    let token = var("PULSEMQ_TOKEN").ok_or("set PULSEMQ_TOKEN")?;
    Ok(ClientOptions::new(
        var("PULSEMQ_HOST").unwrap_or_else(|| "127.0.0.1".into()),
        port("PULSEMQ_PUB_PORT", 5555)?,
        port("PULSEMQ_SUB_PORT", 5556)?,
        var("PULSEMQ_USER").unwrap_or_else(|| "admin".into()),
        token,
    )
    .request_timeout(Duration::from_secs(10))
    .connect_timeout(Duration::from_secs(10)))
}

fn topics(prefix: &str) -> Vec<(String, &'static str, Option<Compression>)> {
    KINDS
        .iter()
        .flat_map(|&k| COMPRESSIONS.iter().map(move |&c| (format!("{prefix}.{k}.{}", compression_name(c)), k, c)))
        .collect()
}

async fn publish(ns: &str, prefix: &str) -> Result<(), String> {
    let client = Client::connect(options()?).await.map_err(|e| format!("connect: {e}"))?;
    for (topic, kind, algo) in topics(prefix) {
        let mut opts = PublishOptions::new().threshold(0);
        opts.compression = algo;
        let ack = client
            .publish_with(ns, &topic, fixture_payload(kind), opts)
            .await
            .map_err(|e| format!("publish {topic}: {e}"))?;
        if ack.compression != algo {
            return Err(format!(
                "{topic}: sent with compression {:?}, wanted {algo:?} (fixture too small?)",
                ack.compression
            ));
        }
        println!("{}", json!({"published": topic, "wire_size": ack.wire_size}));
    }
    client.close().await;
    Ok(())
}

fn verdict(topic: &str, kind: &str, algo: Option<Compression>, result: &Result<String, String>) {
    let (ok, detail) = match result {
        Ok(d) => (true, d),
        Err(d) => (false, d),
    };
    println!(
        "{}",
        json!({"topic": topic, "kind": kind, "compression": compression_name(algo), "ok": ok, "detail": detail})
    );
}

async fn expect(ns: &str, prefix: &str, timeout: Duration) -> Result<bool, String> {
    let client = Client::connect(options()?).await.map_err(|e| format!("connect: {e}"))?;
    let mut events = client.events();
    let pattern = format!("{prefix}.>");
    let mut sub = client.subscribe(ns, &pattern).await.map_err(|e| format!("subscribe: {e}"))?;
    println!("{}", json!({"ready": true, "namespace": ns, "pattern": pattern}));

    let all = topics(prefix);
    let mut pending: BTreeSet<String> = all.iter().map(|t| t.0.clone()).collect();
    let (mut passed, mut failed) = (0usize, 0usize);
    let mut record = |topic: &str, kind: &str, algo, result: Result<String, String>| {
        verdict(topic, kind, algo, &result);
        if result.is_ok() {
            passed += 1;
        } else {
            failed += 1;
        }
    };
    let deadline = tokio::time::Instant::now() + timeout;
    while !pending.is_empty() {
        tokio::select! {
            m = sub.next() => {
                let Some(m) = m else { break };
                match all.iter().find(|t| t.0 == m.topic) {
                    Some((topic, kind, algo)) if pending.remove(topic) => record(topic, kind, *algo, check(kind, *algo, &m)),
                    Some((topic, kind, algo)) => record(topic, kind, *algo, Err("received twice".into())),
                    None => record(&m.topic, "?", m.compression, Err("topic not in the fixture set".into())),
                }
            }
            Some(ev) = events.next() => {
                if let Event::Undecodable { topic, error, .. } = ev {
                    let (kind, algo) = all.iter().find(|t| t.0 == topic).map_or(("?", None), |t| (t.1, t.2));
                    pending.remove(&topic);
                    record(&topic, kind, algo, Err(format!("undecodable: {error}")));
                }
            }
            _ = tokio::time::sleep_until(deadline) => break,
        }
    }
    for (topic, kind, algo) in all.iter().filter(|t| pending.contains(&t.0)) {
        record(topic, kind, *algo, Err(format!("not received within {} s", timeout.as_secs_f64())));
    }
    println!("{}", json!({"summary": true, "passed": passed, "failed": failed, "expected": all.len()}));
    client.close().await;
    Ok(failed == 0 && passed == all.len())
}

const USAGE: &str =
    "usage: cross_peer publish <namespace> <prefix>\n       cross_peer expect <namespace> <prefix> [--timeout SECS]";

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let outcome = match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["publish", ns, prefix] => publish(ns, prefix).await.map(|()| true),
        ["expect", ns, prefix, rest @ ..] => {
            let timeout = match rest {
                [] => Ok(20.0),
                ["--timeout", secs] => secs.parse::<f64>().map_err(|_| format!("bad timeout {secs:?}")),
                _ => Err(USAGE.to_owned()),
            };
            match timeout {
                Ok(t) => expect(ns, prefix, Duration::from_secs_f64(t)).await,
                Err(e) => Err(e),
            }
        }
        _ => Err(USAGE.to_owned()),
    };
    match outcome {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("cross_peer: {e}");
            ExitCode::from(2)
        }
    }
}
