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
