"""``PulseMessage``: what a subscriber receives."""

from __future__ import annotations

import datetime as _dt
from typing import Any, Optional

from . import codec
from .protocol import FLAG_SNAPSHOT, Compression, Format

__all__ = ["PulseMessage"]

_UNSET = object()


class PulseMessage:
    """One delivered message.

    The seed README's fields: ``namespace``, ``topic``, ``data`` (decoded: bytes, str or pandas
    DataFrame), ``format`` (``"bytes"``, ``"string"``, ``"df_msgpack"``, ``"df_pyarrow"``),
    ``timestamp`` (publisher's clock, ms since the epoch), ``compressed`` (the algorithm it
    travelled with, ``"zlib"``, ``"lz4"`` or ``"zstd"``, so truthy exactly when it was compressed;
    ``None`` otherwise; alias ``compression``, this SDK's earlier name). Ours: ``publisher`` (the authenticated username, stamped by the broker; alias
    ``username``), ``seq`` (per-topic sequence number), ``broker_time_us``, ``is_snapshot``
    (replayed from the last-value cache), ``payload`` (uncompressed bytes), ``raw_payload``
    (bytes as received). ``records`` (df_msgpack without pandas) and ``table`` (pyarrow Table)
    are also available. Decompression and decoding happen on first access.
    """

    __slots__ = ("namespace", "topic", "publisher", "format_code", "flags", "timestamp", "seq",
                 "broker_time_us", "raw_payload", "_payload", "_data")

    def __init__(self, namespace: str, topic: str, publisher: str, format_code: Format, flags: int,
                 timestamp: int, raw_payload: bytes, seq: int = 0, broker_time_us: int = 0):
        self.namespace = namespace
        self.topic = topic
        self.publisher = publisher
        self.format_code = format_code if type(format_code) is Format else Format(format_code)
        self.flags = flags
        self.timestamp = timestamp
        self.raw_payload = raw_payload
        self.seq = seq
        self.broker_time_us = broker_time_us
        self._payload: Any = _UNSET
        self._data: Any = _UNSET

    # -- metadata ---------------------------------------------------------------------------
    @property
    def username(self) -> str:
        """The publisher (name of the original ``Message.username``)."""
        return self.publisher

    @property
    def format(self) -> str:
        return self.format_code.wire_name

    @property
    def compressed(self) -> Optional[str]:
        """The compression it travelled with (``"zlib"``, ``"lz4"``, ``"zstd"``), or ``None``."""
        c = Compression.from_flags(self.flags)
        return c.wire_name if c else None

    @property
    def compression(self) -> Optional[str]:
        """Alias of :attr:`compressed` (the name before the seed's)."""
        return self.compressed

    @property
    def is_snapshot(self) -> bool:
        return bool(self.flags & FLAG_SNAPSHOT)

    @property
    def datetime(self) -> _dt.datetime:
        """The publisher's timestamp as an aware UTC datetime."""
        return _dt.datetime.fromtimestamp(self.timestamp / 1000, tz=_dt.timezone.utc)

    @property
    def latency_us(self) -> int:
        """Broker receive time minus the publisher's timestamp, in µs (clock skew included)."""
        return self.broker_time_us - self.timestamp * 1000

    # -- payload ----------------------------------------------------------------------------
    @property
    def payload(self) -> bytes:
        """The payload after decompression (limited to the format's size limit)."""
        if self._payload is _UNSET:
            algo = Compression.from_flags(self.flags)
            self._payload = (self.raw_payload if algo is None
                             else codec.decompress(self.raw_payload, algo, self.format_code))
        return self._payload

    @property
    def data(self) -> Any:
        """Decoded payload: bytes, str, or a pandas DataFrame for the DataFrame formats."""
        if self._data is _UNSET:
            self._data = codec.decode_payload(self.payload, self.format_code)
        return self._data

    @property
    def records(self) -> Any:
        """A df_msgpack payload as Python objects (a list of dicts); no pandas needed."""
        if self.format_code != Format.DF_MSGPACK:
            raise TypeError(f"records is for df_msgpack messages, this one is {self.format}")
        return codec.decode_records(self.payload)

    @property
    def table(self) -> Any:
        """A df_pyarrow payload as a ``pyarrow.Table``."""
        if self.format_code != Format.DF_ARROW:
            raise TypeError(f"table is for df_pyarrow messages, this one is {self.format}")
        return codec.decode_table(self.payload)

    def __repr__(self) -> str:
        return (f"PulseMessage(namespace={self.namespace!r}, topic={self.topic!r}, "
                f"publisher={self.publisher!r}, format={self.format!r}, seq={self.seq}, "
                f"size={len(self.raw_payload)}, compression={self.compression!r}"
                f"{', snapshot' if self.is_snapshot else ''})")
