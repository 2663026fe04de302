//! Protocol 6 golden vectors (`testdata/frames_v6.json`), shared with the
//! Python SDK: what the codec writes is byte for byte what they list, and
//! what they list decodes to their fields.

use pulsemq_shared::frames::Ext;
use pulsemq_shared::v6::{self, BatchWriter, Fields};
use pulsemq_shared::{Format, MsgType, ProtocolError};
use serde_json::Value;

fn vectors() -> Value {
    serde_json::from_str(include_str!("../testdata/frames_v6.json")).expect("frames_v6.json is valid JSON")
}

fn hex_of(v: &Value, key: &str) -> Vec<u8> {
    hex::decode(v[key].as_str().unwrap()).unwrap()
}

#[test]
fn valid_vectors_decode_to_their_fields_and_encode_back() {
    let doc = vectors();
    let valid = doc["valid"].as_array().unwrap();
    assert!(valid.len() >= 8);
    for v in valid {
        let name = v["name"].as_str().unwrap();
        let frame = hex_of(v, "frame");
        let m = v6::decode_message(&frame).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(m.header.msg_type as u8 as u64, v["msg_type"].as_u64().unwrap(), "{name}");
        assert_eq!(m.header.format as u8 as u64, v["format"].as_u64().unwrap(), "{name}");
        assert_eq!(m.header.flags as u64, v["flags"].as_u64().unwrap(), "{name}");
        assert_eq!(m.header.request_id as u64, v["request_id"].as_u64().unwrap(), "{name}");
        assert_eq!(m.header.timestamp_ms, v["timestamp_ms"].as_i64().unwrap(), "{name}");
        assert_eq!(m.namespace, v["namespace"].as_str().unwrap(), "{name}");
        assert_eq!(m.topic, v["topic"].as_str().unwrap(), "{name}");
        assert_eq!(m.payload, &hex_of(v, "payload_hex")[..], "{name}");
        let ext = if m.header.msg_type == MsgType::Msg {
            assert_eq!(m.publisher, v["publisher"].as_str().unwrap());
            Ext { seq: v["seq"].as_u64().unwrap(), broker_time_us: v["broker_time_us"].as_u64().unwrap() }
        } else {
            Ext::default()
        };
        assert_eq!(m.ext, ext, "{name}");
        let fields = Fields {
            msg_type: m.header.msg_type,
            format: m.header.format,
            flags: m.header.flags,
            request_id: m.header.request_id,
            timestamp_ms: m.header.timestamp_ms,
            namespace: m.namespace,
            topic: m.topic,
            publisher: m.publisher,
            ext,
        };
        assert_eq!(v6::encode(&fields, m.payload).unwrap(), frame, "{name} re-encoded");
    }
}

#[test]
fn the_cumulative_ack_vector_is_what_the_broker_writes() {
    let doc = vectors();
    let v = doc["valid"].as_array().unwrap().iter().find(|v| v["name"] == "v6_ack_cumulative").unwrap();
    let ts = v["timestamp_ms"].as_i64().unwrap();
    assert_eq!(v6::cumulative_ack(300, 41, ts), hex_of(v, "frame"));
}

#[test]
fn batch_vectors_hold_their_items_in_order() {
    let doc = vectors();
    for b in doc["batches"].as_array().unwrap() {
        let name = b["name"].as_str().unwrap();
        let frame = hex_of(b, "frame");
        let items: Vec<Vec<u8>> =
            b["items"].as_array().unwrap().iter().map(|i| hex::decode(i.as_str().unwrap()).unwrap()).collect();
        let got: Vec<&[u8]> = v6::batch_items(&frame)
            .unwrap()
            .map(|(raw, m)| {
                m.unwrap_or_else(|e| panic!("{name}: {e}"));
                raw
            })
            .collect();
        assert_eq!(got, items.iter().map(Vec::as_slice).collect::<Vec<_>>(), "{name}");
        let mut w = BatchWriter::new();
        for i in &items {
            w.push_encoded(i);
        }
        assert_eq!(w.take_frame(), frame, "{name} rebuilt");
    }
}

/// The answer the broker gives a frame: the error of the message, or of a
/// batch's first failing part.
fn first_error(frame: &[u8]) -> Option<ProtocolError> {
    if v6::is_batch(frame) {
        match v6::batch_items(frame) {
            Err(e) => Some(e),
            Ok(mut items) => items.find_map(|(_, m)| m.err()),
        }
    } else {
        v6::decode_message(frame).err()
    }
}

#[test]
fn invalid_vectors_fail_with_their_error_code() {
    let doc = vectors();
    let invalid = doc["invalid"].as_array().unwrap();
    assert!(invalid.len() >= 6);
    for v in invalid {
        let name = v["name"].as_str().unwrap();
        let err = first_error(&hex_of(v, "frame")).unwrap_or_else(|| panic!("{name} decoded"));
        assert_eq!(err.code().as_u8() as u64, v["error_code"].as_u64().unwrap(), "{name}: {err}");
    }
}

#[test]
fn a_pub_built_by_fields_matches_its_vector() {
    let doc = vectors();
    let v = doc["valid"].as_array().unwrap().iter().find(|v| v["name"] == "v6_pub_string_no_ack").unwrap();
    let mut f = Fields::bare(MsgType::Pub, Format::String, 7, v["timestamp_ms"].as_i64().unwrap());
    f.flags = pulsemq_shared::header::flags::NO_ACK;
    f.namespace = "market_data";
    f.topic = "sz000651.kline.1m";
    assert_eq!(v6::encode(&f, br#"{"close":10.55}"#).unwrap(), hex_of(v, "frame"));
}
