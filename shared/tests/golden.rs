//! Golden frame vectors shared with the other SDKs (`testdata/frames.json`).

use pulsemq_shared::{decode, Ext, Format, Frames, Header, MsgType};
use serde_json::Value;

fn vectors() -> Value {
    let text = include_str!("../testdata/frames.json");
    serde_json::from_str(text).expect("frames.json is valid JSON")
}

fn frames_of(v: &Value) -> Vec<Vec<u8>> {
    v["frames"].as_array().unwrap().iter().map(|h| hex::decode(h.as_str().unwrap()).unwrap()).collect()
}

#[test]
fn valid_vectors_decode_and_reencode_byte_exact() {
    let doc = vectors();
    let valid = doc["valid"].as_array().unwrap();
    assert!(valid.len() >= 15);
    for v in valid {
        let name = v["name"].as_str().unwrap();
        let parts = frames_of(v);
        let f = Frames::from_parts(&parts).unwrap_or_else(|e| panic!("{name}: {e}"));
        let h = &v["header"];
        assert_eq!(f.header.version as u64, h["version"].as_u64().unwrap(), "{name}");
        assert_eq!(f.header.msg_type as u64, h["msg_type"].as_u64().unwrap(), "{name}");
        assert_eq!(f.header.format as u64, h["format"].as_u64().unwrap(), "{name}");
        assert_eq!(f.header.flags as u64, h["flags"].as_u64().unwrap(), "{name}");
        assert_eq!(f.header.payload_length as u64, h["payload_length"].as_u64().unwrap(), "{name}");
        assert_eq!(f.header.request_id as u64, h["request_id"].as_u64().unwrap(), "{name}");
        assert_eq!(f.header.timestamp_ms, h["timestamp_ms"].as_i64().unwrap(), "{name}");
        assert_eq!(f.namespace, v["namespace"].as_str().unwrap(), "{name}");
        assert_eq!(f.topic, v["topic"].as_str().unwrap(), "{name}");
        assert_eq!(f.username, v["username"].as_str().unwrap(), "{name}");
        assert_eq!(hex::encode(&f.payload), v["payload_hex"].as_str().unwrap(), "{name}");
        assert_eq!(hex::encode(&f.reserved), v["reserved_hex"].as_str().unwrap(), "{name}");
        let again = f.into_parts();
        assert_eq!(again.to_vec(), parts, "{name}: re-encoding differs");
    }
}

#[test]
fn documented_protocol4_pub_header() {
    // The literal bytes of original-0.2.0.md §2.10.
    let h = Header {
        version: 4,
        msg_type: MsgType::Pub,
        format: Format::String,
        flags: 0,
        payload_length: 15,
        request_id: 0,
        timestamp_ms: 1_735_689_600_000,
    };
    assert_eq!(hex::encode(h.encode()), "040201000000000f00000000000001941f297c00");
}

#[test]
fn msg_ext_vector() {
    let doc = vectors();
    let v = doc["valid"].as_array().unwrap().iter().find(|v| v["name"] == "v5_msg_with_ext").unwrap();
    let parts = frames_of(v);
    let ext = Ext::decode(&parts[5]).unwrap();
    assert_eq!(ext, Ext { seq: 42, broker_time_us: 1_735_689_600_000_123 });
    assert_eq!(ext.encode().to_vec(), parts[5]);
}

#[test]
fn invalid_vectors_fail_with_their_error_code() {
    let doc = vectors();
    let invalid = doc["invalid"].as_array().unwrap();
    assert!(invalid.len() >= 8);
    for v in invalid {
        let name = v["name"].as_str().unwrap();
        let parts = frames_of(v);
        let refs: Vec<&[u8]> = parts.iter().map(|p| p.as_slice()).collect();
        let err = decode(&refs).expect_err(name);
        assert_eq!(err.code().as_u8() as u64, v["error_code"].as_u64().unwrap(), "{name}: {err}");
    }
}
