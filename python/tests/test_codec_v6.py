"""Protocol 6 codec against the golden vectors shared with the Rust crates
(``shared/testdata/frames_v6.json``): byte-exact both ways, batches, and every invalid frame
failing with the error code the broker answers it with."""

from __future__ import annotations

import json
import struct
import time
from pathlib import Path

import pytest

from pulse_mq.protocol import (
    FLAG_CUMULATIVE, FLAG_NO_ACK, DecodeError, Delivery, Ext, Format, MsgType, cumulative_ack_seq, decode_v6, decode_v6_items,
    decode_v6_message, encode_batch, encode_v6, encode_v6_publish,
)

VECTORS = json.loads((Path(__file__).resolve().parents[2] / "shared" / "testdata" / "frames_v6.json").read_text())


def test_vector_file_has_enough_vectors():
    assert len(VECTORS["valid"]) >= 8 and len(VECTORS["batches"]) >= 2 and len(VECTORS["invalid"]) >= 6


@pytest.mark.parametrize("v", VECTORS["valid"], ids=lambda v: v["name"])
def test_valid_vector_decodes_and_reencodes_byte_exact(v):
    frame = bytes.fromhex(v["frame"])
    f = decode_v6_message(frame)
    assert (f.header.version, f.header.msg_type, f.header.format, f.header.flags) == (
        6, v["msg_type"], v["format"], v["flags"])
    assert (f.header.request_id, f.header.timestamp_ms) == (v["request_id"], v["timestamp_ms"])
    assert (f.namespace, f.topic, f.payload.hex()) == (v["namespace"], v["topic"], v["payload_hex"])
    ext = None
    if f.header.msg_type == MsgType.MSG:
        ext = Ext(v["seq"], v["broker_time_us"])
        assert (f.username, f.ext) == (v["publisher"], ext)
    again = encode_v6(f.header.msg_type, f.namespace, f.topic, f.payload, fmt=f.header.format,
                      flags=f.header.flags, request_id=f.header.request_id, timestamp_ms=f.header.timestamp_ms,
                      publisher=f.username, ext=ext)
    assert again == frame


def test_the_cumulative_ack_carries_the_named_publish_sequence():
    v = next(v for v in VECTORS["valid"] if v["name"] == "v6_ack_cumulative")
    f = decode_v6_message(bytes.fromhex(v["frame"]))
    assert f.header.flags & FLAG_CUMULATIVE
    assert cumulative_ack_seq(f.payload) == 41


@pytest.mark.parametrize("b", VECTORS["batches"], ids=lambda b: b["name"])
def test_batches_split_into_their_items_and_rebuild(b):
    frame = bytes.fromhex(b["frame"])
    items = [bytes.fromhex(i) for i in b["items"]]
    got = decode_v6(frame)
    assert [g.header.request_id for g in got] == [decode_v6_message(i).header.request_id for i in items]
    assert encode_batch(items) == frame
    assert encode_batch(items[:1]) == items[0], "a lone message is never wrapped"


@pytest.mark.parametrize("v", VECTORS["invalid"], ids=lambda v: v["name"])
def test_invalid_vector_fails_with_its_error_code(v):
    first_error = next(x for x in decode_v6(bytes.fromhex(v["frame"])) if isinstance(x, DecodeError))
    assert first_error.code == v["error_code"], str(first_error)


def test_a_bad_item_does_not_hide_the_rest_of_a_batch():
    good = encode_v6(MsgType.PUB, "md", "a.b", b"x", request_id=1)
    bad = bytearray(encode_v6(MsgType.PUB, "md", "a.b", b"x", request_id=2))
    bad[2] = 0x77  # unknown format
    got = decode_v6(encode_batch([good, bytes(bad), good]))
    assert [type(g).__name__ for g in got] == ["Frames", "DecodeError", "Frames"]
    assert got[1].code == 5


def _as_delivery(f) -> Delivery:
    return Delivery(f.namespace, f.topic, f.username, f.header.format, f.header.flags, f.header.timestamp_ms,
                    f.payload, f.ext.seq, f.ext.broker_time_us)


@pytest.mark.parametrize("v", VECTORS["valid"] + VECTORS["invalid"], ids=lambda v: v["name"])
def test_the_fast_path_agrees_with_the_full_decoder_on_every_vector(v):
    frame = bytes.fromhex(v["frame"])
    full, fast = decode_v6(frame), decode_v6_items(frame)
    assert len(full) == len(fast)
    for a, b in zip(full, fast):
        if isinstance(a, DecodeError):
            assert isinstance(b, DecodeError) and b.code == a.code, "a bad MSG is explained by the full decoder"
        elif a.header.msg_type == MsgType.MSG:
            assert type(b) is Delivery and b == _as_delivery(a)
        else:
            assert b == a


def _msg(topic: str, seq: int, publisher: str = "feed") -> bytes:
    return encode_v6(MsgType.MSG, "md", topic, f"p{seq}".encode(), fmt=Format.STRING, flags=0, request_id=0,
                     timestamp_ms=1_700_000_000_000 + seq, publisher=publisher, ext=Ext(seq, 99))


def test_the_fast_path_never_reads_into_the_next_item_of_a_batch():
    good = _msg("a.b", 1)
    # a MSG whose publisher length claims 200 bytes: inside the frame, but past its own item
    cut = bytearray(_msg("a.b", 2))
    pub_at = 16 + 1 + 2 + 1 + 3  # fixed header, "md", "a.b"
    assert cut[pub_at] == len("feed")
    cut[pub_at] = 200
    got = decode_v6_items(encode_batch([good, bytes(cut), good, good]))
    assert [type(g).__name__ for g in got] == ["Delivery", "DecodeError", "Delivery", "Delivery"]
    assert got[1].code == 9
    assert got[0] == Delivery("md", "a.b", "feed", Format.STRING, 0, 1_700_000_000_001, b"p1", 1, 99)


def test_the_fast_path_leaves_non_utf8_names_to_the_full_decoder():
    bad = bytearray(_msg("a.b", 3))
    bad[16 + 1] = 0xFF  # first byte of the namespace
    (got,) = decode_v6_items(bytes(bad))
    assert isinstance(got, DecodeError) and got.code == 4


def test_the_publish_fast_path_writes_what_encode_v6_writes():
    fast = encode_v6_publish("md", "sz000651.tick", b"\x00payload", Format.BYTES, FLAG_NO_ACK, 77)
    (ts,) = struct.unpack_from(">q", fast, 8)
    full = encode_v6(MsgType.PUB, "md", "sz000651.tick", b"\x00payload", fmt=Format.BYTES, flags=FLAG_NO_ACK,
                     request_id=77, timestamp_ms=ts)
    assert fast == full and abs(ts - time.time() * 1000) < 60_000
