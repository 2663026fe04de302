//! README §8 — automatic reconnection and subscription recovery. Subscribe,
//! then restart the broker: the client re-authenticates, re-attaches and
//! re-subscribes by itself (back-off 1 s doubling to 30 s, at most 10
//! attempts) and the stream simply goes on. The events stream says what
//! happened, including sequence gaps. Runs until Ctrl-C.
//!
//! `cargo run -p pulsemq-client --example reconnect` (add `--no-reconnect`
//! to see the client stop at the first loss instead).
//! Connection settings: environment, see `examples/common/mod.rs`.

mod common;

use pulsemq_client::Client;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let reconnect = !std::env::args().any(|a| a == "--no-reconnect");
    let client = Client::connect(common::options().reconnect(reconnect)).await?;
    let mut events = client.events();
    let mut sub = client.subscribe(&common::namespace(), "sz000651.>").await?;
    println!("subscribed (reconnect {}); restart the broker to see recovery", if reconnect { "on" } else { "off" });
    // One Ctrl-C listener for the whole loop: a `ctrl_c()` made anew in each
    // `select!` would miss a Ctrl-C pressed while a message is being handled
    // (and Tokio's handler, once installed, keeps SIGINT from ending the process).
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        tokio::select! {
            msg = sub.next() => match msg {
                Some(m) => println!("received {} seq={}", m.topic, m.seq),
                None => { println!("stream ended: the client stopped"); break; }
            },
            Some(ev) = events.next() => println!("event: {ev:?}"),
            _ = &mut ctrl_c => break,
        }
    }
    client.close().await;
    Ok(())
}
