//! Sync mode — the blocking API for code that is not async: subscriptions
//! with callbacks and publishes are registered before `run()`; `run()`
//! connects, subscribes, sends them and loops; another thread keeps
//! publishing while it runs. Stops after 10 messages.
//!
//! `cargo run -p pulsemq-client --example sync_mode`.
//! Connection settings: environment, see `examples/common/mod.rs`.

mod common;

use std::time::Duration;

use pulsemq_client::BlockingClient;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let ns = common::namespace();
    let client = BlockingClient::new(common::options());
    let stopper = client.clone();
    let mut received = 0;
    client.subscribe(&ns, "sz000651.>", move |msg| {
        received += 1;
        println!("#{received} {} seq={} {:?}", msg.topic, msg.seq, msg.as_str());
        if received == 10 {
            stopper.stop();
        }
    })?;
    client.publish(&ns, "sz000651.signal", r#"{"action":"BUY","price":10.5}"#)?;

    let other = client.clone();
    let ns2 = ns.clone();
    std::thread::spawn(move || {
        while !other.is_running() {
            std::thread::sleep(Duration::from_millis(10));
        }
        for i in 0..9 {
            if let Err(e) = other.publish(&ns2, "sz000651.trade", format!(r#"{{"i":{i}}}"#)) {
                eprintln!("publish failed: {e}");
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    });
    client.run()?;
    println!("stopped");
    Ok(())
}
