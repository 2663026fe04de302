//! Protocol v5 frames as the client writes and reads them: no sockets here.
//!
//! Builders return the six wire frames of a request; [`parse_incoming`]
//! turns six received frames into a reply or a delivery; the `parse_*`
//! helpers read ACK bodies. Conventions (format byte, username frame) follow
//! the golden vectors in `shared/testdata/frames.json`.

use bytes::Bytes;
use pulsemq_shared::header::flags;
use pulsemq_shared::payloads::{AttachRequest, AuthOk, AuthRequest, ErrorBody, QueryRequest, SubOptions};
use pulsemq_shared::{decode, Ext, Format, Frames, Header, MsgType, ProtocolError, FRAME_COUNT};
use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::error::ClientError;
use crate::message::Message;

/// The six frames of one outgoing message, in wire order.
pub(crate) type WireFrames = [Vec<u8>; FRAME_COUNT];

#[allow(clippy::too_many_arguments)]
fn frames(
    msg_type: MsgType,
    format: Format,
    flag_bits: u8,
    request_id: u32,
    namespace: &str,
    topic: &str,
    username: &str,
    payload: Vec<u8>,
) -> WireFrames {
    let header = Header::new(msg_type, format, flag_bits, 0, request_id);
    Frames::new(header, namespace, topic, username, payload).into_parts()
}

fn json<T: serde::Serialize>(v: &T) -> Vec<u8> {
    // Serialising these plain structs cannot fail.
    serde_json::to_vec(v).expect("JSON body")
}

/// AUTH: username in frame 3 and in the JSON body.
pub(crate) fn auth(request_id: u32, username: &str, token: &str) -> WireFrames {
    let body = json(&AuthRequest { username: username.to_owned(), token: token.to_owned() });
    frames(MsgType::Auth, Format::Bytes, 0, request_id, "", "", username, body)
}

/// ATTACH on the delivery port, presenting the session from AUTH_OK.
pub(crate) fn attach(request_id: u32, username: &str, session: &str, token: &str) -> WireFrames {
    let body = json(&AttachRequest { session: session.to_owned(), token: token.to_owned() });
    frames(MsgType::Attach, Format::Bytes, 0, request_id, "", "", username, body)
}

/// PUB. The username frame stays empty: the broker stamps the session's user.
pub(crate) fn publish(
    request_id: u32,
    namespace: &str,
    topic: &str,
    format: Format,
    flag_bits: u8,
    payload: Vec<u8>,
) -> WireFrames {
    frames(MsgType::Pub, format, flag_bits, request_id, namespace, topic, "", payload)
}

/// SUB, with `{"snapshot":true}` when a last-value replay is wanted.
pub(crate) fn subscribe(request_id: u32, namespace: &str, pattern: &str, snapshot: bool) -> WireFrames {
    let body = if snapshot { json(&SubOptions { snapshot: true }) } else { Vec::new() };
    frames(MsgType::Sub, Format::Bytes, 0, request_id, namespace, pattern, "", body)
}

/// UNSUB.
pub(crate) fn unsubscribe(request_id: u32, namespace: &str, pattern: &str) -> WireFrames {
    frames(MsgType::Unsub, Format::Bytes, 0, request_id, namespace, pattern, "", Vec::new())
}

/// QUERY with a JSON body.
pub(crate) fn query(request_id: u32, q: &QueryRequest) -> WireFrames {
    frames(MsgType::Query, Format::String, 0, request_id, "", "", "", json(q))
}

/// PING (also used as the answer's type, PONG, when the broker pings us).
pub(crate) fn control(msg_type: MsgType, request_id: u32) -> WireFrames {
    frames(msg_type, Format::Bytes, 0, request_id, "", "", "", Vec::new())
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

/// A received frame that can hand its bytes over to a [`Message`] or an ACK
/// body. Lets the parser work on whatever the I/O layer receives into
/// (owned vectors in tests, reused `zmq::Message`s on the I/O thread)
/// without knowing about sockets.
pub(crate) trait RecvFrame: std::ops::Deref<Target = [u8]> {
    /// The frame's bytes as a payload; may leave the frame empty.
    fn take_bytes(&mut self) -> Bytes;
    /// The frame's bytes as an owned vector; may leave the frame empty.
    fn take_vec(&mut self) -> Vec<u8> {
        self.to_vec()
    }
}

impl RecvFrame for Vec<u8> {
    fn take_bytes(&mut self) -> Bytes {
        Bytes::from(std::mem::take(self))
    }

    fn take_vec(&mut self) -> Vec<u8> {
        std::mem::take(self)
    }
}

/// Decodes six received frames. Takes them mutably so a delivery's payload
/// frame can become the message's [`Bytes`] without a copy (see
/// [`RecvFrame::take_bytes`]).
pub(crate) fn parse_incoming<F: RecvFrame>(parts: &mut [F]) -> Result<Incoming, ProtocolError> {
    if parts.len() != FRAME_COUNT {
        return Err(ProtocolError::FrameCount { expected: FRAME_COUNT, got: parts.len() });
    }
    let refs: [&[u8]; FRAME_COUNT] = std::array::from_fn(|i| &parts[i][..]);
    let f = decode(&refs)?;
    let id = f.header.request_id;
    let mut msg = match f.header.msg_type {
        MsgType::Ack => None,
        MsgType::Error => {
            let body = serde_json::from_slice::<ErrorBody>(f.payload).unwrap_or_else(|e| ErrorBody {
                error_code: 255,
                error_message: format!("unreadable ERROR body: {e}"),
            });
            return Ok(Incoming::Reply(Reply { request_id: id, kind: ReplyKind::Error(body) }));
        }
        MsgType::Pong => return Ok(Incoming::Reply(Reply { request_id: id, kind: ReplyKind::Pong })),
        MsgType::Ping => return Ok(Incoming::Ping(id)),
        MsgType::Msg => {
            let ext = Ext::decode(f.reserved)?;
            Some(Message {
                namespace: f.namespace.to_owned(),
                topic: f.topic.to_owned(),
                publisher: f.username.to_owned(),
                format: f.header.format,
                compression: pulsemq_shared::Compression::from_flags(f.header.flags).ok().flatten(),
                flags: f.header.flags,
                timestamp_ms: f.header.timestamp_ms,
                seq: ext.seq,
                broker_time_us: ext.broker_time_us,
                snapshot: f.header.flags & flags::SNAPSHOT != 0,
                payload: Bytes::new(),
            })
        }
        other => return Err(ProtocolError::UnknownType(other as u8)),
    };
    // Move the payload frame in, now that nothing borrows `parts`.
    Ok(match msg.take() {
        Some(mut m) => {
            m.payload = parts[4].take_bytes();
            Incoming::Deliver(m)
        }
        None => Incoming::Reply(Reply { request_id: id, kind: ReplyKind::Ack(parts[4].take_vec()) }),
    })
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
        ReplyKind::Pong => Ok(Vec::new()),
        ReplyKind::Error(e) => Err(ClientError::from_error_body(&e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pulsemq_shared::payloads::{NamespaceInfo, PermissionInfo};
    use pulsemq_shared::ErrorCode;

    /// The golden vectors shared with the other SDKs.
    fn golden(name: &str) -> Vec<Vec<u8>> {
        let text = include_str!("../../shared/testdata/frames.json");
        let doc: serde_json::Value = serde_json::from_str(text).unwrap();
        let v = doc["valid"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == name)
            .unwrap_or_else(|| panic!("no vector {name}"));
        v["frames"].as_array().unwrap().iter().map(|f| hex::decode(f.as_str().unwrap()).unwrap()).collect()
    }

    /// Compares built frames with a golden vector, ignoring the timestamp.
    fn same_as_golden(mut built: WireFrames, name: &str) {
        let want = golden(name);
        built[0][12..20].copy_from_slice(&want[0][12..20]);
        assert_eq!(built.to_vec(), want, "{name}");
    }

    #[test]
    fn requests_match_the_golden_vectors() {
        let token = "0123456789abcdef0123456789abcdef";
        same_as_golden(auth(1, "publisher_01", token), "v5_auth");
        same_as_golden(attach(2, "publisher_01", "9f86d081884c7d659a2feaa0c55ad015", token), "v5_attach");
        same_as_golden(
            publish(
                7,
                "market_data",
                "sz000651.kline.1m",
                Format::String,
                flags::NO_ACK,
                br#"{"close":10.55}"#.to_vec(),
            ),
            "v5_pub_string_no_ack",
        );
        same_as_golden(subscribe(9, "market_data", "sz000651.kline.>", true), "v5_sub_snapshot");
        same_as_golden(unsubscribe(10, "market_data", "*.kline.1m"), "v5_unsub");
        same_as_golden(query(11, &QueryRequest::Topics { namespace: "market_data".into() }), "v5_query_topics");
        same_as_golden(control(MsgType::Ping, 13), "v5_ping");
        same_as_golden(control(MsgType::Bye, 14), "v5_bye");
    }

    #[test]
    fn plain_sub_has_an_empty_body() {
        let f = subscribe(3, "md", "a.*", false);
        assert!(f[4].is_empty());
        assert_eq!(Header::decode(&f[0]).unwrap().payload_length, 0);
    }

    #[test]
    fn replies_are_parsed_and_paired_by_id() {
        match parse_incoming(&mut golden("v5_auth_ok")).unwrap() {
            Incoming::Reply(Reply { request_id: 1, kind: ReplyKind::Ack(body) }) => {
                let ok = parse_auth_ok(&body).unwrap();
                assert_eq!(ok.session, "9f86d081884c7d659a2feaa0c55ad015");
                assert_eq!(ok.protocol, 5);
            }
            other => panic!("{other:?}"),
        }
        match parse_incoming(&mut golden("v5_error_permission")).unwrap() {
            Incoming::Reply(Reply { request_id: 12, kind }) => {
                let err = into_result(kind).unwrap_err();
                assert_eq!(err.code(), Some(ErrorCode::PermissionDenied));
                assert!(matches!(err, ClientError::PermissionDenied(_)));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            parse_incoming(&mut golden("v5_pong")).unwrap(),
            Incoming::Reply(Reply { request_id: 13, kind: ReplyKind::Pong })
        );
    }

    #[test]
    fn deliveries_carry_ext_and_flags() {
        match parse_incoming(&mut golden("v5_msg_with_ext")).unwrap() {
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
        // A MSG without a 16-byte ext frame is refused, not half-read.
        let mut bad = golden("v5_msg_with_ext");
        bad[5].truncate(8);
        assert!(parse_incoming(&mut bad).is_err());
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
        let mut f = control(MsgType::Error, 5);
        f[4] = b"oops".to_vec();
        let mut h = Header::decode(&f[0]).unwrap();
        h.payload_length = 4;
        f[0] = h.encode().to_vec();
        match parse_incoming(&mut f.to_vec()).unwrap() {
            Incoming::Reply(Reply { kind: ReplyKind::Error(e), .. }) => assert_eq!(e.error_code, 255),
            other => panic!("{other:?}"),
        }
    }
}
