"""Codec tests without a broker: golden vectors shared with the Rust crate, names and wildcards,
payload formats, compression and its limits."""

from __future__ import annotations

import datetime as dt
import json
import sys
import zlib

import pytest

from conftest import FRAMES_JSON
from pulse_mq import (
    Compression,
    Format,
    MissingDependencyError,
    Pattern,
    PayloadFormatError,
    PayloadTooLargeError,
    PulseMessage,
    TopicFormatError,
)
from pulse_mq import codec
from pulse_mq.errors import (
    AuthFailedError, ConnectionLimitError, NotAuthenticatedError, PermissionDeniedError, ProtocolError,
    QueryError, ServerError, TopicLimitError, error_from_code,
)
from pulse_mq.protocol import (
    DecodeError, Ext, Frames, Header, MsgType, decode_frames, encode_frames, validate_namespace, validate_pattern,
    validate_topic,
)

VECTORS = json.loads(FRAMES_JSON.read_text())


def _parts(v):
    return [bytes.fromhex(h) for h in v["frames"]]


# ---- golden vectors (shared/testdata/frames.json, also read by the Rust tests) -------------

def test_vector_file_has_enough_vectors():
    assert len(VECTORS["valid"]) >= 15
    assert len(VECTORS["invalid"]) >= 8


@pytest.mark.parametrize("v", VECTORS["valid"], ids=lambda v: v["name"])
def test_valid_vector_decodes_and_reencodes_byte_exact(v):
    parts = _parts(v)
    f = decode_frames(parts)
    h = v["header"]
    assert f.header.version == h["version"]
    assert f.header.msg_type == h["msg_type"]
    assert f.header.format == h["format"]
    assert f.header.flags == h["flags"]
    assert f.header.payload_length == h["payload_length"]
    assert f.header.request_id == h["request_id"]
    assert f.header.timestamp_ms == h["timestamp_ms"]
    assert f.namespace == v["namespace"]
    assert f.topic == v["topic"]
    assert f.username == v["username"]
    assert f.payload.hex() == v["payload_hex"]
    assert f.reserved.hex() == v["reserved_hex"]
    assert f.to_parts() == parts


@pytest.mark.parametrize("v", VECTORS["invalid"], ids=lambda v: v["name"])
def test_invalid_vector_fails_with_its_error_code(v):
    with pytest.raises(DecodeError) as ei:
        decode_frames(_parts(v))
    assert ei.value.code == v["error_code"], str(ei.value)


def test_msg_ext_vector():
    v = next(v for v in VECTORS["valid"] if v["name"] == "v5_msg_with_ext")
    parts = _parts(v)
    ext = Ext.decode(parts[5])
    assert ext == Ext(42, 1_735_689_600_000_123)
    assert ext.encode() == parts[5]


def test_documented_protocol4_header():
    h = Header(4, MsgType.PUB, Format.STRING, 0, 15, 0, 1_735_689_600_000)
    assert h.encode().hex() == "040201000000000f00000000000001941f297c00"


def test_encode_frames_matches_the_v5_vectors():
    """Frames built by the client's encoder equal the golden v5 requests byte for byte."""
    for v in VECTORS["valid"]:
        if not v["name"].startswith("v5_"):
            continue
        h = v["header"]
        parts = encode_frames(h["msg_type"], v["namespace"], v["topic"], v["username"],
                              bytes.fromhex(v["payload_hex"]), fmt=h["format"], flags=h["flags"],
                              request_id=h["request_id"], reserved=bytes.fromhex(v["reserved_hex"]),
                              timestamp_ms=h["timestamp_ms"])
        assert parts == _parts(v), v["name"]


def test_compression_flags():
    assert Compression.from_flags(0x00) is None
    assert Compression.from_flags(0x11) is Compression.ZLIB
    assert Compression.from_flags(0x21) is Compression.LZ4
    assert Compression.from_flags(0x31) is Compression.ZSTD
    with pytest.raises(DecodeError) as ei:
        Compression.from_flags(0x01)
    assert ei.value.code == 5


# ---- names and wildcards (the table of shared/src/names.rs) --------------------------------

@pytest.mark.parametrize("ok", ["market_data", "a", "A_1", "x" * 32])
def test_namespace_ok(ok):
    validate_namespace(ok)


@pytest.mark.parametrize("bad", ["", "system", "a:b", "a.b", "a b", "é", "x" * 33, "md\n"])
def test_namespace_bad(bad):
    with pytest.raises(TopicFormatError):
        validate_namespace(bad)


@pytest.mark.parametrize("ok", ["a", "sz000651.kline.1m", "a.b", ".".join(["x" * 32] * 3)])
def test_topic_ok(ok):
    validate_topic(ok)


@pytest.mark.parametrize("bad", ["", "a..b", ".a", "a.", "a.b.c.d", "a.*", "a.>", "abc\n", "a-b", "x" * 33])
def test_topic_bad(bad):
    with pytest.raises(TopicFormatError):
        validate_topic(bad)


@pytest.mark.parametrize("ok", ["a", "*", ">", "a.*", "a.>", "*.kline.1m", "*.*.*", "a.*.>"])
def test_pattern_ok(ok):
    validate_pattern(ok)


@pytest.mark.parametrize("bad", ["", "a.>.c", ">.a", "a.b.c.d", "a..b", "a.**", "a.b>", "a.#"])
def test_pattern_bad(bad):
    with pytest.raises(TopicFormatError):
        validate_pattern(bad)


@pytest.mark.parametrize("pattern,topic,want", [
    ("sz000651.kline.*", "sz000651.kline.1m", True),
    ("sz000651.kline.*", "sz000651.kline", False),
    ("sz000651.>", "sz000651.trade", True),
    ("sz000651.>", "sz000651.kline.1m", True),
    ("sz000651.>", "sz000651", False),
    ("*.kline.1m", "sz000651.kline.1m", True),
    ("*.kline.1m", "sz000651.kline.5m", False),
    ("a.*", "a.b", True),
    ("a.*", "a.b.c", False),
    ("a.*", "a", False),
    (">", "a", True),
    (">", "a.b.c", True),
    ("*", "a", True),
    ("*", "a.b", False),
    ("a.b", "a.b", True),
    ("a.b", "a.bc", False),
    ("a.*.>", "a.b.c", True),
    ("a.*.>", "a.b", False),
])
def test_matching_table(pattern, topic, want):
    assert Pattern(pattern).matches(topic) is want


# ---- errors -------------------------------------------------------------------------------

def test_error_codes_map_to_the_documented_exceptions():
    assert type(error_from_code(1, "x")) is AuthFailedError
    assert isinstance(error_from_code(2, "x"), NotAuthenticatedError)
    assert isinstance(error_from_code(3, "x"), PermissionDeniedError)
    assert isinstance(error_from_code(4, "x"), TopicFormatError)
    assert isinstance(error_from_code(5, "string payload of 9000 bytes exceeds the 8192-byte limit"),
                      PayloadTooLargeError)
    assert isinstance(error_from_code(5, "STRING payload is not valid UTF-8"), PayloadFormatError)
    assert isinstance(error_from_code(7, "x"), ConnectionLimitError)
    assert isinstance(error_from_code(9, "x"), ProtocolError)
    assert isinstance(error_from_code(10, "x"), QueryError)
    assert isinstance(error_from_code(13, "x"), TopicLimitError)
    assert isinstance(error_from_code(255, "x"), ServerError)
    assert error_from_code(3, "nope").code == 3
    assert str(error_from_code(3, "nope")) == "[3] nope"


# ---- payload formats ----------------------------------------------------------------------

def test_bytes_and_string():
    assert codec.encode_payload(b"\x01\x02", Format.BYTES) == b"\x01\x02"
    assert codec.encode_payload(bytearray(b"ab"), Format.BYTES) == b"ab"
    with pytest.raises(TypeError):
        codec.encode_payload("text", Format.BYTES)
    with pytest.raises(TypeError):
        codec.encode_payload(5, Format.BYTES)  # 0.2.0 turned 5 into five zero bytes
    assert codec.encode_payload("涨停", Format.STRING) == "涨停".encode()
    with pytest.raises(PayloadFormatError):
        codec.encode_payload(b"\xff", Format.STRING)
    assert codec.decode_payload("涨停".encode(), Format.STRING) == "涨停"


def test_format_names():
    assert Format.parse("df_pyarrow") is Format.DF_ARROW
    assert Format.parse("df_arrow") is Format.DF_ARROW
    assert Format.parse("DF_MSGPACK") is Format.DF_MSGPACK
    assert Format.parse(1) is Format.STRING
    with pytest.raises(ValueError):
        Format.parse("json")


def test_limits_checked_before_sending():
    codec.prepare_payload("x" * 8192, Format.STRING, None)  # exactly the limit is accepted
    with pytest.raises(PayloadTooLargeError) as ei:
        codec.prepare_payload("x" * 8193, Format.STRING, None)
    assert ei.value.size == 8193 and ei.value.limit == 8192
    # the limit applies to the uncompressed size, so that every receiver can inflate it
    with pytest.raises(PayloadTooLargeError):
        codec.prepare_payload("x" * 9000, Format.STRING, Compression.ZLIB)


def test_msgpack_records_bytes_match_the_original():
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame({"s": ["a", "b"], "p": [1.5, 2.5]})
    raw = codec.encode_payload(df, Format.DF_MSGPACK)
    # the bytes documented in original-0.2.0.md §8.6
    assert raw.hex() == "9282a173a161a170cb3ff800000000000082a173a162a170cb4004000000000000"
    back = codec.decode_payload(raw, Format.DF_MSGPACK)
    pd.testing.assert_frame_equal(back, df)


def test_msgpack_datetimes_and_numpy_values():
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame({"t": pd.date_range("2025-01-01", periods=3, freq="s"), "v": [1, 2, 3]})
    raw = codec.encode_payload(df, Format.DF_MSGPACK)
    back = codec.decode_payload(raw, Format.DF_MSGPACK)
    assert list(back["v"]) == [1, 2, 3]
    assert back["t"].iloc[1] == pd.Timestamp("2025-01-01 00:00:01", tz="UTC")
    # records without pandas
    recs = codec.decode_records(codec.encode_payload([{"a": 1}, {"a": 2}], Format.DF_MSGPACK))
    assert recs == [{"a": 1}, {"a": 2}]


def test_arrow_round_trip_with_timestamps():
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    df = pd.DataFrame({
        "symbol": ["sz000651"] * 5,
        "timestamp": pd.date_range("2025-01-01", periods=5, freq="ms"),
        "price": [10.5, 10.51, 10.52, 10.53, 10.54],
        "volume": [100, 200, 300, 400, 500],
    })
    raw = codec.encode_payload(df, Format.DF_ARROW)
    assert raw[:4] == b"\xff\xff\xff\xff"  # IPC stream continuation marker
    pd.testing.assert_frame_equal(codec.decode_payload(raw, Format.DF_ARROW), df)


def test_dataframe_nulls_are_msgpack_nil_whatever_the_pandas_version():
    """pandas >= 3 keeps text as the ``str`` dtype with NaN for missing values; on the wire a
    missing string must stay nil (what pandas 2 sent and the Rust SDK's Option<String> reads).
    Float NaN stays a float."""
    pd = pytest.importorskip("pandas")
    np = pytest.importorskip("numpy")
    df = pd.DataFrame({"s": ["a", None], "o": pd.Series(["x", np.nan], dtype=object), "f": [1.0, np.nan],
                       "i": pd.array([1, None], dtype="Int64"), "t": pd.to_datetime([0, None])})
    recs = codec.decode_records(codec.encode_payload(df, Format.DF_MSGPACK))
    assert recs[1]["s"] is None and recs[1]["o"] is None and recs[1]["i"] is None and recs[1]["t"] is None
    assert recs[0]["s"] == "a" and recs[0]["i"] == 1 and np.isnan(recs[1]["f"])
    assert df["s"].isna().tolist() == [False, True]  # the caller's frame is untouched


def test_dataframe_text_is_arrow_string_whatever_the_pandas_version():
    """pandas >= 3 converts text to ``large_string``; pulse_mq sends ``string`` (what the Rust
    SDK writes), so the schema on the wire does not depend on the pandas version. A pyarrow
    Table is sent as given."""
    pd = pytest.importorskip("pandas")
    pa = pytest.importorskip("pyarrow")
    df = pd.DataFrame({"s": ["a", None, "丙"], "b": [b"x", b"y", None], "n": [1, 2, 3]})
    table = codec.decode_table(codec.encode_payload(df, Format.DF_ARROW))
    assert table.schema.field("s").type == pa.string() and table.schema.field("b").type == pa.binary()
    assert table.column("s").to_pylist() == ["a", None, "丙"]
    assert table.schema.metadata and b"pandas" in table.schema.metadata  # index info kept
    large = pa.table({"s": pa.array(["a"], pa.large_string())})
    assert codec.decode_table(codec.encode_payload(large, Format.DF_ARROW)).schema.field("s").type == pa.large_string()


@pytest.mark.parametrize("algo", list(Compression))
def test_compression_round_trip(algo):
    data = b"sz000651,10.55,1000;" * 5000
    wire, flags = codec.prepare_payload(data, Format.BYTES, algo)
    assert flags == 0x01 | algo.bits
    assert len(wire) < len(data)
    assert codec.decompress(wire, algo, Format.BYTES) == data
    msg = PulseMessage("ns", "t", "pub", Format.BYTES, flags, 0, wire, 1, 0)
    assert msg.data == data and msg.compressed == algo.wire_name and msg.compression == algo.wire_name


def test_pulse_message_has_the_seed_readme_fields():
    """Code written for the seed README reads namespace, topic, data, format, timestamp and
    compressed (this SDK called the last one compression: kept as an alias)."""
    wire, flags = codec.prepare_payload("信号" * 1000, Format.STRING, Compression.ZLIB)
    m = PulseMessage("md", "sz000651.kline.1m", "feed", Format.STRING, flags, 1_735_689_600_000, wire, 3, 0)
    seed = {k: getattr(m, k) for k in ("namespace", "topic", "data", "format", "timestamp", "compressed")}
    assert seed == {"namespace": "md", "topic": "sz000651.kline.1m", "data": "信号" * 1000, "format": "string",
                    "timestamp": 1_735_689_600_000, "compressed": "zlib"}
    assert m.compression == m.compressed


@pytest.mark.parametrize("algo", list(Compression))
def test_decompression_refuses_to_inflate_beyond_the_limit(algo):
    bomb = codec.compress(b"\0" * (8192 + 1), algo)  # one byte over the STRING limit
    with pytest.raises(PayloadTooLargeError):
        codec.decompress(bomb, algo, Format.STRING)
    ok = codec.compress(b"a" * 8192, algo)
    assert codec.decompress(ok, algo, Format.STRING) == b"a" * 8192


def test_corrupt_compressed_payload():
    with pytest.raises(PayloadFormatError):
        codec.decompress(b"not zlib", Compression.ZLIB, Format.BYTES)
    assert zlib.decompress(codec.compress(b"x", Compression.ZLIB)) == b"x"  # plain zlib stream


def test_missing_optional_dependency_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "zstandard", None)
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(MissingDependencyError, match=r"pulse-mq\[zstd\]"):
        codec.compress(b"x", Compression.ZSTD)
    with pytest.raises(MissingDependencyError, match=r"pulse-mq\[dataframe\]"):
        codec.decode_payload(codec.encode_payload([{"a": 1}], Format.DF_MSGPACK), Format.DF_MSGPACK)
    # bytes and strings never need them
    assert codec.decode_payload(b"ok", Format.STRING) == "ok"
    # and a MissingDependencyError is an ImportError
    assert issubclass(MissingDependencyError, ImportError)


def test_pulse_message_fields():
    m = PulseMessage("md", "a.b", "alice", Format.STRING, 0x08, 1_735_689_600_000, b"hi", 7, 1_735_689_600_000_500)
    assert (m.namespace, m.topic, m.publisher, m.username, m.format, m.seq) == ("md", "a.b", "alice", "alice",
                                                                               "string", 7)
    assert m.data == "hi" and m.is_snapshot and m.compression is None and not m.compressed
    assert m.datetime == dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc)
    assert m.latency_us == 500
