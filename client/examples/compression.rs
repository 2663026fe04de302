//! Compression — the same payload published with zlib, lz4 and zstd (above
//! a 1 KiB threshold); the subscriber receives it decompressed and sees the
//! algorithm used.
//!
//! `cargo run -p pulsemq-client --example compression`.
//! Connection settings: environment, see `examples/common/mod.rs`.

mod common;

use std::time::Duration;

use pulsemq_client::{Client, Compression, Payload, PublishOptions};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let ns = common::namespace();
    let client = Client::connect(common::options()).await?;
    let mut sub = client.subscribe(&ns, "sz000651.book").await?;
    let book: String =
        (0..200).map(|i| format!("{{\"px\":{},\"qty\":100}}", 1050 + i % 5)).collect::<Vec<_>>().join(",");
    let book = format!("[{book}]");
    for algo in [Compression::Zlib, Compression::Lz4, Compression::Zstd] {
        let opts = PublishOptions::new().compression(algo).threshold(1024);
        let ack = client.publish_with(&ns, "sz000651.book", Payload::string(book.clone()), opts).await?;
        println!("{:>4}: {} → {} bytes on the wire", algo.name(), book.len(), ack.wire_size);
        let m = tokio::time::timeout(Duration::from_secs(5), sub.next()).await?.ok_or("stream ended")?;
        assert_eq!(m.as_str(), Some(book.as_str()));
        println!("      received {} bytes, compression {:?}", m.payload.len(), m.compression);
    }
    client.close().await;
    Ok(())
}
