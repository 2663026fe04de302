//! README §1.3 — a publisher sending K-line data as BYTES, one per second.
//!
//! `cargo run -p pulsemq-client --example publisher [COUNT]` (default 100).
//! Connection settings: environment, see `examples/common/mod.rs`.

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use pulsemq_client::Client;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let count: u32 = std::env::args().nth(1).map(|c| c.parse()).transpose()?.unwrap_or(100);
    let ns = common::namespace();
    let client = Client::connect(common::options()).await?;
    println!("publisher connected");
    for i in 0..count {
        let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis();
        let f = f64::from(i) * 0.01;
        let kline = format!(
            r#"{{"symbol":"sz000651","type":"kline_1m","open":{:.2},"high":{:.2},"low":{:.2},"close":{:.2},"volume":{},"timestamp":{now}}}"#,
            10.5 + f,
            10.6 + f,
            10.4 + f,
            10.55 + f,
            10_000 + i * 100
        );
        client.publish_payload(&ns, "sz000651.kline.1m", kline.into_bytes()).await?;
        println!("sent K-line #{}", i + 1);
        if i + 1 < count {
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
    println!("done");
    client.close().await;
    Ok(())
}
