//! README §1.4 — a subscriber receiving every K-line period of sz000651
//! (`sz000651.kline.>`) until Ctrl-C.
//!
//! `cargo run -p pulsemq-client --example subscriber [PATTERN]`.
//! Connection settings: environment, see `examples/common/mod.rs`.

mod common;

use pulsemq_client::Client;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let pattern = std::env::args().nth(1).unwrap_or_else(|| "sz000651.kline.>".into());
    let ns = common::namespace();
    let client = Client::connect(common::options()).await?;
    let mut sub = client.subscribe(&ns, &pattern).await?;
    println!("subscribed to {ns}/{pattern}; Ctrl-C to stop");
    // One Ctrl-C listener for the whole loop: a `ctrl_c()` made anew in each
    // `select!` would miss a Ctrl-C pressed while a message is being handled
    // (and Tokio's handler, once installed, keeps SIGINT from ending the process).
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        tokio::select! {
            msg = sub.next() => match msg {
                Some(m) => println!("[{}] {}: {} bytes (seq {}, from {})",
                    m.namespace, m.topic, m.payload.len(), m.seq, m.publisher),
                None => break,
            },
            _ = &mut ctrl_c => break,
        }
    }
    client.close().await;
    Ok(())
}
