//! README §5 — several subscribers running concurrently, each with its own
//! connection and pattern. Runs until Ctrl-C.
//!
//! `cargo run -p pulsemq-client --example concurrent_subscribers`.
//! Connection settings: environment, see `examples/common/mod.rs` (all three
//! use the same user here; give each its own user in production).

mod common;

use pulsemq_client::Client;

async fn subscriber(name: &'static str, pattern: &'static str) -> pulsemq_client::Result<()> {
    let client = Client::connect(common::options()).await?;
    let mut sub = client.subscribe(&common::namespace(), pattern).await?;
    println!("[{name}] subscribed to {pattern}");
    while let Some(m) = sub.next().await {
        println!("[{name}] {}: {} bytes", m.topic, m.payload.len());
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tokio::select! {
        r = async {
            tokio::try_join!(
                subscriber("sub_kline", "sz000651.kline.>"),
                subscriber("sub_trade", "sz000651.trade"),
                subscriber("sub_all", "sz000651.>"),
            )
        } => { r?; }
        _ = tokio::signal::ctrl_c() => {}
    }
    Ok(())
}
