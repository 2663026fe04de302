//! Protocol v6 messages as the client writes and reads them: no sockets here.
//!
//! Builders return the one wire frame of a request (the codec itself is
//! `pulsemq_shared::v6`); [`parse_frame`] turns a received frame — a
//! plain message or a batch — into replies and deliveries; the `parse_*`
//! helpers read ACK bodies. Conventions follow the golden vectors in
//! `shared/testdata/frames_v6.json`.

use bytes::Bytes;
use pulsemq_shared::header::{flags, now_ms};
use pulsemq_shared::payloads::{AttachRequest, AuthOk, AuthRequest, ErrorBody, QueryRequest, SubOptions};
use pulsemq_shared::v6::{self, Fields};
use pulsemq_shared::{Format, MsgType, ProtocolError};
use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::error::ClientError;
use crate::message::Message;

/// One outgoing message: a single protocol-6 frame.
pub(crate) type WireFrame = Vec<u8>;

fn frame(
    msg_type: MsgType,
    format: Format,
    flag_bits: u8,
    request_id: u32,
    ns: &str,
    topic: &str,
    payload: &[u8],
) -> WireFrame {
    frame_at(now_ms(), msg_type, format, flag_bits, request_id, ns, topic, payload)
}

/// [`frame`] stamped with a clock the caller already read.
#[allow(clippy::too_many_arguments)]
fn frame_at(
    timestamp_ms: i64,
    msg_type: MsgType,
    format: Format,
    flag_bits: u8,
    request_id: u32,
    ns: &str,
    topic: &str,
    payload: &[u8],
) -> WireFrame {
    let mut f = Fields::bare(msg_type, format, request_id, timestamp_ms);
    f.flags = flag_bits;
    f.namespace = ns;
    f.topic = topic;
    // Callers validate names first (`check_publish`, `Pattern::parse`);
    // only an over-long name could fail, and it is sent empty so that the
    // broker answers it with ERROR 4 instead of the client panicking.
    v6::encode(&f, payload).unwrap_or_else(|_| {
        let mut f = Fields::bare(msg_type, format, request_id, timestamp_ms);
        f.flags = flag_bits;
        v6::encode(&f, payload).expect("no names")
    })
}

fn json<T: serde::Serialize>(v: &T) -> Vec<u8> {
    // Serialising these plain structs cannot fail.
    serde_json::to_vec(v).expect("JSON body")
}

/// AUTH: the username travels in the JSON body.
pub(crate) fn auth(request_id: u32, username: &str, token: &str) -> WireFrame {
    let body = json(&AuthRequest { username: username.to_owned(), token: token.to_owned() });
    frame(MsgType::Auth, Format::Bytes, 0, request_id, "", "", &body)
}

/// ATTACH on the delivery port, presenting the session from AUTH_OK.
pub(crate) fn attach(request_id: u32, session: &str, token: &str) -> WireFrame {
    let body = json(&AttachRequest { session: session.to_owned(), token: token.to_owned() });
    frame(MsgType::Attach, Format::Bytes, 0, request_id, "", "", &body)
}

/// PUB. No username: the broker stamps the session's user.
pub(crate) fn publish(
    request_id: u32,
    namespace: &str,
    topic: &str,
    format: Format,
    flag_bits: u8,
    payload: &[u8],
    timestamp_ms: i64,
) -> WireFrame {
    frame_at(timestamp_ms, MsgType::Pub, format, flag_bits, request_id, namespace, topic, payload)
}

/// SUB, with `{"snapshot":true}` when a last-value replay is wanted.
pub(crate) fn subscribe(request_id: u32, namespace: &str, pattern: &str, snapshot: bool) -> WireFrame {
    let body = if snapshot { json(&SubOptions { snapshot: true }) } else { Vec::new() };
    frame(MsgType::Sub, Format::Bytes, 0, request_id, namespace, pattern, &body)
}

/// UNSUB.
pub(crate) fn unsubscribe(request_id: u32, namespace: &str, pattern: &str) -> WireFrame {
    frame(MsgType::Unsub, Format::Bytes, 0, request_id, namespace, pattern, &[])
}

/// QUERY with a JSON body.
pub(crate) fn query(request_id: u32, q: &QueryRequest) -> WireFrame {
    frame(MsgType::Query, Format::String, 0, request_id, "", "", &json(q))
}

/// PING, PONG (the answer to the broker's PING) or BYE.
pub(crate) fn control(msg_type: MsgType, request_id: u32) -> WireFrame {
    frame(msg_type, Format::Bytes, 0, request_id, "", "", &[])
}

/// A reply to one of our requests, paired by `request_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Reply {
    pub request_id: u32,
    pub kind: ReplyKind,
}

/// What the reply said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ReplyKind {
    /// ACK with its JSON body (raw).
    Ack(Vec<u8>),
    /// The binary cumulative ACK: every request sent up to and including
    /// `request_id` succeeded (those not answered otherwise).
    AckUpTo,
    /// ERROR with its decoded body.
    Error(ErrorBody),
    /// PONG.
    Pong,
}

/// Anything the broker sends us.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Incoming {
    Reply(Reply),
    Deliver(Message),
    /// The broker pings us (answered with a PONG carrying the same id).
    Ping(u32),
}

/// A received frame that can hand its bytes over to a [`Bytes`]. Lets the
/// parser work on whatever the I/O layer receives into (owned vectors in
/// tests, reused `zmq::Message`s on the I/O thread) without knowing about
/// sockets.
pub(crate) trait RecvFrame: std::ops::Deref<Target = [u8]> {
    /// The whole frame as [`Bytes`]; may leave the frame empty.
    fn take_bytes(&mut self) -> Bytes;
}

impl RecvFrame for Vec<u8> {
    fn take_bytes(&mut self) -> Bytes {
        Bytes::from(std::mem::take(self))
    }
}

/// Payloads at least this large are handed over without a copy (a slice of
/// the received frame) when they arrive alone; smaller ones, and those in
/// batches, are copied, which costs less than pinning the frame.
pub(crate) const ZERO_COPY_MIN: usize = 8 * 1024;

/// One decoded message, with its payload as `payload` makes it.
fn incoming(m: &v6::Message, payload: impl FnOnce() -> Bytes) -> Result<Incoming, ProtocolError> {
    let h = m.header;
    let id = h.request_id;
    Ok(match h.msg_type {
        MsgType::Ack if h.has_flag(flags::CUMULATIVE) => {
            Incoming::Reply(Reply { request_id: id, kind: ReplyKind::AckUpTo })
        }
        MsgType::Ack => Incoming::Reply(Reply { request_id: id, kind: ReplyKind::Ack(m.payload.to_vec()) }),
        MsgType::Error => {
            let body = serde_json::from_slice::<ErrorBody>(m.payload).unwrap_or_else(|e| ErrorBody {
                error_code: 255,
                error_message: format!("unreadable ERROR body: {e}"),
            });
            Incoming::Reply(Reply { request_id: id, kind: ReplyKind::Error(body) })
        }
        MsgType::Pong => Incoming::Reply(Reply { request_id: id, kind: ReplyKind::Pong }),
        MsgType::Ping => Incoming::Ping(id),
        MsgType::Msg => Incoming::Deliver(Message {
            namespace: m.namespace.to_owned(),
            topic: m.topic.to_owned(),
            publisher: m.publisher.to_owned(),
            format: h.format,
            compression: pulsemq_shared::Compression::from_flags(h.flags).ok().flatten(),
            flags: h.flags,
            timestamp_ms: h.timestamp_ms,
            seq: m.ext.seq,
            broker_time_us: m.ext.broker_time_us,
            snapshot: h.flags & flags::SNAPSHOT != 0,
            payload: payload(),
        }),
        other => return Err(ProtocolError::UnknownType(other as u8)),
    })
}

/// Decodes one received frame — a plain message or a batch — and hands
/// each message to `each`, in order. A lone message's large payload
/// becomes a slice of the frame (no copy; see [`ZERO_COPY_MIN`]).
pub(crate) fn parse_frame<F: RecvFrame>(frame: &mut F, mut each: impl FnMut(Result<Incoming, ProtocolError>)) {
    if v6::is_batch(frame) {
        match v6::batch_items(frame) {
            Err(e) => each(Err(e)),
            Ok(items) => {
                for (_, m) in items {
                    each(m.and_then(|m| incoming(&m, || Bytes::copy_from_slice(m.payload))));
                }
            }
        }
        return;
    }
    let (parsed, zero_copy_at) = match v6::decode_message(frame) {
        Err(e) => (Err(e), None),
        Ok(m) if m.header.msg_type == MsgType::Msg && m.payload.len() >= ZERO_COPY_MIN => {
            // The payload is the frame's tail: filled in below, once the
            // frame is no longer borrowed.
            (incoming(&m, Bytes::new), Some(frame.len() - m.payload.len()))
        }
        Ok(m) => (incoming(&m, || Bytes::copy_from_slice(m.payload)), None),
    };
    match (parsed, zero_copy_at) {
        (Ok(Incoming::Deliver(mut msg)), Some(at)) => {
            msg.payload = frame.take_bytes().slice(at..);
            each(Ok(Incoming::Deliver(msg)));
        }
        (parsed, _) => each(parsed),
    }
}

/// Every message of one frame, collected (tests and small callers).
#[cfg(test)]
pub(crate) fn parse_all<F: RecvFrame>(frame: &mut F) -> Vec<Result<Incoming, ProtocolError>> {
    let mut out = Vec::new();
    parse_frame(frame, |r| out.push(r));
    out
}

#[derive(Deserialize)]
struct Status {
    status: String,
}

/// Checks that an ACK body says `expected` and decodes it as `T`.
pub(crate) fn parse_ack<T: DeserializeOwned>(body: &[u8], expected: &str) -> Result<T, ClientError> {
    let status: Status =
        serde_json::from_slice(body).map_err(|e| ClientError::Protocol(format!("unreadable ACK body: {e}")))?;
    if status.status != expected {
        return Err(ClientError::Protocol(format!("expected {expected}, got {}", status.status)));
    }
    serde_json::from_slice(body).map_err(|e| ClientError::Protocol(format!("unreadable {expected} body: {e}")))
}

/// Checks only the status of an ACK body.
///
/// The broker writes `status` first (design §3.2), so the common case, one
/// PUB_OK per acknowledged publish, is recognised from the prefix without
/// parsing JSON twice; anything else (the original broker's spacing, other
/// statuses) takes the full parse and its precise errors.
pub(crate) fn expect_status(body: &[u8], expected: &str) -> Result<(), ClientError> {
    const PREFIX: &[u8] = b"{\"status\":\"";
    let after = body.strip_prefix(PREFIX).and_then(|rest| rest.strip_prefix(expected.as_bytes()));
    if matches!(after, Some([b'"', b',' | b'}', ..])) {
        return Ok(());
    }
    parse_ack::<serde::de::IgnoredAny>(body, expected).map(|_| ())
}

/// Reads `data` of a QUERY_OK body.
pub(crate) fn parse_query_data<T: DeserializeOwned>(body: &[u8]) -> Result<T, ClientError> {
    #[derive(Deserialize)]
    struct QueryOk<T> {
        data: T,
    }
    parse_ack::<QueryOk<T>>(body, pulsemq_shared::payloads::QUERY_OK).map(|q| q.data)
}

/// Reads an AUTH_OK body.
pub(crate) fn parse_auth_ok(body: &[u8]) -> Result<AuthOk, ClientError> {
    parse_ack(body, pulsemq_shared::payloads::AUTH_OK)
}

/// Turns a reply into the ACK body or the mapped error.
pub(crate) fn into_result(kind: ReplyKind) -> Result<Vec<u8>, ClientError> {
    match kind {
        ReplyKind::Ack(body) => Ok(body),
        ReplyKind::AckUpTo | ReplyKind::Pong => Ok(Vec::new()),
        ReplyKind::Error(e) => Err(ClientError::from_error_body(&e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pulsemq_shared::payloads::{NamespaceInfo, PermissionInfo};
    use pulsemq_shared::ErrorCode;

    /// A protocol-6 golden vector shared with the other SDKs.
    fn golden(name: &str) -> Vec<u8> {
        let text = include_str!("../../shared/testdata/frames_v6.json");
        let doc: serde_json::Value = serde_json::from_str(text).unwrap();
        let v = doc["valid"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == name)
            .unwrap_or_else(|| panic!("no vector {name}"));
        hex::decode(v["frame"].as_str().unwrap()).unwrap()
    }

    /// Compares a built frame with a golden vector, ignoring the timestamp.
    fn same_as_golden(mut built: WireFrame, name: &str) {
        let want = golden(name);
        built[8..16].copy_from_slice(&want[8..16]);
        assert_eq!(built, want, "{name}");
    }

    fn one<F: RecvFrame>(mut f: F) -> Incoming {
        let mut all = parse_all(&mut f);
        assert_eq!(all.len(), 1);
        all.pop().unwrap().unwrap()
    }

    #[test]
    fn requests_match_the_golden_vectors() {
        let token = "0123456789abcdef0123456789abcdef";
        same_as_golden(auth(1, "publisher_01", token), "v6_auth");
        same_as_golden(
            publish(
                7,
                "market_data",
                "sz000651.kline.1m",
                Format::String,
                flags::NO_ACK,
                br#"{"close":10.55}"#,
                now_ms(),
            ),
            "v6_pub_string_no_ack",
        );
        same_as_golden(subscribe(9, "market_data", "sz000651.kline.>", true), "v6_sub_snapshot");
        same_as_golden(control(MsgType::Ping, 13), "v6_ping");
    }

    #[test]
    fn plain_sub_has_an_empty_body() {
        let f = subscribe(3, "md", "a.*", false);
        assert!(v6::decode_message(&f).unwrap().payload.is_empty());
    }

    #[test]
    fn replies_are_parsed_and_paired_by_id() {
        match one(golden("v6_auth_ok")) {
            Incoming::Reply(Reply { request_id: 1, kind: ReplyKind::Ack(body) }) => {
                let ok = parse_auth_ok(&body).unwrap();
                assert_eq!(ok.session, "9f86d081884c7d659a2feaa0c55ad015");
                assert_eq!(ok.protocol, 6);
            }
            other => panic!("{other:?}"),
        }
        match one(golden("v6_error_permission")) {
            Incoming::Reply(Reply { request_id: 12, kind }) => {
                let err = into_result(kind).unwrap_err();
                assert_eq!(err.code(), Some(ErrorCode::PermissionDenied));
                assert!(matches!(err, ClientError::PermissionDenied(_)));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            one(golden("v6_ack_cumulative")),
            Incoming::Reply(Reply { request_id: 300, kind: ReplyKind::AckUpTo })
        );
    }

    #[test]
    fn deliveries_carry_sequence_and_flags() {
        match one(golden("v6_msg")) {
            Incoming::Deliver(m) => {
                assert_eq!(m.namespace, "market_data");
                assert_eq!(m.topic, "sz000651.kline.1m");
                assert_eq!(m.publisher, "publisher_01");
                assert_eq!(m.format, Format::String);
                assert!(m.snapshot);
                assert_eq!(m.seq, 42);
                assert!(m.broker_time_us > 0);
                assert_eq!(m.as_str(), Some(r#"{"close":10.55}"#));
            }
            other => panic!("{other:?}"),
        }
        // A MSG cut inside its sequence is refused, not half-read.
        let mut bad = golden("v6_msg");
        bad.truncate(16 + 1 + 11 + 1 + 17 + 1 + 12 + 4);
        assert!(parse_all(&mut bad)[0].is_err());
    }

    #[test]
    fn batches_yield_every_message_in_order() {
        let doc: serde_json::Value =
            serde_json::from_str(include_str!("../../shared/testdata/frames_v6.json")).unwrap();
        let b = doc["batches"].as_array().unwrap().iter().find(|b| b["name"] == "v6_batch_two_msgs").unwrap();
        let mut frame = hex::decode(b["frame"].as_str().unwrap()).unwrap();
        let seqs: Vec<u64> = parse_all(&mut frame)
            .into_iter()
            .map(|r| match r.unwrap() {
                Incoming::Deliver(m) => m.seq,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(seqs, [1, 2]);
    }

    #[test]
    fn a_large_lone_payload_is_a_slice_of_the_frame() {
        let f = v6::Fields {
            msg_type: MsgType::Msg,
            format: Format::Bytes,
            flags: 0,
            request_id: 0,
            timestamp_ms: 0,
            namespace: "md",
            topic: "t",
            publisher: "p",
            ext: Default::default(),
        };
        let payload = vec![7u8; ZERO_COPY_MIN];
        let mut frame = v6::encode(&f, &payload).unwrap();
        let start = frame.as_ptr() as usize + frame.len() - payload.len();
        match one_mut(&mut frame) {
            Incoming::Deliver(m) => {
                assert_eq!(m.payload.as_ptr() as usize, start, "no copy");
                assert_eq!(&m.payload[..], &payload[..]);
            }
            other => panic!("{other:?}"),
        }
    }

    fn one_mut(f: &mut Vec<u8>) -> Incoming {
        let mut all = parse_all(f);
        all.pop().unwrap().unwrap()
    }

    #[test]
    fn ack_bodies() {
        expect_status(br#"{"status":"PUB_OK"}"#, "PUB_OK").unwrap();
        assert!(matches!(expect_status(br#"{"status":"SUB_OK"}"#, "PUB_OK"), Err(ClientError::Protocol(_))));
        assert!(expect_status(b"not json", "PUB_OK").is_err());
        // Prefix fast path and the full parse agree.
        expect_status(br#"{"status":"PUB_OK","seq":7}"#, "PUB_OK").unwrap();
        expect_status(br#"{"status": "PUB_OK", "seq": 7}"#, "PUB_OK").unwrap();
        assert!(expect_status(br#"{"status":"PUB_OKAY"}"#, "PUB_OK").is_err());
        assert!(expect_status(br#"{"status":"PUB_OK"#, "PUB_OK").is_err());
        assert!(expect_status(br#"{"status":"PUB_OK"]"#, "PUB_OK").is_err());
        let ns: Vec<NamespaceInfo> =
            parse_query_data(br#"{"status":"QUERY_OK","data":[{"name":"md","topics":["a.b"],"topic_count":1}]}"#)
                .unwrap();
        assert_eq!(ns[0].topics, vec!["a.b".to_string()]);
        let p: PermissionInfo =
            parse_query_data(br#"{"status":"QUERY_OK","data":{"type":"mq_normal","namespaces":{"md":"PUB"}}}"#)
                .unwrap();
        assert_eq!(p.namespaces["md"], "PUB");
        let topics: Vec<String> = parse_query_data(br#"{"status":"QUERY_OK","data":["x.y","x.z"]}"#).unwrap();
        assert_eq!(topics.len(), 2);
    }

    #[test]
    fn unreadable_error_body_is_still_an_error() {
        let f = frame(MsgType::Error, Format::String, 0, 5, "", "", b"oops");
        match one(f) {
            Incoming::Reply(Reply { kind: ReplyKind::Error(e), .. }) => assert_eq!(e.error_code, 255),
            other => panic!("{other:?}"),
        }
    }
}
