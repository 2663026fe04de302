"""Client behaviour against the real broker."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from pulse_mq import (
    AuthFailedError,
    ConnectionLostError,
    GapEvent,
    PayloadTooLargeError,
    PermissionDeniedError,
    PulseMQClient,
    PulseMQTimeoutError,
    TopicFormatError,
)
from pulse_mq.protocol import Ext, Format, Frames, Header, MsgType

from conftest import Broker

pytestmark = pytest.mark.broker


async def take(sub, n, timeout=5.0):
    """The next ``n`` messages of ``sub`` (fails after ``timeout`` seconds)."""
    out = []

    async def run():
        async for m in sub:
            out.append(m)
            if len(out) == n:
                return

    await asyncio.wait_for(run(), timeout)
    return out


async def nothing_more(sub, wait=0.3):
    await asyncio.sleep(wait)
    assert sub.get_nowait() is None


async def test_publish_subscribe_round_trip(broker, uniq):
    ns = uniq("ns")
    async with broker.client() as c:
        sub = await c.async_subscribe(ns, "a.b")
        seq = await c.async_publish(ns, "a.b", b"hello", format="bytes")
        assert seq == 1
        (m,) = await take(sub, 1)
        assert (m.namespace, m.topic, m.data, m.format, m.publisher, m.seq) == (ns, "a.b", b"hello", "bytes",
                                                                               "admin", 1)
        assert m.broker_time_us > 0 and abs(m.timestamp - time.time() * 1000) < 60_000


async def test_wrong_token_raises_auth_failed(broker):
    c = broker.client(token="0" * 32)
    with pytest.raises(AuthFailedError):
        await c.async_connect()
    c2 = broker.client(username="nobody_at_all", token="0" * 32)
    with pytest.raises(AuthFailedError) as ei:
        await c2.async_connect()
    assert ei.value.code == 1


async def test_missing_permission_raises_permission_denied(broker, uniq):
    ns, other = uniq("ns"), uniq("ns")
    user = uniq("u")
    token = broker.create_user(user, {ns: "sub"})
    async with broker.client(user, token) as c:
        with pytest.raises(PermissionDeniedError):
            await c.async_publish(ns, "a", b"x")  # sub only
        with pytest.raises(PermissionDeniedError):
            async for _ in c.async_subscribe(other, "a"):  # no role at all
                pass
        with pytest.raises(PermissionDeniedError):
            await c.async_query_topics(other)
        # the session is still usable after refusals
        sub = await c.async_subscribe(ns, ">")
        assert sub.active
        assert (await c.async_query_permission())["namespaces"] == {ns: "SUB"}


async def test_local_validation(broker, uniq):
    async with broker.client() as c:
        with pytest.raises(TopicFormatError):
            await c.async_publish("system", "a", b"x")
        with pytest.raises(TopicFormatError):
            await c.async_publish("md", "a.*", b"x")
        with pytest.raises(TopicFormatError):
            c.async_subscribe("md", "a.>.b")
        with pytest.raises(PayloadTooLargeError):
            await c.async_publish("md", "a", "x" * 8193, format="string")
        with pytest.raises(ValueError):
            await c.async_publish("md", "a", b"x", format="json")


async def test_concurrent_subscriptions_get_exactly_their_matches(broker, uniq):
    ns = uniq("ns")
    topics = ["sz000651.kline.1m", "sz000651.kline.5m", "sz000651.trade", "sz000001.kline.1m",
              "sz000651.kline", "sz000651", "sh600000.kline.1m"]
    patterns = ["sz000651.kline.*", "sz000651.>", "*.kline.1m", "sz000651.trade", ">", "*", "sz000651.kline"]
    async with broker.client() as pub, broker.client() as subc:
        subs = {p: await subc.async_subscribe(ns, p) for p in patterns}
        # a second identical subscription on the same client gets its own copy
        twin = await subc.async_subscribe(ns, "sz000651.>")
        for i, t in enumerate(topics):
            await pub.async_publish(ns, t, f"{t}#{i}", format="string")
        from pulse_mq import Pattern
        for p, sub in subs.items():
            want = [t for t in topics if Pattern(p).matches(t)]
            got = [m.topic for m in await take(sub, len(want))] if want else []
            assert got == want, p
            await nothing_more(sub, 0.05)
        want = [t for t in topics if t.startswith("sz000651.")]
        assert [m.topic for m in await take(twin, len(want))] == want
        # one delivery per message however many patterns match
        assert subc.stats.received == len(topics)


async def test_many_requests_in_flight_pair_by_request_id(broker, uniq):
    ns = uniq("ns")
    async with broker.client() as c:
        sub = await c.async_subscribe(ns, "t.*")
        seqs = await asyncio.gather(*[c.async_publish(ns, f"t.n{i % 5}", str(i), format="string")
                                      for i in range(500)],
                                    *[c.async_query_topics(ns) for _ in range(20)])
        pub_seqs = seqs[:500]
        # Protocol 6 confirms pipelined publishes cumulatively: a publish learns its sequence
        # number only when it is the one an ACK names (the last of a round), else None.
        named = [s for s in pub_seqs if s is not None]
        assert named and all(1 <= s <= 100 for s in named)
        assert all(isinstance(q, list) for q in seqs[500:])  # the queries paired by request id
        got = await take(sub, 500, timeout=10)
        assert sorted(int(m.data) for m in got) == list(range(500))
        for k in range(5):  # per topic, sequence numbers 1..100 each exactly once
            assert sorted(m.seq for m in got if m.topic == f"t.n{k}") == list(range(1, 101))
        assert set(named) <= {m.seq for m in got}
        assert c.stats.gaps == 0


async def test_no_ack_publishes_and_their_errors_surface(broker, uniq):
    ns = uniq("ns")
    user = uniq("u")
    token = broker.create_user(user, {ns: "pub"})
    errors = []
    async with broker.client(user, token, on_error=errors.append) as c:
        sub = await c.async_subscribe(ns, "x")
        for i in range(100):
            assert await c.async_publish(ns, "x", str(i), format="string", ack=False) is None
        await c.async_flush()
        assert [m.data for m in await take(sub, 100)] == [str(i) for i in range(100)]
        await c.async_publish(uniq("forbidden"), "x", b"1", ack=False)
        with pytest.raises(PermissionDeniedError):
            await c.async_flush()
        assert len(errors) == 1 and isinstance(errors[0], PermissionDeniedError)


async def test_unsubscribe_stops_delivery(broker, uniq):
    ns = uniq("ns")
    async with broker.client() as c:
        a = await c.async_subscribe(ns, "a")
        b = await c.async_subscribe(ns, "a")
        await c.async_publish(ns, "a", b"1")
        await take(a, 1)
        await take(b, 1)
        await a.unsubscribe()
        await c.async_publish(ns, "a", b"2")
        assert [m.data for m in await take(b, 1)] == [b"2"]  # the twin still receives
        with pytest.raises(StopAsyncIteration):
            await a.__anext__()
        await c.async_unsubscribe(ns, "a")
        assert c.subscriptions == []
        await c.async_publish(ns, "a", b"3")
        await asyncio.sleep(0.3)
        assert c.stats.received == 2  # the broker sent nothing after the UNSUB


async def test_snapshot_replays_the_last_value(broker, uniq):
    ns = uniq("ns")
    async with broker.client() as c:
        await c.async_publish(ns, "q.a", b"old")
        await c.async_publish(ns, "q.a", b"last-a")
        await c.async_publish(ns, "q.b", b"last-b")
        plain = await c.async_subscribe(ns, "q.*")
        snap = await c.async_subscribe(ns, "q.*", snapshot=True)
        got = await take(snap, 2)
        assert [(m.topic, m.data, m.is_snapshot) for m in got] == [("q.a", b"last-a", True), ("q.b", b"last-b", True)]
        await nothing_more(plain, 0.2)  # snapshots go only to the subscription that asked
        await c.async_publish(ns, "q.a", b"live")
        assert (await take(snap, 1))[0].data == b"live"
        assert (await take(plain, 1))[0].data == b"live"


async def test_slow_consumer_drops_are_counted_not_blocking(broker, uniq):
    ns = uniq("ns")
    dropped = []
    async with broker.client(queue_size=10, on_drop=dropped.append) as c:
        sub = await c.async_subscribe(ns, "x")
        for i in range(50):
            await c.async_publish(ns, "x", str(i), format="string", ack=False)
        await c.async_flush()
        await asyncio.sleep(0.3)
        assert sub.dropped == 40 and c.stats.dropped == 40 and len(dropped) == 40
        assert [m.data for m in await take(sub, 10)] == [str(i) for i in range(10)]
        assert c.is_connected


async def test_drain_markers_are_answered_so_far_more_than_the_byte_limit_flows(tmp_path, uniq):
    """The broker PINGs on the delivery port after every eighth of a session's byte limit it sent
    (drain markers) and holds back what passes the limit until a PONG confirms the client read it.
    12 MiB through a session whose limit is 1 MiB: nothing lost, so the client answered them."""
    b = Broker(tmp_path / "broker")
    b.extra_yaml = "broker: {session_buffer_bytes: 1048576}\n"
    b.start()
    try:
        ns = uniq("ns")
        async with b.client() as c:
            sub = await c.async_subscribe(ns, "big")
            for _ in range(24):
                for _ in range(2):
                    await c.async_publish(ns, "big", b"\x01" * 262144, format="bytes", ack=False)
                assert len(await take(sub, 2, timeout=10)) == 2
            assert c.stats.gaps == 0 and c.stats.dropped == 0
    finally:
        b.kill()


async def test_sequence_gaps_are_reported():
    """Gap detection on synthetic deliveries (the broker only drops under load)."""
    events = []
    c = PulseMQClient(on_gap=events.append)
    for seq in (1, 2, 5, 6, 1):  # 3..4 missed; back to 1 = broker restarted, not a gap
        h = Header(5, MsgType.MSG, Format.BYTES, 0, 1, 0, 0)
        c._on_msg(Frames(h, "md", "t", "p", b"x", Ext(seq, 0).encode()))
    assert events == [GapEvent("md", "t", 3, 4)]
    assert events[0].missed == 2 and c.stats.gaps == 1 and c.stats.missed == 2


async def test_compression_round_trips_through_the_broker(broker, uniq):
    pd = pytest.importorskip("pandas")
    ns = uniq("ns")
    df = pd.DataFrame({"symbol": ["sz000651"] * 1000, "price": [10.5 + i / 1000 for i in range(1000)]})
    async with broker.client() as c:
        sub = await c.async_subscribe(ns, ">")
        for algo in ("zlib", "lz4", "zstd"):
            await c.async_publish(ns, f"b.{algo}", b"tick;" * 10_000, format="bytes", compress=algo)
            await c.async_publish(ns, f"s.{algo}", "信号" * 1000, format="string", compress=algo)
            await c.async_publish(ns, f"m.{algo}", df, format="df_msgpack", compress=algo)
            await c.async_publish(ns, f"a.{algo}", df, format="df_pyarrow", compress=algo)
        got = await take(sub, 12)
        for m in got:
            kind, algo = m.topic.split(".")
            assert m.compressed == algo and m.compression == algo
            assert len(m.raw_payload) < len(m.payload)
            if kind == "b":
                assert m.data == b"tick;" * 10_000
            elif kind == "s":
                assert m.data == "信号" * 1000
            else:
                pd.testing.assert_frame_equal(m.data, df)


async def test_queries(broker, uniq):
    ns = uniq("ns")
    user = uniq("u")
    token = broker.create_user(user, {ns: "pub"})
    async with broker.client(user, token) as c:
        await c.async_publish(ns, "b.x", b"1")
        await c.async_publish(ns, "a.x", b"1")
        assert await c.async_query_topics(ns) == ["a.x", "b.x"]
        assert await c.async_query_namespaces() == [{"name": ns, "topics": ["a.x", "b.x"], "topic_count": 2}]
        assert await c.async_query_permission() == {"type": "mq_normal", "namespaces": {ns: "PUB"}}


async def test_not_connected_and_closed_errors(broker):
    c = broker.client()
    with pytest.raises(ConnectionLostError, match="async_connect"):
        await c.async_publish("md", "a", b"x")
    await c.async_connect()
    await c.async_close()
    with pytest.raises(ConnectionLostError):
        await c.async_publish("md", "a", b"x")


async def test_connect_timeout_when_nothing_listens():
    c = PulseMQClient("127.0.0.1", 1, 2, "u", "t", connect_timeout=0.5)
    with pytest.raises(PulseMQTimeoutError):
        await c.async_connect()
    assert isinstance(PulseMQTimeoutError("x"), TimeoutError)


async def test_close_ends_iteration(broker, uniq):
    c = broker.client()
    await c.async_connect()
    sub = await c.async_subscribe(uniq("ns"), "a")

    async def consume():
        return [m async for m in sub]

    task = asyncio.ensure_future(consume())
    await asyncio.sleep(0.1)
    await c.async_close()
    assert await asyncio.wait_for(task, 2) == []


def test_sync_mode_callbacks_and_publish_before_and_after_run(broker, uniq):
    """The sync mode: subscribe(ns, topic, callback) and publish(...) registered before run(),
    run() in a thread, then publish() from other threads while it runs."""
    ns = uniq("ns")
    got, done = [], threading.Event()
    client = PulseMQClient(**broker.client_kwargs())

    def on_msg(msg):
        got.append((msg.topic, msg.data))
        if len(got) == 1 + 2 * 20:
            client.stop()
            done.set()

    client.subscribe(ns, "sig.*", on_msg)
    client.publish(ns, "sig.boot", "registered before run()", format="string")
    runner = threading.Thread(target=client.run, kwargs={"timeout": 30})
    runner.start()
    deadline = time.time() + 10
    while client.is_connected is False and time.time() < deadline:
        time.sleep(0.05)

    def publisher(k):
        for i in range(20):
            # Two threads publish at once: a cumulative ACK names only the later of two
            # publishes it confirms, so the other learns no sequence number.
            seq = client.publish(ns, f"sig.t{k}", f"{k}-{i}", format="string")
            assert seq is None or seq >= 1

    threads = [threading.Thread(target=publisher, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert done.wait(10), got
    runner.join(10)
    assert not runner.is_alive()
    assert got[0] == ("sig.boot", "registered before run()")
    for k in range(2):
        assert [d for t, d in got if t == f"sig.t{k}"] == [f"{k}-{i}" for i in range(20)]


def test_sync_mode_api_from_plain_code(broker, uniq):
    ns = uniq("ns")
    with PulseMQClient(**broker.client_kwargs()) as c:  # __enter__ = start()
        box = []
        ev = threading.Event()
        c.subscribe(ns, "x", lambda m: (box.append(m.data), ev.set()))
        assert c.publish(ns, "x", b"1") == 1
        assert ev.wait(5) and box == [b"1"]
        assert c.query_topics(ns) == ["x"]
        assert {"name": ns, "topics": ["x"], "topic_count": 1} in c.query_namespaces()
    assert not c.is_connected


def test_sync_wrong_token(broker):
    c = PulseMQClient(**broker.client_kwargs(token="f" * 32))
    with pytest.raises(AuthFailedError):
        c.connect()
    c.close()


async def test_a_burst_published_without_yielding_arrives_whole(broker, uniq):
    """30 000 fire-and-forget publishes from one task, a subscriber in the same event loop that
    reads only afterwards: with protocol 6 (batches, byte buffers in the broker) nothing is lost."""
    ns = uniq("ns")
    async with broker.client(queue_size=40_000) as c:
        sub = await c.async_subscribe(ns, "burst")
        for i in range(30_000):
            await c.async_publish(ns, "burst", b"%099d" % i, format="bytes", ack=False)
        await c.async_flush(timeout=30)
        got = await take(sub, 30_000, timeout=60)
        assert [m.seq for m in got] == list(range(1, 30_001))
        assert c.stats.gaps == 0
