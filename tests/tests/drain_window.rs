//! The broker's drain markers (PINGs on the delivery port, see
//! `engine::drain`) with the Rust SDK as the subscriber: it answers them
//! as it reads, so far more than the byte limit flows through a session
//! without a loss.

use std::time::Duration;

use pulsemq_client::{Client, Format};
use pulsemq_e2e::{client_options, InProcBroker, TestConfig};

const KIB: usize = 1024;

#[test]
fn an_sdk_subscriber_confirms_what_it_reads_and_loses_nothing() {
    // 1 MiB in flight unconfirmed (+ 1 MiB parked) per session; 24 MiB go through.
    let cfg = TestConfig { session_buffer_bytes: 1024 * KIB as u64, ..TestConfig::default() };
    let b = InProcBroker::start(&cfg);
    b.namespace("md");
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let clients = rt.block_on(async {
        let opts = || client_options(b.pub_port, b.sub_port, "admin", &b.admin.token);
        let publ = Client::connect(opts()).await.unwrap();
        let subc = Client::connect(opts()).await.unwrap();
        let mut sub = subc.subscribe("md", "big").await.unwrap();
        let (rounds, per_round) = (48, 2);
        for round in 0..rounds {
            for _ in 0..per_round {
                publ.publish_no_ack("md", "big", Format::Bytes, vec![1u8; 256 * KIB]).await.unwrap();
            }
            for i in 0..per_round {
                let m = tokio::time::timeout(Duration::from_secs(10), sub.next())
                    .await
                    .unwrap_or_else(|_| panic!("round {round}, message {i}: lost (no PONG for the drain markers?)"))
                    .expect("stream open");
                assert_eq!(m.seq, (round * per_round + i + 1) as u64, "no gap");
            }
        }
        assert_eq!(subc.stats().gaps, 0);
        (publ, subc)
    });
    assert_eq!(b.drops_of("md:big"), [0], "12 times the byte limit went through without a drop");
    rt.block_on(async {
        clients.0.close().await;
        clients.1.close().await;
    });
}
