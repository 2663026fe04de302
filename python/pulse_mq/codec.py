"""Payload encoding (bytes, string, DataFrame as MessagePack records or Arrow IPC stream)
and compression (zlib, lz4 frame, zstd), with the format limits of design.md §3.1.

pandas and pyarrow are optional (extra ``[dataframe]``), lz4 and zstandard too (extras ``[lz4]``,
``[zstd]``, or ``[compression]`` for both); a call that needs a missing one raises
:class:`MissingDependencyError` naming the extra to install.
"""

from __future__ import annotations

import datetime as _dt
import io
import zlib
from typing import Any, Optional, Tuple

from .errors import MissingDependencyError, PayloadFormatError, PayloadTooLargeError
from .protocol import FLAG_COMPRESSED, Compression, Format

__all__ = ["encode_payload", "decode_payload", "compress", "decompress", "infer_format", "prepare_payload"]


def _require(module: str, extra: str, what: str):
    try:
        return __import__(module, fromlist=["_"])
    except ImportError:
        raise MissingDependencyError(
            f"{what} needs the '{module}' package: pip install 'pulse-mq[{extra}]'") from None


def _pandas():
    return _require("pandas", "dataframe", "DataFrame support")


def _pyarrow():
    pa = _require("pyarrow", "dataframe", "the df_pyarrow format")
    _require("pyarrow.ipc", "dataframe", "the df_pyarrow format")
    return pa


def _msgpack():
    return _require("msgpack", "dataframe", "the df_msgpack format")


def _is_dataframe(obj: Any) -> bool:
    t = type(obj)
    return t.__name__ == "DataFrame" and t.__module__.startswith("pandas")


def infer_format(data: Any) -> Format:
    """The format used when ``format=None``: bytes-like → bytes, str → string,
    pandas DataFrame / pyarrow Table → df_pyarrow, list of records → df_msgpack."""
    if isinstance(data, (bytes, bytearray, memoryview)):
        return Format.BYTES
    if isinstance(data, str):
        return Format.STRING
    if _is_dataframe(data) or type(data).__module__.startswith("pyarrow"):
        return Format.DF_ARROW
    if isinstance(data, (list, tuple, dict)):
        return Format.DF_MSGPACK
    raise TypeError(f"cannot infer a format for {type(data).__name__}: pass format=...")


# ---- MessagePack ---------------------------------------------------------------------------

def _msgpack_default(obj: Any) -> Any:
    """Values pandas' to_dict("records") may leave that msgpack cannot pack."""
    msgpack = _msgpack()
    if isinstance(obj, _dt.datetime):
        if obj.tzinfo is None:  # naive datetimes (pandas default) are taken as UTC
            obj = obj.replace(tzinfo=_dt.timezone.utc)
        return msgpack.Timestamp.from_datetime(obj)
    if isinstance(obj, _dt.date):
        return obj.isoformat()
    if isinstance(obj, _dt.timedelta):
        return obj.total_seconds()
    mod = type(obj).__module__
    if mod.startswith("pandas"):
        name = type(obj).__name__
        if name == "Timestamp":
            if obj.tzinfo is None:
                obj = obj.tz_localize("UTC")
            return msgpack.Timestamp(int(obj.value // 1_000_000_000), int(obj.value % 1_000_000_000))
        if name in ("NaTType", "NAType"):
            return None
        if name == "Timedelta":
            return obj.total_seconds()
    if mod == "numpy" or mod.startswith("numpy"):
        if hasattr(obj, "tolist"):
            return obj.tolist()
    if isinstance(obj, (set, frozenset)):
        return list(obj)
    raise TypeError(f"cannot pack {type(obj).__name__} as MessagePack")


def _dataframe_records(df: Any) -> list:
    """``df.to_dict("records")`` with the missing values of non-float columns as None (msgpack nil).

    pandas >= 3 keeps text in the ``str`` dtype, whose missing value is NaN: a plain
    ``to_dict`` packs a null string as a float NaN (pandas 2's object columns gave None), which
    typed readers such as the Rust SDK's ``Option<String>`` reject. Float columns keep NaN,
    a float on both sides; datetimes' NaT and nullable dtypes' NA become None either way.
    """
    fix = [i for i, dt in enumerate(df.dtypes) if dt.kind not in "fc" and df.iloc[:, i].hasnans]
    if fix:
        df = df.copy(deep=False)
        for i in fix:
            col = df.iloc[:, i]
            df.isetitem(i, col.astype(object).where(col.notna(), None))
    return df.to_dict("records")


def _encode_msgpack(data: Any) -> bytes:
    msgpack = _msgpack()
    if _is_dataframe(data):
        records = _dataframe_records(data)
    elif type(data).__module__.startswith("pyarrow"):
        records = data.to_pylist()
    else:
        records = data
    try:
        return msgpack.packb(records, use_bin_type=True, default=_msgpack_default)
    except (TypeError, ValueError, OverflowError) as e:
        raise PayloadFormatError(f"cannot encode df_msgpack payload: {e}") from e


def decode_records(payload: bytes) -> Any:
    """Unpacks a df_msgpack payload to Python objects (normally a list of record dicts)."""
    msgpack = _msgpack()
    try:
        return msgpack.unpackb(payload, raw=False, timestamp=3, strict_map_key=False)
    except Exception as e:  # msgpack raises several unrelated exception types
        raise PayloadFormatError(f"invalid df_msgpack payload: {e}") from e


def records_to_dataframe(records: Any):
    pd = _pandas()
    if isinstance(records, dict):
        return pd.DataFrame([records])
    return pd.DataFrame(records)


# ---- Arrow ---------------------------------------------------------------------------------

def _narrow_offsets(pa, table):
    """``large_string`` / ``large_binary`` columns of a converted DataFrame as ``string`` / ``binary``.

    pandas >= 3 text columns convert to ``large_string`` (pandas 2's object columns to
    ``string``), so the wire schema would depend on the pandas version, and Rust readers
    downcasting to ``StringArray`` (what the Rust SDK writes) would fail. 32-bit offsets always
    suffice: a df_pyarrow payload is at most 64 MiB. Tables passed in as pyarrow are sent as is.
    """
    narrow = {pa.large_string(): pa.string(), pa.large_binary(): pa.binary()}
    if not any(f.type in narrow for f in table.schema):
        return table
    fields = [f.with_type(narrow.get(f.type, f.type)) for f in table.schema]
    try:
        return table.cast(pa.schema(fields, metadata=table.schema.metadata))
    except pa.ArrowInvalid:  # > 2 GiB of text: far beyond the limit, the size check reports it
        return table


def _encode_arrow(data: Any) -> bytes:
    pa = _pyarrow()
    import pyarrow.ipc as ipc

    if _is_dataframe(data):
        table = _narrow_offsets(pa, pa.Table.from_pandas(data))
    elif isinstance(data, (pa.Table, pa.RecordBatch)):
        table = data
    else:
        raise TypeError(f"df_pyarrow needs a pandas DataFrame or a pyarrow Table, not {type(data).__name__}")
    sink = pa.BufferOutputStream()
    with ipc.new_stream(sink, table.schema) as w:
        if isinstance(table, pa.RecordBatch):
            w.write_batch(table)
        else:
            w.write_table(table)
    return sink.getvalue().to_pybytes()


def decode_table(payload: bytes):
    """Reads a df_pyarrow payload (Arrow IPC stream) into a ``pyarrow.Table``."""
    _pyarrow()
    import pyarrow.ipc as ipc

    try:
        return ipc.open_stream(payload).read_all()
    except Exception as e:
        raise PayloadFormatError(f"invalid df_pyarrow payload (expected an Arrow IPC stream): {e}") from e


# ---- formats -------------------------------------------------------------------------------

def encode_payload(data: Any, fmt: Format) -> bytes:
    """Serializes ``data`` in format ``fmt`` (no size check, no compression)."""
    if fmt == Format.BYTES:
        if isinstance(data, (bytes, bytearray, memoryview)):
            return bytes(data)
        raise TypeError(f"format 'bytes' needs bytes, bytearray or memoryview, not {type(data).__name__}")
    if fmt == Format.STRING:
        if isinstance(data, str):
            return data.encode("utf-8")
        if isinstance(data, (bytes, bytearray, memoryview)):
            b = bytes(data)
            try:
                b.decode("utf-8")
            except UnicodeDecodeError as e:
                raise PayloadFormatError(f"format 'string' needs UTF-8 text: {e}") from e
            return b
        raise TypeError(f"format 'string' needs str, not {type(data).__name__}")
    if fmt == Format.DF_MSGPACK:
        return _encode_msgpack(data)
    if fmt == Format.DF_ARROW:
        return _encode_arrow(data)
    raise ValueError(f"unknown format {fmt!r}")


def decode_payload(payload: bytes, fmt: Format) -> Any:
    """bytes → bytes, string → str, df_msgpack / df_pyarrow → pandas DataFrame."""
    if fmt == Format.BYTES:
        return payload
    if fmt == Format.STRING:
        try:
            return payload.decode("utf-8")
        except UnicodeDecodeError as e:
            raise PayloadFormatError(f"STRING payload is not valid UTF-8: {e}") from e
    if fmt == Format.DF_MSGPACK:
        _pandas()  # say what to install before doing any work
        return records_to_dataframe(decode_records(payload))
    if fmt == Format.DF_ARROW:
        _pandas()
        return decode_table(payload).to_pandas()
    raise ValueError(f"unknown format {fmt!r}")


# ---- compression ---------------------------------------------------------------------------

def compress(data: bytes, algo: Compression) -> bytes:
    if algo == Compression.ZLIB:
        return zlib.compress(data)
    if algo == Compression.LZ4:
        lz4frame = _require("lz4.frame", "lz4", "lz4 compression")
        return lz4frame.compress(data)
    if algo == Compression.ZSTD:
        zstd = _require("zstandard", "zstd", "zstd compression")
        return zstd.ZstdCompressor().compress(data)
    raise ValueError(f"unknown compression {algo!r}")


def _too_large(fmt: Format, algo: Compression) -> PayloadTooLargeError:
    return PayloadTooLargeError(
        f"{algo.wire_name}-compressed {fmt.wire_name} payload inflates beyond the {fmt.limit}-byte limit",
        size=None, limit=fmt.limit)


def decompress(data: bytes, algo: Compression, fmt: Format) -> bytes:
    """Inflates ``data``; refuses to produce more than the format's limit (decompression bombs)."""
    limit = fmt.limit
    try:
        if algo == Compression.ZLIB:
            d = zlib.decompressobj()
            out = d.decompress(data, limit + 1)
            if len(out) > limit or d.unconsumed_tail:
                raise _too_large(fmt, algo)
            if not d.eof:
                raise PayloadFormatError("truncated zlib stream")
            return out
        if algo == Compression.LZ4:
            lz4frame = _require("lz4.frame", "lz4", "lz4 decompression")
            d = lz4frame.LZ4FrameDecompressor()
            out = d.decompress(data, max_length=limit + 1)
            if len(out) > limit or (not d.eof and d.needs_input is False):
                raise _too_large(fmt, algo)
            if not d.eof:
                raise PayloadFormatError("truncated lz4 frame")
            return out
        if algo == Compression.ZSTD:
            zstd = _require("zstandard", "zstd", "zstd decompression")
            reader = zstd.ZstdDecompressor().stream_reader(io.BytesIO(data), read_across_frames=True)
            out = bytearray()
            while len(out) <= limit:
                chunk = reader.read(min(1 << 20, limit + 1 - len(out)))
                if not chunk:
                    break
                out += chunk
            if len(out) > limit:
                raise _too_large(fmt, algo)
            return bytes(out)
    except (PayloadTooLargeError, PayloadFormatError, MissingDependencyError):
        raise
    except Exception as e:
        raise PayloadFormatError(f"cannot {algo.wire_name}-decompress payload: {e}") from e
    raise ValueError(f"unknown compression {algo!r}")


def prepare_payload(data: Any, fmt: Format, algo: Optional[Compression]) -> Tuple[bytes, int]:
    """Encodes, checks the limit on the uncompressed size (so that receivers can inflate it), then
    compresses. Returns ``(wire_payload, flags)``."""
    if type(data) is bytes and (fmt is Format.BYTES or (fmt is Format.STRING and data.isascii())):
        raw = data  # the common case: nothing to encode or check (ASCII is valid UTF-8)
    else:
        raw = encode_payload(data, fmt)
    limit = fmt.limit
    if len(raw) > limit:
        raise PayloadTooLargeError(
            f"{fmt.wire_name} payload of {len(raw)} bytes exceeds the {limit}-byte limit", len(raw), limit)
    if algo is None:
        return raw, 0
    return compress(raw, algo), FLAG_COMPRESSED | algo.bits
