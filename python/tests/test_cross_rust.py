"""Python ⇄ Rust through the real broker (issue 7 §2 and §5).

The Rust side is the ``cross_peer`` binary of the e2e crate (``tests/src/bin/cross_peer.rs``),
found at ``$PULSEMQ_CROSS_PEER`` or ``<repo>/target/debug/cross_peer``
(``cargo build -p pulsemq-e2e --bin cross_peer``). Without it the tests are skipped, except under
``CI`` where they fail.

Both sides use one fixture set, defined twice and kept in step by these tests: BYTES, a
non-ASCII STRING, a DataFrame as df_msgpack records and a DataFrame as a df_pyarrow stream
(two batches from Rust), each sent as is and with zlib, lz4 and zstd, on the topics
``<prefix>.<kind>.<none|zlib|lz4|zstd>``.

dtype mapping of what arrives in pandas (text is ``str`` with NaN for nulls under pandas >= 3,
``object`` with None under pandas 2; the expected frames below are built by inference, so they
get whichever the installed pandas gives the received data):

- df_msgpack records: i64 → int64; f64 → float64; String → str; bool → bool;
  ``Option<String>`` with nulls → str with NaN; a column that is always null → object of None.
- df_pyarrow: Int64 → int64; Float64 with nulls → float64 with NaN; Utf8 with nulls → str with
  NaN; Boolean → bool; Timestamp(ns, None) → datetime64[ns]; Timestamp(µs, "UTC") →
  datetime64[us, UTC] (the unit is kept); Timestamp(ns, "Asia/Shanghai") →
  datetime64[ns, Asia/Shanghai]. The two Rust batches arrive as one DataFrame.

Going back, pulse_mq sends text columns as Arrow ``string`` (not pandas 3's ``large_string``) and
the nulls of non-float columns as msgpack nil (not pandas 3's NaN), which is what the Rust
SDK writes and reads (see ``codec._narrow_offsets`` and ``codec._dataframe_records``).
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest

from conftest import REPO
from pulse_mq import codec
from pulse_mq.protocol import Format

pd = pytest.importorskip("pandas")
pa = pytest.importorskip("pyarrow")
np = pytest.importorskip("numpy")
pytest.importorskip("lz4")
pytest.importorskip("zstandard")

pytestmark = pytest.mark.broker

KINDS = ("bytes", "string", "records", "arrow")
COMPRESSIONS = ("none", "zlib", "lz4", "zstd")
FORMAT_OF = {"bytes": "bytes", "string": "string", "records": "df_msgpack", "arrow": "df_pyarrow"}
T0_NS = 1_735_689_600_000_000_000  # 2025-01-01T00:00:00Z


def cross_peer() -> Path:
    p = Path(os.environ.get("PULSEMQ_CROSS_PEER") or REPO / "target" / "debug" / "cross_peer")
    if not p.exists():
        msg = f"cross_peer binary not found at {p}: run `cargo build -p pulsemq-e2e --bin cross_peer` " \
              "or set PULSEMQ_CROSS_PEER"
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    return p


# ---- the fixture (mirrors tests/src/bin/cross_peer.rs) ------------------------------------

def fixture_bytes() -> bytes:
    return bytes(i * 7 % 256 for i in range(4096))


def fixture_string() -> str:
    return "".join(f"PulseMQ 跨语言 — ünïcödé ✓ 🚀 #{i}\n" for i in range(60))


def fixture_records():
    n = 40
    return pd.DataFrame({
        "id": np.array([(i - 3) * 1_000_000_007 for i in range(n)], dtype="int64"),
        "price": [10.0 + i * 0.1 for i in range(n)],
        "symbol": [f"sz{651 + i:06d}-格力" for i in range(n)],
        "active": [i % 3 == 0 for i in range(n)],
        "note": [f"n{i}" if i % 2 == 1 else None for i in range(n)],
        "missing": [None] * n,
    })


def fixture_arrow():
    r = np.arange(50, dtype="int64")
    utc_us = pd.Series((T0_NS // 1000 + r * 1_500_000).astype("datetime64[us]")).dt.tz_localize("UTC")
    shanghai = pd.Series((T0_NS + r * 60_000_000_000).astype("datetime64[ns]")).dt.tz_localize("UTC")
    return pd.DataFrame({
        "id": r * 37 - 100,
        "price": [np.nan if x % 7 == 3 else 100.0 + x * 0.5 for x in r],
        "symbol": [None if x % 11 == 5 else f"sh{600_000 + x}-茅台" for x in r],
        "active": r % 2 == 0,
        "ts": pd.Series((T0_NS + r * 1_000_000_123).astype("datetime64[ns]")),
        "ts_utc": utc_us,
        "ts_sh": shanghai.dt.tz_convert("Asia/Shanghai"),
    })


ARROW_SCHEMA = pa.schema([
    ("id", pa.int64()), ("price", pa.float64()), ("symbol", pa.string()), ("active", pa.bool_()),
    ("ts", pa.timestamp("ns")), ("ts_utc", pa.timestamp("us", tz="UTC")),
    ("ts_sh", pa.timestamp("ns", tz="Asia/Shanghai")),
])


def fixture(kind: str):
    return {"bytes": fixture_bytes, "string": fixture_string, "records": fixture_records,
            "arrow": fixture_arrow}[kind]()


def check_received(kind: str, comp: str, m) -> None:
    """Asserts that one message from Rust is the fixture, decoded by pulse_mq."""
    assert m.format == FORMAT_OF[kind]
    assert m.compression == (None if comp == "none" else comp)
    want = fixture(kind)
    if kind in ("bytes", "string"):
        assert type(m.data) is type(want) and m.data == want
    elif kind == "records":
        pd.testing.assert_frame_equal(m.data, want)
        # byte-compatible: the same DataFrame packs to the very bytes Rust sent
        assert codec.encode_payload(want, Format.DF_MSGPACK) == m.payload
    else:
        pd.testing.assert_frame_equal(m.data, want)
        table = m.table
        assert table.schema.equals(ARROW_SCHEMA, check_metadata=False), table.schema
        batches = pa.ipc.open_stream(m.payload).read_all().to_batches()
        assert [b.num_rows for b in batches] == [30, 20]


# ---- helpers ------------------------------------------------------------------------------

def peer_env(broker) -> dict:
    env = dict(os.environ)
    env.update(PULSEMQ_HOST="127.0.0.1", PULSEMQ_PUB_PORT=str(broker.pub_port),
               PULSEMQ_SUB_PORT=str(broker.sub_port), PULSEMQ_USER=broker.admin["username"],
               PULSEMQ_TOKEN=broker.admin["token"])
    return env


async def run_peer(broker, *args, timeout=60.0):
    proc = await asyncio.create_subprocess_exec(str(cross_peer()), *args, env=peer_env(broker),
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), timeout)
    return proc.returncode, out.decode(), err.decode()


class Expecting:
    """``cross_peer expect`` running: started, then ready (subscribed) before Python publishes."""

    def __init__(self, broker, ns: str, prefix: str, timeout: float):
        self.args = ("expect", ns, prefix, "--timeout", str(timeout))
        self.broker = broker
        self.proc = None
        self.lines = []

    async def __aenter__(self):
        self.proc = await asyncio.create_subprocess_exec(
            str(cross_peer()), *self.args, env=peer_env(self.broker),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        line = await asyncio.wait_for(self.proc.stdout.readline(), 30)
        if not line:
            err = await self.proc.stderr.read()
            pytest.fail(f"cross_peer expect exited before subscribing: {err.decode()}")
        assert json.loads(line)["ready"] is True
        return self

    async def finish(self, timeout: float = 60.0):
        out, err = await asyncio.wait_for(self.proc.communicate(), timeout)
        self.lines = [json.loads(x) for x in out.decode().splitlines() if x.strip()]
        return self.proc.returncode, err.decode()

    async def __aexit__(self, *exc):
        if self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()

    @property
    def verdicts(self):
        return {v["topic"]: v for v in self.lines if "topic" in v}

    @property
    def summary(self):
        return next(v for v in self.lines if v.get("summary"))


async def publish_fixture(client, ns: str, prefix: str) -> None:
    """Python publishes every fixture the way an application would: DataFrames, bytes, str."""
    for kind in KINDS:
        for comp in COMPRESSIONS:
            await client.async_publish(ns, f"{prefix}.{kind}.{comp}", fixture(kind), format=FORMAT_OF[kind],
                                       compress=None if comp == "none" else comp)


# ---- tests --------------------------------------------------------------------------------

def test_fixture_matches_the_rust_definition():
    """Spot checks of the pandas fixture against the values and schema cross_peer.rs defines."""
    table = pa.ipc.open_stream(codec.encode_payload(fixture_arrow(), Format.DF_ARROW)).read_all()
    assert table.schema.equals(ARROW_SCHEMA, check_metadata=False), table.schema
    rec = codec.decode_records(codec.encode_payload(fixture_records(), Format.DF_MSGPACK))
    assert rec[0] == {"id": -3_000_000_021, "price": 10.0, "symbol": "sz000651-格力", "active": True,
                      "note": None, "missing": None}
    assert rec[1]["note"] == "n1" and len(rec) == 40
    assert len(fixture_string().encode()) < 8192


async def test_rust_publishes_python_receives(broker, uniq):
    cross_peer()
    ns = uniq("xrs")
    topics = [f"rs2py.{k}.{c}" for k in KINDS for c in COMPRESSIONS]
    async with broker.client() as c:
        sub = await c.async_subscribe(ns, "rs2py.>")
        rc, out, err = await run_peer(broker, "publish", ns, "rs2py")
        assert rc == 0, f"cross_peer publish failed ({rc}): {err}\n{out}"
        got = {}

        async def collect():
            async for m in sub:
                got[m.topic] = m
                if len(got) == len(topics):
                    return

        await asyncio.wait_for(collect(), 15)
    assert sorted(got) == sorted(topics)
    failures = {}
    for t in topics:
        _, kind, comp = t.split(".")
        try:
            check_received(kind, comp, got[t])
        except AssertionError as e:
            failures[t] = str(e)[:2000]
    assert not failures, json.dumps(failures, indent=1, ensure_ascii=False)


async def test_python_publishes_rust_receives(broker, uniq):
    cross_peer()
    ns = uniq("xpy")
    async with Expecting(broker, ns, "py2rs", timeout=20) as peer:
        async with broker.client() as c:
            await publish_fixture(c, ns, "py2rs")
        rc, err = await peer.finish()
    bad = {t: v["detail"] for t, v in peer.verdicts.items() if not v["ok"]}
    assert rc == 0 and not bad, f"exit {rc}; failures: {json.dumps(bad, indent=1, ensure_ascii=False)}\n{err}"
    assert peer.summary == {"summary": True, "passed": 16, "failed": 0, "expected": 16}
    assert {v["detail"] for t, v in peer.verdicts.items() if ".records." in t} == \
        {"40 rows, byte-identical to the Rust encoding"}


async def test_rust_verifier_rejects_wrong_and_missing_messages(broker, uniq):
    """The Rust checks are not vacuous: a changed value, a pandas-3 style schema and a missing
    message each make ``cross_peer expect`` fail, naming the topic."""
    cross_peer()
    ns = uniq("xbad")
    wrong = fixture_records()
    wrong.loc[7, "price"] += 1e-9
    large = pa.Table.from_pandas(fixture_arrow()).cast(ARROW_SCHEMA.set(2, pa.field("symbol", pa.large_string())))
    async with Expecting(broker, ns, "bad", timeout=3) as peer:
        async with broker.client() as c:
            for kind in KINDS:
                for comp in COMPRESSIONS:
                    topic = f"bad.{kind}.{comp}"
                    if topic == "bad.bytes.lz4":
                        continue  # never sent
                    data = fixture(kind)
                    if topic == "bad.records.zstd":
                        data = wrong
                    if topic == "bad.arrow.none":
                        data = large
                    await c.async_publish(ns, topic, data, format=FORMAT_OF[kind],
                                          compress=None if comp == "none" else comp)
        rc, _ = await peer.finish()
    assert rc == 1
    v = peer.verdicts
    assert {t for t, x in v.items() if not x["ok"]} == {"bad.bytes.lz4", "bad.records.zstd", "bad.arrow.none"}
    assert "not received" in v["bad.bytes.lz4"]["detail"]
    assert "row 7" in v["bad.records.zstd"]["detail"]
    assert "LargeUtf8" in v["bad.arrow.none"]["detail"]
    assert peer.summary["failed"] == 3 and peer.summary["passed"] == 13
