//! The Rust SDK (`pulsemq-client`) against the real broker: the flows of
//! the seed README sections its examples follow, payload formats,
//! compression, concurrency on one client, gap events, the blocking API.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pulsemq::perms::{Role, UserType};
use pulsemq_client::arrow_array::{Float64Array, Int64Array, StringArray, TimestampMillisecondArray};
use pulsemq_client::arrow_schema::{DataType, Field, Schema, TimeUnit};
use pulsemq_client::{
    BlockingClient, Client, ClientError, Compression, Data, Event, Format, Message, Payload, PublishOptions,
    RecordBatch, Subscription,
};
use pulsemq_e2e::raw::RawPeer;
use pulsemq_e2e::{client_options, request, InProcBroker, TestConfig};
use pulsemq_shared::header::flags;
use pulsemq_shared::MsgType;
use serde::{Deserialize, Serialize};

const WAIT: Duration = Duration::from_secs(10);

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

async fn admin(b: &InProcBroker) -> Client {
    Client::connect(client_options(b.pub_port, b.sub_port, "admin", &b.admin.token)).await.expect("admin connects")
}

async fn next(sub: &mut Subscription) -> Message {
    tokio::time::timeout(WAIT, sub.next()).await.expect("a message within 10 s").expect("stream open")
}

/// Nothing more arrives within a short quiet period.
async fn quiet(sub: &mut Subscription) {
    if let Ok(Some(m)) = tokio::time::timeout(Duration::from_millis(300), sub.next()).await {
        panic!("unexpected {}/{}", m.namespace, m.topic);
    }
}

/// README §1: namespace, publisher and subscriber users with their roles;
/// K-lines published as BYTES; `sz000651.kline.>` receives exactly those,
/// with the seed's `PulseMessage` fields filled in. Also what the two roles
/// may not do, as typed errors.
#[test]
fn example_publisher_and_subscriber_flow() {
    let b = InProcBroker::start(&TestConfig::default());
    let ns = b.namespace("market_data");
    let publisher = b.user("publisher_01", UserType::MqNormal);
    let subscriber = b.user("subscriber_01", UserType::MqNormal);
    b.grant(&publisher, ns, Role::Pub);
    b.grant(&subscriber, ns, Role::Sub);
    runtime().block_on(async {
        let sub_client =
            Client::connect(client_options(b.pub_port, b.sub_port, "subscriber_01", &subscriber.token)).await.unwrap();
        let mut klines = sub_client.subscribe("market_data", "sz000651.kline.>").await.unwrap();
        let pub_client =
            Client::connect(client_options(b.pub_port, b.sub_port, "publisher_01", &publisher.token)).await.unwrap();
        let before = std::time::SystemTime::now();
        for (i, topic) in ["sz000651.kline.1m", "sz000651.trade", "sz000651.kline.5m"].iter().enumerate() {
            let body = format!(r#"{{"symbol":"sz000651","close":{}}}"#, 10.55 + i as f64);
            pub_client.publish_payload("market_data", topic, body.into_bytes()).await.unwrap();
        }
        let m1 = next(&mut klines).await;
        let m2 = next(&mut klines).await;
        quiet(&mut klines).await;
        assert_eq!((m1.topic.as_str(), m2.topic.as_str()), ("sz000651.kline.1m", "sz000651.kline.5m"));
        assert_eq!(m1.namespace, "market_data");
        assert_eq!(m1.publisher, "publisher_01");
        assert_eq!(m1.format, Format::Bytes);
        assert_eq!(m1.compression, None);
        assert_eq!((m1.seq, m2.seq), (1, 1));
        assert!(m1.timestamp() >= before - Duration::from_secs(1));
        assert!(m1.broker_time() >= m1.timestamp() - Duration::from_secs(1));
        assert!(matches!(m1.data().unwrap(), Data::Bytes(b) if b.starts_with(b"{\"symbol\"")));

        let e = sub_client.publish("market_data", "x", Format::Bytes, b"no".to_vec()).await.unwrap_err();
        assert!(matches!(e, ClientError::PermissionDenied(_)), "{e:?}");
        let e = sub_client.subscribe("elsewhere", ">").await.unwrap_err();
        assert!(matches!(e, ClientError::PermissionDenied(_)), "{e:?}");
        let e = Client::connect(client_options(b.pub_port, b.sub_port, "publisher_01", "wrong")).await.unwrap_err();
        assert!(matches!(e, ClientError::AuthFailed(_)), "{e:?}");
        let e = pub_client.publish("market_data", "a", Format::String, vec![b'x'; 8193]).await.unwrap_err();
        assert!(matches!(e, ClientError::TooLarge { limit: 8192, .. }), "{e:?}");
        sub_client.close().await;
        pub_client.close().await;
    });
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Tick {
    symbol: String,
    price: f64,
    volume: i64,
}

fn tick_batch(rows: usize, offset: i64) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new("symbol", DataType::Utf8, false),
        Field::new("timestamp", DataType::Timestamp(TimeUnit::Millisecond, None), false),
        Field::new("price", DataType::Float64, true),
        Field::new("volume", DataType::Int64, false),
    ]));
    let n = rows as i64;
    let t0 = 1_735_689_600_000i64; // 2025-01-01
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(StringArray::from_iter_values((0..n).map(|i| if i % 2 == 0 { "sz000651" } else { "sz000002" }))),
            Arc::new(TimestampMillisecondArray::from_iter_values((0..n).map(|i| t0 + offset + i))),
            Arc::new(Float64Array::from_iter(
                (0..n).map(|i| (i % 1000 != 7).then_some(10.5 + (i % 100) as f64 * 0.001)),
            )),
            Arc::new(Int64Array::from_iter_values((0..n).map(|i| 100 + i % 400))),
        ],
    )
    .unwrap()
}

/// README §2: the four formats — BYTES, STRING, MessagePack records (typed
/// rows and generic maps) and Arrow (a 100 000-row batch, and a stream of
/// several batches) — arrive equal to what was sent.
#[test]
fn example_multiple_formats_round_trip() {
    let b = InProcBroker::start(&TestConfig::default());
    b.namespace("market_data");
    runtime().block_on(async {
        let c = admin(&b).await;
        let mut sub = c.subscribe("market_data", "sz000651.>").await.unwrap();

        c.publish_payload("market_data", "sz000651.raw", Payload::bytes(vec![1u8, 2, 3, 4])).await.unwrap();
        let m = next(&mut sub).await;
        assert_eq!((m.format, &m.payload[..]), (Format::Bytes, &[1u8, 2, 3, 4][..]));

        c.publish_payload("market_data", "sz000651.signal", r#"{"action":"BUY","price":10.5}"#).await.unwrap();
        let m = next(&mut sub).await;
        assert_eq!(m.data().unwrap(), Data::String(r#"{"action":"BUY","price":10.5}"#.into()));

        let ticks: Vec<Tick> = (0..1000)
            .map(|i| Tick { symbol: "sz000651".into(), price: 10.5 + i as f64 / 100.0, volume: 100 + i })
            .collect();
        c.publish_payload("market_data", "sz000651.snapshot", Payload::records(&ticks).unwrap()).await.unwrap();
        let m = next(&mut sub).await;
        assert_eq!(m.format, Format::DfMsgpack);
        assert_eq!(m.records::<Tick>().unwrap(), ticks);
        match m.data().unwrap() {
            Data::Records(rows) => {
                assert_eq!(rows.len(), 1000);
                let first = rows[0].as_map().unwrap();
                let keys: Vec<&str> = first.iter().map(|(k, _)| k.as_str().unwrap()).collect();
                assert_eq!(keys, ["symbol", "price", "volume"], "column order kept");
            }
            other => panic!("{other:?}"),
        }
        // Maps work as rows too.
        let maps: Vec<BTreeMap<String, f64>> = vec![BTreeMap::from([("a".to_string(), 1.5)])];
        c.publish_payload("market_data", "sz000651.map", Payload::records(&maps).unwrap()).await.unwrap();
        assert_eq!(next(&mut sub).await.records::<BTreeMap<String, f64>>().unwrap(), maps);

        let big = tick_batch(100_000, 0);
        let started = Instant::now();
        let ack = c
            .publish_payload("market_data", "sz000651.tick_batch", Payload::arrow(std::slice::from_ref(&big)).unwrap())
            .await
            .unwrap();
        let m = next(&mut sub).await;
        assert_eq!(m.format, Format::DfArrow);
        let got = m.record_batches().unwrap();
        eprintln!("100 000-row Arrow batch: {} bytes, round trip {:?}", ack.wire_size, started.elapsed());
        assert_eq!(got, vec![big]);

        let parts = vec![tick_batch(10, 0), tick_batch(2000, 10), tick_batch(1, 2010)];
        c.publish_payload("market_data", "sz000651.tick_batch", Payload::arrow(&parts).unwrap()).await.unwrap();
        match next(&mut sub).await.data().unwrap() {
            Data::Arrow(got) => assert_eq!(got, parts),
            other => panic!("{other:?}"),
        }
        c.close().await;
    });
}

/// Compression per publish: each algorithm sets its flag bits, the
/// subscriber gets the original bytes back and sees which algorithm was
/// used; below the threshold nothing is compressed; a 100 000-row Arrow
/// batch goes compressed with each algorithm. A decompression bomb sent by
/// a raw peer is refused and reported, and the stream goes on.
#[test]
fn example_compression_each_algorithm() {
    let b = InProcBroker::start(&TestConfig::default());
    b.namespace("md");
    runtime().block_on(async {
        let c = admin(&b).await;
        let mut events = c.events();
        let mut sub = c.subscribe("md", ">").await.unwrap();
        let text: String = (0..400).map(|i| format!("{{\"close\":{}}}", 10 + i % 3)).collect::<Vec<_>>().join(",");
        assert!(text.len() < 8192);
        let batch = tick_batch(100_000, 0);
        for algo in [Compression::Zlib, Compression::Lz4, Compression::Zstd] {
            let opts = PublishOptions::new().compression(algo).threshold(1024);
            let ack = c.publish_with("md", "z.text", Payload::string(text.clone()), opts).await.unwrap();
            assert_eq!(ack.compression, Some(algo));
            assert!(ack.wire_size < text.len() / 4, "{algo:?}: {}", ack.wire_size);
            let m = next(&mut sub).await;
            assert_eq!(m.compression, Some(algo));
            assert_eq!(m.flags & (flags::COMPRESSED | flags::ALGO_MASK), flags::COMPRESSED | algo.bits());
            assert_eq!(m.as_str(), Some(text.as_str()));

            let raw = Payload::arrow(std::slice::from_ref(&batch)).unwrap();
            let ack = c.publish_with("md", "z.arrow", raw.clone(), opts).await.unwrap();
            eprintln!("{algo:?}: Arrow {} → {} bytes", raw.len(), ack.wire_size);
            let m = next(&mut sub).await;
            assert_eq!(m.compression, Some(algo));
            assert_eq!(m.record_batches().unwrap(), vec![batch.clone()]);

            let small = c.publish_with("md", "z.small", Payload::string("tiny"), opts).await.unwrap();
            assert_eq!(small.compression, None);
            assert_eq!(next(&mut sub).await.compression, None);
        }

        // Client-wide default compression applies to plain publishes.
        let zc = Client::connect(
            client_options(b.pub_port, b.sub_port, "admin", &b.admin.token).compression(Some(Compression::Lz4), 100),
        )
        .await
        .unwrap();
        zc.publish("md", "z.default", Format::String, text.clone()).await.unwrap();
        assert_eq!(next(&mut sub).await.compression, Some(Compression::Lz4));

        // 9 KiB of zeros as zstd: a few bytes on the wire, beyond STRING's limit inflated.
        let bomb = zstd_frame_of_zeros(9 * 1024);
        let raw = RawPeer::login(b.pub_port, b.sub_port, "admin", &b.admin.token);
        raw.send_raw(&request(MsgType::Pub, Format::String, flags::COMPRESSED | 0x30, 900, "md", "z.bomb", &bomb));
        assert_eq!(raw.recv(WAIT).unwrap().status().as_deref(), Some("PUB_OK"));
        zc.publish("md", "z.after", Format::String, "after").await.unwrap();
        let m = next(&mut sub).await;
        assert_eq!(m.topic, "z.after", "the bomb was skipped");
        let ev = tokio::time::timeout(WAIT, async {
            loop {
                if let Some(Event::Undecodable { topic, error, .. }) = events.next().await {
                    return (topic, error);
                }
            }
        })
        .await
        .unwrap();
        assert_eq!(ev.0, "z.bomb");
        assert!(matches!(ev.1, ClientError::TooLarge { limit: 8192, .. }), "{:?}", ev.1);
        assert_eq!(c.stats().undecodable, 1);
        c.close().await;
        zc.close().await;
    });
}

/// A zstd frame that inflates to `n` zeros from 12 bytes (a decompression
/// bomb in miniature), made by hand so the test needs no zstd crate.
fn zstd_frame_of_zeros(n: usize) -> Vec<u8> {
    // Minimal hand-made zstd frame: magic, frame header (single segment,
    // 2-byte content size), one RLE block of `n` zeros.
    assert!(n > 255 && n < 65536 + 256);
    let mut f = vec![0x28, 0xb5, 0x2f, 0xfd];
    f.push(0x60); // FHD: single segment, FCS field 2 bytes
    f.extend(((n - 256) as u16).to_le_bytes());
    let block_header = ((n as u32) << 3) | (1 << 1) | 1; // last block, RLE
    f.extend(&block_header.to_le_bytes()[..3]);
    f.push(0);
    f
}

/// README §3: the wildcard examples — `sz000651.>` and `*.kline.1m` on one
/// client, each getting exactly its matches even where they overlap.
#[test]
fn example_wildcards() {
    let b = InProcBroker::start(&TestConfig::default());
    b.namespace("market_data");
    runtime().block_on(async {
        let c = admin(&b).await;
        let mut all = c.subscribe("market_data", "sz000651.>").await.unwrap();
        let mut m1 = c.subscribe("market_data", "*.kline.1m").await.unwrap();
        let mut star = c.subscribe("market_data", "sz000651.kline.*").await.unwrap();
        for t in ["sz000651.kline.1m", "sz000651.trade", "sz000002.kline.1m", "sz000651.kline.5m", "sz000651"] {
            c.publish("market_data", t, Format::String, "x").await.unwrap();
        }
        for (sub, want) in [
            (&mut all, vec!["sz000651.kline.1m", "sz000651.trade", "sz000651.kline.5m"]),
            (&mut m1, vec!["sz000651.kline.1m", "sz000002.kline.1m"]),
            (&mut star, vec!["sz000651.kline.1m", "sz000651.kline.5m"]),
        ] {
            let mut topics = Vec::new();
            for _ in 0..want.len() {
                topics.push(next(sub).await.topic);
            }
            quiet(sub).await;
            assert_eq!(topics, want);
        }
        let e = c.subscribe("market_data", "a.>.b").await.unwrap_err();
        assert!(matches!(e, ClientError::InvalidName(_)), "{e:?}");
        c.close().await;
    });
}

/// README §4: namespaces with their topics, the topics of one namespace,
/// and the user's permissions.
#[test]
fn example_queries() {
    let b = InProcBroker::start(&TestConfig::default());
    let ns = b.namespace("market_data");
    b.namespace("hidden");
    let q = b.user("query_user", UserType::MqNormal);
    b.grant(&q, ns, Role::Sub);
    runtime().block_on(async {
        let a = admin(&b).await;
        for t in ["sz000651.kline.1m", "sz000651.kline.5m", "sz000651.trade"] {
            a.publish("market_data", t, Format::String, "x").await.unwrap();
        }
        let c = Client::connect(client_options(b.pub_port, b.sub_port, "query_user", &q.token)).await.unwrap();
        let topics = pulsemq_e2e_wait(|| {
            let c = c.clone();
            async move { c.query_topics("market_data").await.ok().filter(|t| t.len() == 3) }
        })
        .await;
        assert_eq!(topics, ["sz000651.kline.1m", "sz000651.kline.5m", "sz000651.trade"]);
        let names: Vec<String> = c.query_namespaces().await.unwrap().into_iter().map(|n| n.name).collect();
        assert_eq!(names, ["market_data"], "only what the user may see");
        let perm = c.query_permission().await.unwrap();
        assert_eq!(perm.namespaces.get("market_data").map(String::as_str), Some("SUB"), "{perm:?}");
        c.close().await;
        a.close().await;
    });
}

/// Retries an async probe until it yields (topics reach the registry in the background).
async fn pulsemq_e2e_wait<T, F: std::future::Future<Output = Option<T>>>(mut f: impl FnMut() -> F) -> T {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// README §5: three subscriber users with their own clients and patterns,
/// running concurrently, each receiving exactly its matches.
#[test]
fn example_concurrent_subscribers() {
    let b = InProcBroker::start(&TestConfig::default());
    let ns = b.namespace("market_data");
    let users: Vec<_> = ["sub_kline", "sub_trade", "sub_all"]
        .iter()
        .map(|n| {
            let u = b.user(n, UserType::MqNormal);
            b.grant(&u, ns, Role::Sub);
            u
        })
        .collect();
    runtime().block_on(async {
        let patterns = ["sz000651.kline.>", "sz000651.trade", "sz000651.>"];
        let expected = [2usize, 1, 3];
        let mut tasks = Vec::new();
        let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel(3);
        for (i, u) in users.iter().enumerate() {
            let opts = client_options(b.pub_port, b.sub_port, &u.username, &u.token);
            let (pattern, n, ready) = (patterns[i], expected[i], ready_tx.clone());
            tasks.push(tokio::spawn(async move {
                let c = Client::connect(opts).await.unwrap();
                let mut sub = c.subscribe("market_data", pattern).await.unwrap();
                ready.send(()).await.unwrap();
                let mut topics = Vec::new();
                for _ in 0..n {
                    topics.push(next(&mut sub).await.topic);
                }
                quiet(&mut sub).await;
                c.close().await;
                topics
            }));
        }
        for _ in 0..3 {
            ready_rx.recv().await.unwrap();
        }
        let a = admin(&b).await;
        for t in ["sz000651.kline.1m", "sz000651.trade", "sz000651.kline.5m", "sz000002.trade"] {
            a.publish("market_data", t, Format::Bytes, b"k".to_vec()).await.unwrap();
        }
        let got: Vec<Vec<String>> =
            futures_util::future::join_all(tasks).await.into_iter().map(|r| r.unwrap()).collect();
        assert_eq!(got[0], ["sz000651.kline.1m", "sz000651.kline.5m"]);
        assert_eq!(got[1], ["sz000651.trade"]);
        assert_eq!(got[2], ["sz000651.kline.1m", "sz000651.trade", "sz000651.kline.5m"]);
        a.close().await;
    });
}

/// 50 tasks on ONE client, each with its own subscription and topic,
/// publishing (ACK and NO_ACK) and querying concurrently: every publish gets
/// its own ACK, every subscription receives exactly its own messages in
/// order, queries return their own answers.
#[test]
fn fifty_concurrent_publishers_and_subscribers_on_one_client() {
    let b = InProcBroker::start(&TestConfig::default());
    b.namespace("md");
    b.namespace("other");
    runtime().block_on(async {
        let c = admin(&b).await;
        const TASKS: usize = 50;
        const EACH: usize = 40;
        let mut handles = Vec::new();
        for i in 0..TASKS {
            let c = c.clone();
            handles.push(tokio::spawn(async move {
                let topic = format!("task{i}.data");
                let mut sub = c.subscribe("md", &format!("task{i}.>")).await.unwrap();
                let mut ids = Vec::new();
                for j in 0..EACH {
                    let body = format!("{i}:{j}");
                    if j % 4 == 3 {
                        c.publish_no_ack("md", &topic, Format::String, body).await.unwrap();
                    } else {
                        ids.push(c.publish("md", &topic, Format::String, body).await.unwrap().request_id);
                    }
                    if j % 10 == 0 {
                        let ns = if i % 2 == 0 { "md" } else { "other" };
                        let topics = c.query_topics(ns).await.unwrap();
                        assert!(topics.iter().all(|t| ns == "md" || !t.starts_with("task")), "crossed query reply");
                    }
                }
                let mut bodies = Vec::new();
                for _ in 0..EACH {
                    let m = next(&mut sub).await;
                    assert_eq!(m.topic, topic, "crossed delivery");
                    bodies.push(m.as_str().unwrap().to_owned());
                }
                quiet(&mut sub).await;
                let want: Vec<String> = (0..EACH).map(|j| format!("{i}:{j}")).collect();
                assert_eq!(bodies, want, "task {i}");
                ids
            }));
        }
        let mut all_ids = std::collections::HashSet::new();
        for h in handles {
            for id in h.await.unwrap() {
                assert!(all_ids.insert(id), "request id {id} acknowledged twice");
            }
        }
        assert_eq!(all_ids.len(), TASKS * EACH * 3 / 4);
        assert!(c.take_async_errors().is_empty());
        let s = c.stats();
        assert_eq!(s.published, (TASKS * EACH) as u64);
        assert_eq!(s.gaps, 0);
        c.close().await;
    });
}

/// A command queue of two: most of 600 concurrent publishes find it full
/// and wait for room (back-pressure). Every acknowledged publish gets its
/// own ACK, NO_ACK ones are not lost, and the subscriber sees all of them
/// in the order each publish was first polled.
#[test]
fn publishes_wait_for_room_in_a_full_command_queue() {
    use futures_util::stream::{self, StreamExt};
    let b = InProcBroker::start(&TestConfig::default());
    b.namespace("md");
    runtime().block_on(async {
        let sub_client = admin(&b).await;
        let mut sub = sub_client.subscribe("md", "q.>").await.unwrap();
        let opts = client_options(b.pub_port, b.sub_port, "admin", &b.admin.token).command_capacity(2);
        let c = Client::connect(opts).await.unwrap();
        // Futures of the async API stay small (see Client::queue_publish);
        // an unpolled one is dropped without sending anything.
        let f = c.publish("md", "q.t", Format::String, "never sent");
        assert!(std::mem::size_of_val(&f) <= 512, "publish future is {} bytes", std::mem::size_of_val(&f));
        drop(f);
        const N: usize = 600;
        let results: Vec<Result<Option<u32>, ClientError>> = stream::iter(0..N)
            .map(|i| {
                let c = c.clone();
                async move {
                    let body = format!("{i}");
                    if i % 3 == 2 {
                        c.publish_no_ack("md", "q.t", Format::String, body).await.map(|_| None)
                    } else {
                        c.publish("md", "q.t", Format::String, body).await.map(|a| Some(a.request_id))
                    }
                }
            })
            .buffered(N)
            .collect()
            .await;
        let ids: std::collections::HashSet<u32> = results.into_iter().filter_map(|r| r.unwrap()).collect();
        assert_eq!(ids.len(), N * 2 / 3, "one ACK per acknowledged publish");
        for i in 0..N {
            let m = next(&mut sub).await;
            assert_eq!(m.as_str(), Some(format!("{i}").as_str()), "delivery {i} out of order");
            assert_eq!(m.seq, i as u64 + 1);
        }
        quiet(&mut sub).await;
        assert!(c.take_async_errors().is_empty());
        assert_eq!(c.stats().published, N as u64);
        c.close().await;
        sub_client.close().await;
    });
}

/// NO_ACK publishes at a modest pace leave from the caller's thread (the
/// I/O thread is idle between them), keep their order with a burst and
/// acknowledged publishes that go through the I/O thread, and a refusal
/// still comes back as an async error: its reply arrives on a socket the
/// I/O thread was not using when it was sent.
#[test]
fn paced_no_ack_publishes_leave_directly_and_in_order() {
    let b = InProcBroker::start(&TestConfig::default());
    let ns = b.namespace("md");
    b.namespace("other");
    let user = b.user("feed", UserType::MqNormal);
    b.grant(&user, ns, Role::Pub);
    runtime().block_on(async {
        let sub_client = admin(&b).await;
        let mut sub = sub_client.subscribe("md", "d.>").await.unwrap();
        let c = Client::connect(client_options(b.pub_port, b.sub_port, "feed", &user.token)).await.unwrap();
        const N: usize = 300;
        for i in 0..N {
            let body = format!("{i}");
            if i % 50 == 49 {
                c.publish("md", "d.t", Format::String, body).await.unwrap();
            } else {
                c.publish_no_ack("md", "d.t", Format::String, body).await.unwrap();
            }
            // A burst in the middle is left to the I/O thread.
            if !(100..200).contains(&i) {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
        for i in 0..N {
            let m = next(&mut sub).await;
            assert_eq!(m.as_str(), Some(format!("{i}").as_str()), "delivery {i} out of order");
            assert_eq!(m.seq, i as u64 + 1);
        }
        quiet(&mut sub).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
        let denied = c.publish_no_ack("other", "d.t", Format::String, "x").await.unwrap();
        let errors = pulsemq_e2e_wait(|| {
            let e = c.take_async_errors();
            async move { (!e.is_empty()).then_some(e) }
        })
        .await;
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].request_id, denied);
        assert!(matches!(errors[0].error, ClientError::PermissionDenied(_)), "{:?}", errors[0].error);
        let st = c.stats();
        assert_eq!(st.published, N as u64 + 1);
        let no_ack = (N - N / 50 + 1) as u64;
        assert!(st.sent_direct > no_ack / 2, "only {} of {no_ack} NO_ACK publishes left directly", st.sent_direct);
        assert!(st.sent_direct < no_ack, "the burst went through the I/O thread");
        c.close().await;
        sub_client.close().await;
    });
}

/// A session the broker ends (admin kick) while messages keep flowing:
/// the client notices at its next request, re-establishes the session by
/// itself, and reports the messages it missed as a sequence gap (event and
/// counters).
#[test]
fn sequence_gaps_are_reported() {
    let b = InProcBroker::start(&TestConfig::default());
    let ns = b.namespace("md");
    let watcher = b.user("watcher", UserType::MqNormal);
    b.grant(&watcher, ns, Role::Pub);
    let rt = runtime();
    let (c, mut sub, mut events, a) = rt.block_on(async {
        let c = Client::connect(client_options(b.pub_port, b.sub_port, "watcher", &watcher.token)).await.unwrap();
        let events = c.events();
        let mut sub = c.subscribe("md", "book.>").await.unwrap();
        let a = admin(&b).await;
        a.publish("md", "book.x", Format::String, "1").await.unwrap();
        assert_eq!(next(&mut sub).await.seq, 1);
        (c, sub, events, a)
    });
    assert_eq!(b.kick(&watcher), 1);
    rt.block_on(async {
        for i in 2..=5 {
            a.publish("md", "book.x", Format::String, format!("{i}")).await.unwrap();
        }
        // The next request meets "not authenticated": re-AUTH, re-SUB, resend.
        c.publish("md", "book.y", Format::String, "mine").await.unwrap();
        let deadline = Instant::now() + WAIT;
        while c.stats().reconnects == 0 {
            assert!(Instant::now() < deadline, "no reconnect");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        a.publish("md", "book.x", Format::String, "6").await.unwrap();
        let mut seqs = Vec::new();
        while seqs.last() != Some(&6) {
            let m = next(&mut sub).await;
            if m.topic == "book.x" {
                seqs.push(m.seq);
            }
        }
        assert_eq!(seqs, [6]);
        let gap = tokio::time::timeout(WAIT, async {
            loop {
                match events.next().await {
                    Some(e @ Event::SequenceGap { .. }) => return e,
                    Some(_) => {}
                    None => panic!("events ended"),
                }
            }
        })
        .await
        .unwrap();
        assert_eq!(
            gap,
            Event::SequenceGap { namespace: "md".into(), topic: "book.x".into(), expected: 2, received: 6 }
        );
        assert_eq!(gap.missed(), 4);
        let s = c.stats();
        assert_eq!((s.gaps, s.missed), (1, 4));
        c.close().await;
        a.close().await;
    });
}

/// The seed's sync mode: subscriptions with callbacks and publishes
/// registered before `run()`; `run()` connects, subscribes, sends them and
/// loops; another thread publishes while it runs; a callback stops it.
#[test]
fn example_sync_mode() {
    let b = InProcBroker::start(&TestConfig::default());
    b.namespace("market_data");
    let client = BlockingClient::new(client_options(b.pub_port, b.sub_port, "admin", &b.admin.token));
    let seen = Arc::new(Mutex::new(Vec::<(String, String)>::new()));
    let (s2, stopper) = (seen.clone(), client.clone());
    client
        .subscribe("market_data", "sz000651.>", move |m| {
            let body = m.as_str().unwrap_or("").to_owned();
            let done = body == "from-thread";
            s2.lock().unwrap().push((m.topic, body));
            if done {
                stopper.stop();
            }
        })
        .unwrap();
    client.publish("market_data", "sz000651.kline.1m", "registered").unwrap();
    assert!(!client.is_running());
    let other = client.clone();
    let publisher = std::thread::spawn(move || {
        let deadline = Instant::now() + WAIT;
        while !other.is_running() {
            assert!(Instant::now() < deadline, "run() never started");
            std::thread::sleep(Duration::from_millis(10));
        }
        std::thread::sleep(Duration::from_millis(200));
        other.publish("market_data", "sz000651.trade", "from-thread").unwrap();
    });
    let started = Instant::now();
    client.run().unwrap();
    publisher.join().unwrap();
    assert!(started.elapsed() < WAIT);
    assert!(!client.is_running());
    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        seen,
        [
            ("sz000651.kline.1m".to_string(), "registered".to_string()),
            ("sz000651.trade".to_string(), "from-thread".to_string())
        ]
    );
}

/// `next_spin` on a thread of its own (as documented): messages published
/// while it spins and after it has parked both arrive, in order; a zero
/// budget parks at once; the stream's end is seen after close.
#[test]
fn next_spin_receives_while_spinning_and_after_parking() {
    let b = InProcBroker::start(&TestConfig::default());
    b.namespace("spin");
    let rt = runtime();
    let (client, mut sub) = rt.block_on(async {
        let c = admin(&b).await;
        let sub = c.subscribe("spin", ">").await.unwrap();
        (c, sub)
    });
    let handle = rt.handle().clone();
    let consumer = std::thread::spawn(move || {
        handle.block_on(async move {
            let mut got = Vec::new();
            // Long budget: the first message arrives while spinning.
            let m = tokio::time::timeout(WAIT, sub.next_spin(Duration::from_secs(5))).await.expect("spun").unwrap();
            got.push((m.topic.clone(), m.payload.to_vec()));
            // Tiny budget: parks long before the second one is published.
            let m =
                tokio::time::timeout(WAIT, sub.next_spin(Duration::from_micros(10))).await.expect("parked").unwrap();
            got.push((m.topic.clone(), m.payload.to_vec()));
            (got, sub)
        })
    });
    rt.block_on(async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        client.publish("spin", "a", Format::Bytes, b"1".to_vec()).await.unwrap();
        tokio::time::sleep(Duration::from_millis(500)).await;
        client.publish("spin", "b", Format::Bytes, b"2".to_vec()).await.unwrap();
    });
    let (got, mut sub) = consumer.join().expect("consumer");
    assert_eq!(got, vec![("a".to_string(), b"1".to_vec()), ("b".to_string(), b"2".to_vec())]);
    rt.block_on(async {
        client.publish("spin", "c", Format::Bytes, b"3".to_vec()).await.unwrap();
        // Zero budget: no spinning at all, straight to parking.
        let m = tokio::time::timeout(WAIT, sub.next_spin(Duration::ZERO)).await.expect("third message").unwrap();
        assert_eq!((m.topic.as_str(), &m.payload[..]), ("c", &b"3"[..]));
        client.close().await;
        let end = tokio::time::timeout(WAIT, sub.next_spin(Duration::from_millis(1))).await.expect("stream ends");
        assert!(end.is_none(), "no message after close");
    });
}
