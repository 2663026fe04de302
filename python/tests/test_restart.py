"""Broker restart mid-stream: re-AUTH, re-ATTACH and re-SUB without user code."""

from __future__ import annotations

import asyncio
import time

import pytest

from pulse_mq import ConnectionLostError, PulseMQError

pytestmark = pytest.mark.broker


async def test_subscriber_receives_again_after_broker_restart(fresh_broker):
    b = fresh_broker
    ns = "market_data"
    received = []
    reconnected = asyncio.Event()
    sub_client = b.client(on_reconnect=reconnected.set)
    pub_client = b.client(request_timeout=2.0)
    await sub_client.async_connect()
    await pub_client.async_connect()
    stop = asyncio.Event()
    published = []

    async def publisher():
        i = 0
        while not stop.is_set():
            try:
                await pub_client.async_publish(ns, "sz000651.tick", f"{time.time()}|{i}", format="string")
                published.append(i)
            except PulseMQError:
                pass  # broker down: this tick is lost, the next one goes out after the reconnect
            i += 1
            await asyncio.sleep(0.05)

    async def subscriber():
        async for msg in sub_client.async_subscribe(ns, "sz000651.>"):
            received.append((time.time(), msg))

    tasks = [asyncio.ensure_future(subscriber()), asyncio.ensure_future(publisher())]
    try:
        deadline = time.time() + 5
        while len(received) < 10 and time.time() < deadline:
            await asyncio.sleep(0.05)
        assert len(received) >= 10
        killed_at = time.time()
        await asyncio.get_running_loop().run_in_executor(None, b.restart)
        restarted_at = time.time()
        # receiving again within a few seconds, without user code
        deadline = restarted_at + 8
        while time.time() < deadline and not any(t > restarted_at for t, _ in received):
            await asyncio.sleep(0.05)
        after = [m for t, m in received if t > restarted_at]
        assert after, f"nothing received within 8 s of the restart (killed at {killed_at:.1f})"
        assert reconnected.is_set()
        assert sub_client.stats.reconnects >= 1 and pub_client.stats.reconnects >= 1
        first_after = min(t for t, _ in received if t > restarted_at) - restarted_at
        print(f"first message {first_after:.2f} s after the restart")
        assert after[0].seq >= 1  # sequences start again in the new broker: not reported as a gap
        assert sub_client.stats.gaps == 0
        assert sub_client.is_connected and pub_client.is_connected
    finally:
        stop.set()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await sub_client.async_close()
        await pub_client.async_close()


async def test_queries_and_publish_wait_for_the_reconnect(fresh_broker):
    b = fresh_broker
    async with b.client() as c:
        await c.async_publish("md", "a", b"1")
        await asyncio.get_running_loop().run_in_executor(None, b.restart)
        # issued while the client may not yet know: served after re-AUTH (ERROR 2 → resync → retry)
        assert await asyncio.wait_for(c.async_publish("md", "a", b"2"), 15) == 1
        assert await c.async_query_topics("md") == ["a"]


async def test_reconnect_false_reports_the_loss(fresh_broker):
    b = fresh_broker
    c = b.client(reconnect=False)
    await c.async_connect()
    sub = await c.async_subscribe("md", "a")
    b.kill()
    with pytest.raises(ConnectionLostError):
        await asyncio.wait_for(sub.__anext__(), 10)
    with pytest.raises(ConnectionLostError):
        await c.async_publish("md", "a", b"x")
    await c.async_close()


async def test_reconnect_gives_up_after_the_configured_attempts(fresh_broker):
    b = fresh_broker
    c = b.client(max_reconnect_attempts=2, reconnect_delay=0.2, connect_timeout=0.5, ping_timeout=0.5,
                 ping_interval=0.3)
    await c.async_connect()
    sub = await c.async_subscribe("md", "a")
    b.kill()
    t0 = time.time()
    with pytest.raises(ConnectionLostError, match="after 2 attempts"):
        await asyncio.wait_for(sub.__anext__(), 15)
    assert time.time() - t0 < 10
    await c.async_close()


async def test_blocked_event_loop_gets_a_new_session(broker, uniq):
    """The broker expires a session silent for 2 x ping_interval + ping_timeout (3 s here); a
    client whose loop was blocked that long re-establishes its session by itself."""
    ns = uniq("ns")
    async with broker.client() as c, broker.client() as pub:
        sub = await c.async_subscribe(ns, "a")
        time.sleep(4.5)  # blocks the loop: no PING goes out
        deadline = time.time() + 8
        while c.stats.reconnects == 0 and time.time() < deadline:
            await asyncio.sleep(0.1)
        assert c.stats.reconnects >= 1
        await pub.async_publish(ns, "a", b"after")
        assert (await asyncio.wait_for(sub.__anext__(), 5)).data == b"after"
