//! Subscribes to a pattern and prints what arrives.
//!
//! `cargo run -p pulsemq-client --example subscriber -- HOST PUB_PORT SUB_PORT USER TOKEN [NAMESPACE] [PATTERN]`

use pulsemq_client::{Client, ClientOptions};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 5 {
        eprintln!("usage: subscriber HOST PUB_PORT SUB_PORT USER TOKEN [NAMESPACE] [PATTERN]");
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
    let pattern = args
        .get(6)
        .map(String::as_str)
        .unwrap_or("sz000651.kline.>");

    let client = Client::connect(opts).await?;
    let mut sub = client.subscribe(namespace, pattern).await?;
    println!("subscribed to {namespace}/{pattern}; Ctrl-C to stop");
    loop {
        tokio::select! {
            msg = sub.next() => match msg {
                Some(m) => println!(
                    "{}/{} seq={} from {}{}: {}",
                    m.namespace,
                    m.topic,
                    m.seq,
                    m.publisher,
                    if m.snapshot { " (snapshot)" } else { "" },
                    m.as_str().unwrap_or("<binary>")
                ),
                None => break,
            },
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    client.close().await;
    Ok(())
}
