"""The wire codec: protocol 6 (one frame a message, batches, cumulative ACKs), protocol 5
(header, six-frame envelope, MSG ext frame), names and wildcards.

A port of the Rust ``pulsemq-shared`` crate (``v6.rs``, ``header.rs``, ``frames.rs``,
``names.rs``); both are checked against the same golden vectors
(``shared/testdata/frames_v6.json``, ``shared/testdata/frames.json``). Pure code, no I/O.
"""

from __future__ import annotations

import enum
import functools
import re
import struct
import time
from dataclasses import dataclass
from typing import Iterator, List, NamedTuple, Optional, Sequence, Tuple, Union

from .errors import ProtocolError, TopicFormatError

__all__ = [
    "PROTOCOL_VERSION", "LEGACY_VERSION", "HEADER_LEN", "FRAME_COUNT", "EXT_LEN",
    "MsgType", "Format", "Compression", "FLAG_COMPRESSED", "FLAG_NO_ACK", "FLAG_SNAPSHOT", "ALGO_MASK",
    "FORMAT_LIMITS", "MAX_LIMIT", "Header", "Frames", "Ext", "DecodeError",
    "encode_frames", "decode_frames", "now_ms",
    "V6_VERSION", "FLAG_CUMULATIVE", "encode_v6", "encode_batch", "decode_v6", "decode_v6_message", "decode_v6_items", "Delivery", "encode_v6_publish",
    "cumulative_ack_seq",
    "validate_namespace", "validate_topic", "validate_pattern", "Pattern",
]

PROTOCOL_VERSION = 5
LEGACY_VERSION = 4
HEADER_LEN = 20
FRAME_COUNT = 6
EXT_LEN = 16

_HEADER = struct.Struct(">BBBBIIq")
_EXT = struct.Struct(">QQ")


class MsgType(enum.IntEnum):
    AUTH = 0x01
    PUB = 0x02
    SUB = 0x03
    UNSUB = 0x04
    MSG = 0x05
    ACK = 0x06
    ERROR = 0x07
    PING = 0x08
    PONG = 0x09
    QUERY = 0x0A
    ATTACH = 0x0B
    BYE = 0x0C
    BATCH = 0x0D  # protocol 6 only


class Format(enum.IntEnum):
    BYTES = 0x00
    STRING = 0x01
    DF_MSGPACK = 0x02
    DF_ARROW = 0x03

    @property
    def limit(self) -> int:
        """Largest payload accepted for this format, in bytes (exactly the limit is accepted)."""
        return FORMAT_LIMITS[self]

    @property
    def wire_name(self) -> str:
        return _FORMAT_NAMES[self]

    @classmethod
    def parse(cls, value: Union[str, int, "Format"]) -> "Format":
        """Accepts a Format, its code, or a name: ``bytes``, ``string``, ``df_msgpack``,
        ``df_pyarrow`` / ``df_arrow`` (case-insensitive)."""
        if isinstance(value, Format):
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            try:
                return cls(value)
            except ValueError:
                raise ValueError(f"unknown data format code {value}") from None
        if isinstance(value, str):
            f = _FORMAT_BY_NAME.get(value.strip().lower())
            if f is not None:
                return f
        raise ValueError(
            f"unknown data format {value!r}: use 'bytes', 'string', 'df_msgpack' or 'df_pyarrow'")


FORMAT_LIMITS = {
    Format.BYTES: 10 * 1024 * 1024,
    Format.STRING: 8 * 1024,
    Format.DF_MSGPACK: 1024 * 1024,
    Format.DF_ARROW: 64 * 1024 * 1024,
}
MAX_LIMIT = 64 * 1024 * 1024
_FORMAT_NAMES = {Format.BYTES: "bytes", Format.STRING: "string", Format.DF_MSGPACK: "df_msgpack",
                 Format.DF_ARROW: "df_pyarrow"}
_FORMAT_BY_NAME = {
    "bytes": Format.BYTES, "string": Format.STRING, "str": Format.STRING,
    "df_msgpack": Format.DF_MSGPACK, "msgpack": Format.DF_MSGPACK,
    "df_pyarrow": Format.DF_ARROW, "df_arrow": Format.DF_ARROW, "arrow": Format.DF_ARROW,
    "pyarrow": Format.DF_ARROW,
}

FLAG_COMPRESSED = 0x01
FLAG_NO_ACK = 0x02
FLAG_SNAPSHOT = 0x08
FLAG_CUMULATIVE = 0x04  # protocol-6 ACK: confirms every request up to its request_id
ALGO_MASK = 0x30


class Compression(enum.Enum):
    ZLIB = 0x10
    LZ4 = 0x20
    ZSTD = 0x30

    @property
    def bits(self) -> int:
        return self.value

    @property
    def wire_name(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, value: Union[None, str, "Compression"]) -> Optional["Compression"]:
        if value is None or value is False:
            return None
        if isinstance(value, Compression):
            return value
        if isinstance(value, str):
            v = value.strip().lower()
            if v in ("", "none"):
                return None
            if v in ("zlib", "deflate"):
                return cls.ZLIB
            if v in ("lz4", "lz4frame", "lz4_frame"):
                return cls.LZ4
            if v in ("zstd", "zstandard"):
                return cls.ZSTD
        raise ValueError(f"unknown compression {value!r}: use None, 'zlib', 'lz4' or 'zstd'")

    @classmethod
    def from_flags(cls, flags: int) -> Optional["Compression"]:
        """The algorithm of a flags byte; ``None`` when not compressed."""
        if not flags & FLAG_COMPRESSED:
            return None
        bits = flags & ALGO_MASK
        for c in cls:
            if c.value == bits:
                return c
        raise DecodeError(5, f"unknown compression bits 0x{bits:02x}")


class DecodeError(ProtocolError):
    """A frame failed to decode; ``code`` is the ERROR code the broker would answer."""

    def __init__(self, code: int, message: str):
        super().__init__(message, code=code)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(frozen=True)
class Header:
    version: int
    msg_type: int
    format: int
    flags: int
    payload_length: int
    request_id: int
    timestamp_ms: int

    @classmethod
    def new(cls, msg_type: int, fmt: int = Format.BYTES, flags: int = 0, payload_length: int = 0,
            request_id: int = 0) -> "Header":
        return cls(PROTOCOL_VERSION, int(msg_type), int(fmt), flags, payload_length, request_id, now_ms())

    def encode(self) -> bytes:
        return _HEADER.pack(self.version, int(self.msg_type), int(self.format), self.flags,
                            self.payload_length, self.request_id, self.timestamp_ms)

    @classmethod
    def decode(cls, b: bytes) -> "Header":
        """Exactly 20 bytes; version 4 or 5; a known type and format."""
        if len(b) != HEADER_LEN:
            raise DecodeError(9, f"header must be exactly 20 bytes, got {len(b)}")
        version, t, f, flags, plen, rid, ts = _HEADER.unpack(b)
        if version not in (PROTOCOL_VERSION, LEGACY_VERSION):
            raise DecodeError(9, f"unsupported protocol version {version} (this client speaks 5)")
        try:
            t = MsgType(t)
        except ValueError:
            raise DecodeError(6, f"unknown message type 0x{t:02x}") from None
        if t == MsgType.BATCH:
            raise DecodeError(6, "unknown message type 0x0d (batches exist in protocol 6 only)")
        try:
            f = Format(f)
        except ValueError:
            raise DecodeError(5, f"unknown data format 0x{f:02x}") from None
        return cls(version, t, f, flags, plen, rid, ts)

    @staticmethod
    def peek_request_id(b: bytes) -> int:
        """Best-effort request id of a header that failed to decode."""
        return int.from_bytes(b[8:12], "big") if len(b) >= 12 else 0

    @property
    def compression(self) -> Optional[Compression]:
        return Compression.from_flags(self.flags)

    def has_flag(self, flag: int) -> bool:
        return bool(self.flags & flag)


@dataclass
class Frames:
    """One decoded message (the six v5 frames, or one v6 message; ``ext`` is set for a v6 MSG)."""
    header: Header
    namespace: str = ""
    topic: str = ""
    username: str = ""
    payload: bytes = b""
    reserved: bytes = b""
    ext: Optional["Ext"] = None

    def to_parts(self) -> List[bytes]:
        return [self.header.encode(), self.namespace.encode(), self.topic.encode(),
                self.username.encode(), bytes(self.payload), bytes(self.reserved)]


def encode_frames(msg_type: int, namespace: str = "", topic: str = "", username: str = "",
                  payload: bytes = b"", *, fmt: int = Format.BYTES, flags: int = 0, request_id: int = 0,
                  reserved: bytes = b"", timestamp_ms: Optional[int] = None) -> List[bytes]:
    """The six frames of a protocol-5 message; ``payload_length`` is set from the payload."""
    h = Header(PROTOCOL_VERSION, int(msg_type), int(fmt), flags, len(payload), request_id,
               now_ms() if timestamp_ms is None else timestamp_ms)
    return [h.encode(), namespace.encode(), topic.encode(), username.encode(), payload, reserved]


def _utf8(b: bytes, what: str) -> str:
    try:
        return bytes(b).decode("utf-8")
    except UnicodeDecodeError:
        raise DecodeError(4, f"{what} is not valid UTF-8") from None


def decode_frames(parts: Sequence[bytes]) -> Frames:
    """Decodes six frames: exact count, valid header, ``payload_length`` equal to the payload
    frame's length, UTF-8 names. Raises :class:`DecodeError` with the broker's error code."""
    if len(parts) != FRAME_COUNT:
        raise DecodeError(9, f"expected {FRAME_COUNT} frames, got {len(parts)}")
    header = Header.decode(bytes(parts[0]))
    payload = bytes(parts[4])
    if header.payload_length != len(payload):
        raise DecodeError(9, f"payload_length says {header.payload_length} bytes but the payload "
                             f"frame has {len(payload)}")
    return Frames(header, _utf8(parts[1], "namespace"), _utf8(parts[2], "topic"),
                  _utf8(parts[3], "username"), payload, bytes(parts[5]))


@dataclass(frozen=True)
class Ext:
    """The MSG ``ext`` frame: per-topic sequence and broker receive time (µs since the epoch)."""
    seq: int
    broker_time_us: int

    def encode(self) -> bytes:
        return _EXT.pack(self.seq, self.broker_time_us)

    @classmethod
    def decode(cls, b: bytes) -> "Ext":
        if len(b) != EXT_LEN:
            raise DecodeError(9, f"ext frame must be 16 bytes, got {len(b)}")
        return cls(*_EXT.unpack(b))


# ---- protocol 6 (design.md §3.7; byte layout in the README) ---------------------------------
#
#   message = u8 6 | u8 type | u8 format | u8 flags | u32 request_id | i64 timestamp_ms
#             | u8 ns_len | namespace | u8 topic_len | topic
#             | MSG only: u8 publisher_len | publisher | u64 seq | u64 broker_time_us
#             | payload (the rest)
#   batch   = u8 6 | u8 0x0D | u8 0 | u8 0 | u32 count | count x (u32 len | message)

V6_VERSION = 6
V6_FIXED_LEN = 16
# Enum lookups by value through dicts: MsgType(t) costs a call into enum machinery per
# message, which a 100 000-message burst feels.
_MSG_TYPES = {int(t): t for t in MsgType}
_FORMATS = {int(f): f for f in Format}
_MSG_CODE = int(MsgType.MSG)
_PUB_CODE = int(MsgType.PUB)
_V6_FIXED = struct.Struct(">BBBBIq")
_BATCH_HEAD = struct.Struct(">BBBBI")
_U32 = struct.Struct(">I")
_SEQ = struct.Struct(">Q")


def _name_byte(b: bytes, what: str) -> bytes:
    if len(b) > 255:
        raise DecodeError(4, f"{what} of {len(b)} bytes cannot be encoded (at most 255)")
    return bytes((len(b),))


@functools.lru_cache(maxsize=4096)
def _names(namespace: str, topic: str) -> bytes:
    """The length-prefixed namespace and topic (cached: publishers reuse a few topics)."""
    ns, tp = namespace.encode(), topic.encode()
    return b"".join((_name_byte(ns, "namespace"), ns, _name_byte(tp, "topic"), tp))


def encode_v6(msg_type: int, namespace: str = "", topic: str = "", payload: bytes = b"", *,
              fmt: int = Format.BYTES, flags: int = 0, request_id: int = 0,
              timestamp_ms: Optional[int] = None, publisher: str = "", ext: Optional[Ext] = None) -> bytes:
    """One protocol-6 message (one ZeroMQ frame). ``publisher`` and ``ext`` are written for MSG only."""
    parts = [_V6_FIXED.pack(V6_VERSION, msg_type, fmt, flags, request_id,
                            now_ms() if timestamp_ms is None else timestamp_ms),
             _names(namespace, topic)]
    if msg_type == MsgType.MSG:
        pb = publisher.encode()
        e = ext or Ext(0, 0)
        parts += [_name_byte(pb, "publisher"), pb, _EXT.pack(e.seq, e.broker_time_us)]
    parts.append(payload)
    return b"".join(parts)


def encode_v6_publish(namespace: str, topic: str, payload: bytes, fmt: int, flags: int, request_id: int) -> bytes:
    """A PUB, exactly as :func:`encode_v6` writes it, with less work per call: the publisher's
    hot path (one call per message)."""
    return b"".join((_V6_FIXED.pack(V6_VERSION, _PUB_CODE, fmt, flags, request_id, time.time_ns() // 1_000_000),
                     _names(namespace, topic), payload))


def encode_batch(messages: Sequence[bytes]) -> bytes:
    """One frame for several encoded messages; a single message is returned as it is."""
    if len(messages) == 1:
        return messages[0]
    out = [_BATCH_HEAD.pack(V6_VERSION, MsgType.BATCH, 0, 0, len(messages))]
    for m in messages:
        out.append(_U32.pack(len(m)))
        out.append(m)
    return b"".join(out)


def _v6_name(b: bytes, pos: int, end: int, what: str) -> Tuple[str, int]:
    if pos >= end:
        raise DecodeError(9, f"message ends inside its {what}")
    n = b[pos]
    pos += 1
    if pos + n > end:
        raise DecodeError(9, f"message ends inside its {what}")
    try:
        return b[pos:pos + n].decode("utf-8"), pos + n
    except UnicodeDecodeError:
        raise DecodeError(4, f"{what} is not valid UTF-8") from None


def decode_v6_message(b: bytes, start: int = 0, end: Optional[int] = None) -> Frames:
    """Decodes one plain protocol-6 message ``b[start:end]``; raises :class:`DecodeError`."""
    end = len(b) if end is None else end
    if end - start < V6_FIXED_LEN + 2:
        raise DecodeError(9, "message ends inside its header")
    version, t_raw, f_raw, flags, rid, ts = _V6_FIXED.unpack_from(b, start)
    if version != V6_VERSION:
        raise DecodeError(9, f"unsupported protocol version {version}")
    t = _MSG_TYPES.get(t_raw)
    if t is None:
        raise DecodeError(6, f"unknown message type 0x{t_raw:02x}")
    if t == MsgType.BATCH:
        raise DecodeError(9, "a batch may not contain a batch")
    f = _FORMATS.get(f_raw)
    if f is None:
        raise DecodeError(5, f"unknown data format 0x{f_raw:02x}")
    ns, pos = _v6_name(b, start + V6_FIXED_LEN, end, "namespace")
    topic, pos = _v6_name(b, pos, end, "topic")
    publisher, ext = "", None
    if t == MsgType.MSG:
        publisher, pos = _v6_name(b, pos, end, "publisher")
        if pos + EXT_LEN > end:
            raise DecodeError(9, "message ends inside its sequence")
        ext = Ext(*_EXT.unpack_from(b, pos))
        pos += EXT_LEN
    payload = b[pos:end]
    return Frames(Header(V6_VERSION, t, f, flags, len(payload), rid, ts), ns, topic, publisher, payload, b"", ext)


def _v6_items(b: bytes) -> Iterator[Union[Tuple[int, int], DecodeError]]:
    """The ``(start, end)`` of every message in one received frame (the whole frame when it is
    not a batch); a broken batch framing ends the items with one :class:`DecodeError`."""
    if len(b) < 2 or b[0] != V6_VERSION or b[1] != MsgType.BATCH:
        yield 0, len(b)
        return
    if len(b) < _BATCH_HEAD.size:
        yield DecodeError(9, "message ends inside its batch header")
        return
    count = _BATCH_HEAD.unpack_from(b)[4]
    if count == 0 or count * (4 + V6_FIXED_LEN + 2) > len(b) - _BATCH_HEAD.size:
        yield DecodeError(9, f"batch declares {count} messages, which its frame cannot hold")
        return
    pos = _BATCH_HEAD.size
    for _ in range(count):
        if pos + 4 > len(b):
            yield DecodeError(9, "message ends inside its batch item length")
            return
        (n,) = _U32.unpack_from(b, pos)
        pos += 4
        if pos + n > len(b):
            yield DecodeError(9, "message ends inside its batch item length")
            return
        yield pos, pos + n
        pos += n
    if pos != len(b):
        yield DecodeError(9, "message ends inside its batch (bytes after the last item)")


def decode_v6(frame: bytes) -> List[Union[Frames, DecodeError]]:
    """Every message of one received frame (a plain message or a batch), in order. A bad item
    is returned as its :class:`DecodeError` in place, so the rest of a batch is still read; a
    broken batch framing ends the list with one error."""
    b = bytes(frame)
    out: List[Union[Frames, DecodeError]] = []
    for item in _v6_items(b):
        if isinstance(item, DecodeError):
            out.append(item)
            continue
        try:
            out.append(decode_v6_message(b, item[0], item[1]))
        except DecodeError as e:
            out.append(e)
    return out


class Delivery(NamedTuple):
    """A protocol-6 MSG as :func:`decode_v6_items` returns it: a plain tuple, because a
    subscriber's hot path decodes one per message and a tuple costs the least to build."""
    namespace: str
    topic: str
    publisher: str
    format: Format
    flags: int
    timestamp_ms: int
    payload: bytes
    seq: int
    broker_time_us: int


def _fast_msg(b: bytes, start: int, end: int) -> Optional[Delivery]:
    """A well-formed MSG item as a :class:`Delivery`; None for anything else (other types, bad
    input), which the full decoder then handles and explains."""
    if end - start < V6_FIXED_LEN + 3 + EXT_LEN:
        return None
    version, t_raw, f_raw, flags, _rid, ts = _V6_FIXED.unpack_from(b, start)
    f = _FORMATS.get(f_raw)
    if version != V6_VERSION or t_raw != _MSG_CODE or f is None:
        return None
    pos = start + V6_FIXED_LEN
    try:
        n = b[pos]
        ns = b[pos + 1:pos + 1 + n].decode()
        pos += 1 + n
        n = b[pos]
        topic = b[pos + 1:pos + 1 + n].decode()
        pos += 1 + n
        n = b[pos]
        publisher = b[pos + 1:pos + 1 + n].decode()
        pos += 1 + n
    except (IndexError, UnicodeDecodeError):
        return None
    if pos + EXT_LEN > end:
        return None
    seq, bt = _EXT.unpack_from(b, pos)
    return Delivery(ns, topic, publisher, f, flags, ts, b[pos + EXT_LEN:end], seq, bt)


def decode_v6_items(frame: bytes) -> List[Union[Delivery, Frames, DecodeError]]:
    """Like :func:`decode_v6`, but every well-formed MSG comes as a :class:`Delivery` (the
    subscriber's fast path); other messages and errors exactly as :func:`decode_v6` gives them."""
    b = bytes(frame)
    out: List[Union[Delivery, Frames, DecodeError]] = []
    append = out.append
    for item in _v6_items(b):
        if isinstance(item, DecodeError):
            append(item)
            continue
        start, end = item
        d = _fast_msg(b, start, end)
        if d is not None:
            append(d)
            continue
        try:
            append(decode_v6_message(b, start, end))
        except DecodeError as e:
            append(e)
    return out


def cumulative_ack_seq(payload: bytes) -> Optional[int]:
    """The topic sequence a cumulative ACK carries for the publish it names, if any."""
    return _SEQ.unpack(payload)[0] if len(payload) == 8 else None


# ---- names and wildcards (design.md §3.4) ---------------------------------------------------

_LEVEL = re.compile(r"[A-Za-z0-9_]{1,32}")
MAX_LEVELS = 3
RESERVED_NAMESPACE = "system"


def _is_level(s: str) -> bool:
    return _LEVEL.fullmatch(s) is not None


def validate_namespace(ns: str) -> None:
    """``^[A-Za-z0-9_]{1,32}$`` and not ``system``; raises :class:`TopicFormatError`."""
    if not isinstance(ns, str) or not _is_level(ns):
        raise TopicFormatError(f"invalid namespace {ns!r}: use 1-32 of [A-Za-z0-9_]")
    if ns == RESERVED_NAMESPACE:
        raise TopicFormatError("namespace 'system' is reserved")


def validate_topic(topic: str) -> None:
    """1-3 levels separated by ``.``, each ``[A-Za-z0-9_]{1,32}``."""
    if not isinstance(topic, str):
        raise TopicFormatError(f"invalid topic {topic!r}")
    levels = topic.split(".")
    if len(levels) > MAX_LEVELS or not all(_is_level(x) for x in levels):
        raise TopicFormatError(
            f"invalid topic {topic!r}: 1-3 levels separated by '.', each 1-32 of [A-Za-z0-9_]")


class Pattern:
    """A validated subscription pattern: ``*`` is exactly one level, ``>`` (last level only)
    one or more levels."""

    __slots__ = ("text", "_levels")

    def __init__(self, text: str):
        if not isinstance(text, str):
            raise TopicFormatError(f"invalid pattern {text!r}")
        parts = text.split(".")
        bad = TopicFormatError(
            f"invalid pattern {text!r}: 1-3 levels of [A-Za-z0-9_]{{1,32}}, '*' for one level, "
            f"'>' only as the last level")
        if len(parts) > MAX_LEVELS:
            raise bad
        for i, p in enumerate(parts):
            if p == "*" or (p == ">" and i == len(parts) - 1) or _is_level(p):
                continue
            raise bad
        self.text = text
        self._levels = tuple(parts)

    @property
    def is_literal(self) -> bool:
        return all(p not in ("*", ">") for p in self._levels)

    def matches(self, topic: str) -> bool:
        t = topic.split(".")
        n = len(t)
        for i, level in enumerate(self._levels):
            if level == ">":
                return n > i
            if i >= n:
                return False
            if level != "*" and level != t[i]:
                return False
        return n == len(self._levels)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Pattern) and other.text == self.text

    def __hash__(self) -> int:
        return hash(self.text)

    def __repr__(self) -> str:
        return f"Pattern({self.text!r})"

    def __str__(self) -> str:
        return self.text


def validate_pattern(p: str) -> None:
    Pattern(p)
