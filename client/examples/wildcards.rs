//! README §3 — wildcard subscriptions: `sz000651.>` (every level below
//! sz000651) and `*.kline.1m` (every symbol's 1-minute K-line), both on one
//! client, each receiving exactly its matches. Runs until Ctrl-C.
//!
//! `cargo run -p pulsemq-client --example wildcards`.
//! Connection settings: environment, see `examples/common/mod.rs`.

mod common;

use pulsemq_client::Client;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let ns = common::namespace();
    let client = Client::connect(common::options()).await?;
    let mut all = client.subscribe(&ns, "sz000651.>").await?;
    let mut k1m = client.subscribe(&ns, "*.kline.1m").await?;
    println!("subscribed; Ctrl-C to stop");
    // One Ctrl-C listener for the whole loop: a `ctrl_c()` made anew in each
    // `select!` would miss a Ctrl-C pressed while a message is being handled
    // (and Tokio's handler, once installed, keeps SIGINT from ending the process).
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        tokio::select! {
            Some(m) = all.next() => println!("[all sz000651] {}", m.topic),
            Some(m) = k1m.next() => println!("[1m K-line] {}", m.topic),
            _ = &mut ctrl_c => break,
            else => break,
        }
    }
    client.close().await;
    Ok(())
}
