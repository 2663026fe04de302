//! Publishes K-line ticks.
//!
//! `cargo run -p pulsemq-client --example publisher -- HOST PUB_PORT SUB_PORT USER TOKEN [NAMESPACE] [TOPIC] [COUNT]`

use std::time::Duration;

use pulsemq_client::{Client, ClientOptions, Format};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 5 {
        eprintln!("usage: publisher HOST PUB_PORT SUB_PORT USER TOKEN [NAMESPACE] [TOPIC] [COUNT]");
        std::process::exit(2);
    }
    let opts = ClientOptions::new(
        &args[0],
        args[1].parse()?,
        args[2].parse()?,
        &args[3],
        &args[4],
    );
    let namespace = args.get(5).map(String::as_str).unwrap_or("market_data");
    let topic = args
        .get(6)
        .map(String::as_str)
        .unwrap_or("sz000651.kline.1m");
    let count: u32 = args.get(7).map(|c| c.parse()).transpose()?.unwrap_or(10);

    let client = Client::connect(opts).await?;
    for i in 0..count {
        let body = format!(
            r#"{{"symbol":"sz000651","close":{:.2},"i":{i}}}"#,
            10.0 + f64::from(i) / 100.0
        );
        let ack = client
            .publish(namespace, topic, Format::String, body)
            .await?;
        println!(
            "published #{i} to {namespace}/{topic} (request {})",
            ack.request_id
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    client.close().await;
    Ok(())
}
