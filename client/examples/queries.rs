//! README §4 — queries: the namespaces this user may see (with topics), the
//! topics of one namespace, and the user's permissions.
//!
//! `cargo run -p pulsemq-client --example queries`.
//! Connection settings: environment, see `examples/common/mod.rs`.

mod common;

use pulsemq_client::Client;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let ns = common::namespace();
    let client = Client::connect(common::options()).await?;
    for n in client.query_namespaces().await? {
        println!("namespace {} ({} topics): {:?}", n.name, n.topic_count, n.topics);
    }
    println!("topics of {ns}: {:?}", client.query_topics(&ns).await?);
    let p = client.query_permission().await?;
    println!("permissions: {p:?}");
    client.close().await;
    Ok(())
}
