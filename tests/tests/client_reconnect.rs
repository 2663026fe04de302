//! The Rust SDK surviving a broker restart: the real `pulsemq` executable
//! is stopped and started again on the same ports and database while a
//! subscriber and a publisher are connected. With no user code involved
//! the subscriber receives again within 5 s, and the events stream tells
//! what happened. Also: with reconnect off, or with nothing to reconnect
//! to, the client stops and says so.

use std::time::{Duration, Instant};

use pulsemq_client::{Client, ClientError, Event, Format};
use pulsemq_e2e::{client_options, free_port, BinaryBroker, TestConfig};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

/// README §8: kill and restart the broker mid-stream.
#[test]
fn subscriber_receives_again_within_5s_after_broker_restart() {
    let cfg = TestConfig { pub_port: free_port(), sub_port: free_port(), ..TestConfig::default() };
    let broker = BinaryBroker::start(&cfg);
    assert_eq!((broker.pub_port, broker.sub_port), (cfg.pub_port, cfg.sub_port));
    let token = broker.admin.token.clone();
    let rt = runtime();
    let opts = client_options(cfg.pub_port, cfg.sub_port, "admin", &token);
    let (sub_client, mut sub, mut events, publisher) = rt.block_on(async {
        let sub_client = Client::connect(opts.clone()).await.unwrap();
        let events = sub_client.events();
        let mut sub = sub_client.subscribe("market_data", "sz000651.>").await.unwrap();
        let publisher = Client::connect(opts.clone()).await.unwrap();
        for i in 0..5 {
            publisher.publish("market_data", "sz000651.tick", Format::String, format!("before {i}")).await.unwrap();
        }
        for i in 0..5 {
            let m = tokio::time::timeout(Duration::from_secs(5), sub.next()).await.unwrap().unwrap();
            assert_eq!(m.as_str(), Some(format!("before {i}").as_str()));
        }
        (sub_client, sub, events, publisher)
    });

    let dir = broker.stop();
    let broker = BinaryBroker::start_in(dir, &cfg);
    let restarted = Instant::now();
    assert_eq!(broker.admin.token, token, "same database, same credentials");

    rt.block_on(async {
        // The publisher keeps publishing; neither client's code does
        // anything about the restart.
        let p = publisher.clone();
        let feeder = tokio::spawn(async move {
            let mut n = 0u32;
            loop {
                let _ = tokio::time::timeout(
                    Duration::from_secs(2),
                    p.publish("market_data", "sz000651.tick", Format::String, format!("after {n}")),
                )
                .await;
                n += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        let m = tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                let m = sub.next().await.expect("the stream stays open across the restart");
                if m.as_str().is_some_and(|s| s.starts_with("after")) {
                    return m;
                }
            }
        })
        .await
        .expect("subscriber receives again within 5 s of the restart");
        let took = restarted.elapsed();
        eprintln!("receiving again {took:?} after the broker was back; first message {:?} seq {}", m.as_str(), m.seq);
        feeder.abort();

        let mut seen = Vec::new();
        while let Some(e) = events.try_next() {
            seen.push(e);
        }
        assert!(seen.iter().any(|e| matches!(e, Event::Disconnected { .. })), "{seen:?}");
        assert!(seen.iter().any(|e| matches!(e, Event::Reconnected { resubscribed: 1, .. })), "{seen:?}");
        assert!(sub_client.is_connected());
        assert!(sub_client.stats().reconnects >= 1);
        // Requests work in the new session.
        sub_client.ping().await.unwrap();
        publisher.publish("market_data", "sz000651.tick", Format::String, "final").await.unwrap();
        sub_client.close().await;
        publisher.close().await;
    });
    drop(broker);
}

/// `reconnect(false)`: the first loss stops the client; streams end and
/// calls fail with `Disconnected`.
#[test]
fn without_reconnect_a_restart_ends_the_client() {
    let cfg = TestConfig { pub_port: free_port(), sub_port: free_port(), ..TestConfig::default() };
    let broker = BinaryBroker::start(&cfg);
    let rt = runtime();
    let opts = client_options(cfg.pub_port, cfg.sub_port, "admin", &broker.admin.token).reconnect(false);
    let (c, mut sub, mut events) = rt.block_on(async {
        let c = Client::connect(opts).await.unwrap();
        let events = c.events();
        let sub = c.subscribe("md", ">").await.unwrap();
        (c, sub, events)
    });
    let _dir = broker.stop();
    rt.block_on(async {
        assert!(tokio::time::timeout(Duration::from_secs(5), sub.next()).await.unwrap().is_none(), "stream ends");
        assert!(matches!(events.next().await, Some(Event::Disconnected { .. })));
        let e = c.publish("md", "x", Format::Bytes, b"x".to_vec()).await.unwrap_err();
        assert_eq!(e, ClientError::Disconnected);
    });
}

/// Back-off gives up after the configured attempts when the broker never
/// comes back: `ReconnectFailed`, then the client is closed.
#[test]
fn reconnect_gives_up_after_max_attempts() {
    let cfg = TestConfig { pub_port: free_port(), sub_port: free_port(), ..TestConfig::default() };
    let broker = BinaryBroker::start(&cfg);
    let rt = runtime();
    let opts = client_options(cfg.pub_port, cfg.sub_port, "admin", &broker.admin.token).reconnect_backoff(
        Duration::from_millis(100),
        Duration::from_millis(200),
        3,
    );
    let (c, mut events) = rt.block_on(async {
        let c = Client::connect(opts).await.unwrap();
        let events = c.events();
        (c, events)
    });
    let _dir = broker.stop();
    rt.block_on(async {
        let mut attempts = Vec::new();
        let failed = tokio::time::timeout(Duration::from_secs(10), async {
            while let Some(e) = events.next().await {
                match e {
                    Event::Reconnecting { attempt, max_attempts, .. } => {
                        assert_eq!(max_attempts, 3);
                        attempts.push(attempt);
                    }
                    Event::ReconnectFailed { attempts } => return attempts,
                    _ => {}
                }
            }
            panic!("events ended without ReconnectFailed");
        })
        .await
        .unwrap();
        assert_eq!(failed, 3);
        assert_eq!(attempts, [1, 2, 3]);
        let e = c.ping().await.unwrap_err();
        assert_eq!(e, ClientError::Disconnected);
    });
}
