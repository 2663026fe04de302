//! README §2 — the four payload formats: BYTES, STRING, a small DataFrame
//! as MessagePack records, a 100 000-row DataFrame as Arrow IPC.
//!
//! `cargo run -p pulsemq-client --example formats`.
//! Connection settings: environment, see `examples/common/mod.rs`.

mod common;

use std::sync::Arc;

use pulsemq_client::arrow_array::{Float64Array, Int64Array, StringArray, TimestampMillisecondArray};
use pulsemq_client::arrow_schema::{DataType, Field, Schema, TimeUnit};
use pulsemq_client::{Client, Payload, RecordBatch};

#[derive(serde::Serialize)]
struct Row {
    symbol: &'static str,
    price: f64,
    volume: i64,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let ns = common::namespace();
    let client = Client::connect(common::options()).await?;

    // BYTES: raw bytes (encrypted data, binary protocols).
    client.publish_payload(&ns, "sz000651.raw", vec![1u8, 2, 3, 4]).await?;
    // STRING: UTF-8 text.
    client.publish_payload(&ns, "sz000651.signal", r#"{"action":"BUY","price":10.5}"#).await?;
    // DF_MSGPACK: a small DataFrame (< 1 MiB) as records, as pandas would send it.
    let rows = [
        Row { symbol: "sz000651", price: 10.5, volume: 100 },
        Row { symbol: "sz000651", price: 10.6, volume: 200 },
        Row { symbol: "sz000651", price: 10.55, volume: 150 },
    ];
    client.publish_payload(&ns, "sz000651.snapshot", Payload::records(&rows)?).await?;
    // DF_ARROW: a large DataFrame (< 64 MiB) as an Arrow IPC stream.
    let n = 100_000i64;
    let schema = Arc::new(Schema::new(vec![
        Field::new("symbol", DataType::Utf8, false),
        Field::new("timestamp", DataType::Timestamp(TimeUnit::Millisecond, None), false),
        Field::new("price", DataType::Float64, false),
        Field::new("volume", DataType::Int64, false),
    ]));
    let t0 = 1_735_689_600_000; // 2025-01-01, one row per millisecond
    let batch = RecordBatch::try_new(
        schema,
        vec![
            Arc::new(StringArray::from(vec!["sz000651"; n as usize])),
            Arc::new(TimestampMillisecondArray::from_iter_values((0..n).map(|i| t0 + i))),
            Arc::new(Float64Array::from_iter_values((0..n).map(|_| 10.5 + rand_unit() * 0.1))),
            Arc::new(Int64Array::from_iter_values((0..n).map(|i| 100 + (i * 7919) % 400))),
        ],
    )?;
    let ack = client.publish_payload(&ns, "sz000651.tick_batch", Payload::arrow(&[batch])?).await?;
    println!("all formats published ({} bytes of Arrow)", ack.wire_size);
    client.close().await;
    Ok(())
}

/// A cheap pseudo-random number in [0, 1) (no extra dependency for an example).
fn rand_unit() -> f64 {
    use std::cell::Cell;
    thread_local!(static S: Cell<u64> = const { Cell::new(0x2545_f491_4f6c_dd1d) });
    S.with(|s| {
        let mut x = s.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        s.set(x);
        (x >> 11) as f64 / (1u64 << 53) as f64
    })
}
