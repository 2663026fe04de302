//! `POST /api/publish`, the console's test message: it goes through the
//! broker's own checks and reaches subscribers like any publish, in the
//! logged-in account's name, and is audited.

use std::time::Duration;

use pulsemq_e2e::admin_env::Env;
use reqwest::{Method, StatusCode};
use serde_json::json;

async fn next(sub: &mut pulsemq_client::Subscription) -> pulsemq_client::Message {
    tokio::time::timeout(Duration::from_secs(5), sub.next()).await.expect("a message within 5 s").expect("open")
}

#[tokio::test]
async fn a_test_message_reaches_subscribers_in_the_admins_name_and_is_audited() {
    let env = Env::start().await;
    let root = env.login().await;
    let r = env.call(Method::POST, "/api/namespaces", Some(&root), Some(json!({"name": "md"}))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let token = env.broker.admin.token.clone();
    let sub_client = env.client("admin", &token).await;
    let mut sub = sub_client.subscribe("md", "sz000651.>").await.unwrap();

    let publish = |format: &str, payload: &str| json!({"namespace": "md", "topic": "sz000651.tick", "format": format, "payload": payload});
    let r = env.call(Method::POST, "/api/publish", Some(&root), Some(publish("json", r#"{"price": 10.55}"#))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!((r.body["seq"].as_u64(), r.body["size"].as_u64()), (Some(1), Some(16)));
    let r = env.call(Method::POST, "/api/publish", Some(&root), Some(publish("bytes", "de ad BE EF"))).await;
    assert_eq!((r.status, r.body["seq"].as_u64()), (StatusCode::CREATED, Some(2)), "{:?}", r.body);

    let m = next(&mut sub).await;
    assert_eq!((m.topic.as_str(), m.publisher.as_str(), m.seq), ("sz000651.tick", "admin", 1));
    assert_eq!(m.as_str(), Some(r#"{"price": 10.55}"#));
    assert_eq!(m.format, pulsemq_client::Format::String);
    let m = next(&mut sub).await;
    assert_eq!((&m.payload[..], m.format), (&[0xde, 0xad, 0xbe, 0xef][..], pulsemq_client::Format::Bytes));

    // Refused as a client's PUB would be, with the broker's words.
    for (body, status, says) in [
        (publish("json", "{not json"), StatusCode::BAD_REQUEST, "not JSON"),
        (publish("bytes", "xyz"), StatusCode::BAD_REQUEST, "hex"),
        (publish("arrow", "x"), StatusCode::BAD_REQUEST, "string, json or bytes"),
        (
            json!({"namespace": "md", "topic": "a..b", "format": "string", "payload": "x"}),
            StatusCode::BAD_REQUEST,
            "topic",
        ),
        (
            json!({"namespace": "md", "topic": "t", "format": "string", "payload": "x".repeat(9000)}),
            StatusCode::BAD_REQUEST,
            "8192",
        ),
    ] {
        let r = env.call(Method::POST, "/api/publish", Some(&root), Some(body)).await;
        assert_eq!(r.status, status, "{:?}", r.body);
        assert!(r.body["error"].as_str().unwrap_or("").contains(says), "{says}: {:?}", r.body);
    }

    let audit = env.call(Method::GET, "/api/audit-logs?op_type=publish_test", Some(&root), None).await;
    let rows = audit.body["items"].as_array().or(audit.body.as_array()).cloned().unwrap_or_default();
    assert_eq!(rows.len(), 2, "one row per published test message: {:?}", audit.body);
    assert!(rows.iter().any(|r| r["target"] == "md:sz000651.tick" && r["operator"] == "admin"), "{rows:?}");
    sub_client.close().await;
}

/// Reads `n` `message` events from a browse stream.
async fn events(resp: &mut reqwest::Response, n: usize) -> Vec<serde_json::Value> {
    let mut buf = String::new();
    let mut out = Vec::new();
    while out.len() < n {
        let chunk = tokio::time::timeout(Duration::from_secs(10), resp.chunk())
            .await
            .expect("an event within 10 s")
            .expect("stream readable")
            .expect("stream open");
        buf.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buf.find("\n\n") {
            let block: String = buf.drain(..end + 2).collect();
            if block.lines().any(|l| l == "event: message") {
                let data: String = block.lines().filter_map(|l| l.strip_prefix("data: ")).collect();
                out.push(serde_json::from_str(&data).expect("event data is JSON"));
            }
        }
    }
    out
}

#[tokio::test]
async fn the_message_browser_shows_each_format_decoded_with_the_admins_permissions() {
    use pulsemq_client::arrow_array::{Float64Array, RecordBatch, StringArray};
    use pulsemq_client::arrow_schema::{DataType, Field, Schema};
    use pulsemq_client::{Compression, Format, Payload, PublishOptions};
    use std::sync::Arc;

    let env = Env::start().await;
    let root = env.login().await;
    env.call(Method::POST, "/api/namespaces", Some(&root), Some(json!({"name": "md"}))).await;
    let url = |q: &str| format!("{}/api/browse/stream?{q}", env.base);
    let bad = env.http.get(url("namespace=md&pattern=a..b")).bearer_auth(&root).send().await.unwrap();
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    let body = json!({"username": "ops", "user_type": "admin_only", "password": "ops-password-1"});
    env.call(Method::POST, "/api/users", Some(&root), Some(body)).await;
    let ops = env.login_as("ops", "ops-password-1").await;
    let denied = env.http.get(url("namespace=md&pattern=>")).bearer_auth(&ops).send().await.unwrap();
    assert_eq!(denied.status(), StatusCode::FORBIDDEN, "admin_only has no MQ rights, so no browsing");

    let mut stream = env.http.get(url("namespace=md&pattern=sz000651.>")).bearer_auth(&root).send().await.unwrap();
    assert_eq!(stream.status(), StatusCode::OK);
    let c = env.client("admin", &env.broker.admin.token.clone()).await;
    c.publish("md", "other.tick", Format::String, "not matched").await.unwrap();
    c.publish("md", "sz000651.json", Format::String, r#"{"close":10.55,"vol":1000}"#).await.unwrap();
    let zstd = PublishOptions::default().compression(Compression::Zstd).threshold(0);
    c.publish_with("md", "sz000651.zstd", Payload::string("信号".repeat(500)), zstd).await.unwrap();
    #[derive(serde::Serialize)]
    struct Bar {
        symbol: &'static str,
        close: f64,
    }
    let rows = [Bar { symbol: "sz000651", close: 10.5 }, Bar { symbol: "sz000651", close: 10.6 }];
    c.publish_with("md", "sz000651.records", Payload::records(&rows).unwrap(), PublishOptions::default())
        .await
        .unwrap();
    let schema = Arc::new(Schema::new(vec![
        Field::new("symbol", DataType::Utf8, false),
        Field::new("close", DataType::Float64, false),
    ]));
    let batch = RecordBatch::try_new(
        schema,
        vec![Arc::new(StringArray::from(vec!["a", "b", "c"])), Arc::new(Float64Array::from(vec![1.5, 2.5, 3.5]))],
    )
    .unwrap();
    c.publish_with("md", "sz000651.arrow", Payload::arrow(&[batch]).unwrap(), PublishOptions::default()).await.unwrap();
    c.publish("md", "sz000651.bytes", Format::Bytes, vec![0xde, 0xad, 0xbe, 0xef]).await.unwrap();

    let got = events(&mut stream, 5).await;
    let topics: Vec<&str> = got.iter().map(|e| e["topic"].as_str().unwrap()).collect();
    assert_eq!(topics, ["sz000651.json", "sz000651.zstd", "sz000651.records", "sz000651.arrow", "sz000651.bytes"]);
    assert!(got.iter().all(|e| e["publisher"] == "admin" && e["seq"] == 1 && e["missed_before"] == 0));
    assert_eq!(got[0]["preview"]["kind"], "json");
    assert!(got[0]["preview"]["text"].as_str().unwrap().contains("\"close\": 10.55"), "pretty-printed");
    assert_eq!((got[1]["compression"].as_str(), got[1]["preview"]["kind"].as_str()), (Some("zstd"), Some("text")));
    assert_eq!(got[1]["preview"]["text"], "信号".repeat(500));
    assert_eq!(got[2]["preview"]["columns"], json!(["symbol", "close"]));
    assert_eq!(got[2]["preview"]["rows"][1], json!(["sz000651", "10.6"]));
    assert_eq!((got[3]["format"].as_str(), got[3]["preview"]["total_rows"].as_u64()), (Some("df_arrow"), Some(3)));
    assert_eq!(got[3]["preview"]["rows"][2], json!(["c", "3.5"]));
    assert_eq!(got[4]["preview"], json!({"kind": "hex", "hex": "de ad be ef"}));
    drop(stream);
    c.close().await;
}
