"""The usage examples of the seed README (shared/seeds/pulsemq-readme.zh.md, sections 1-8),
run against the real broker.

The example bodies are kept as written; only these adaptations are made (each also noted at the
test), none of them in the client API:

* host / ports / tokens come from the test broker (ports chosen by the OS, tokens created by the
  fixture) instead of ``localhost:5555/5556`` and "your-token";
* 1.2: users and grants go through ``Broker.create_user`` (the admin HTTP API calls of the README
  when the broker has it, else the same rows written to SQLite);
* 1.3: 20 K-lines 10 ms apart instead of 100 one second apart (bounded test time);
* the README's endless ``async for`` loops stop after the expected number of messages, and run as
  tasks next to the publisher;
* 3: the README's two ``async for`` loops run concurrently: written one after the other, the
  second is never reached because the first never ends (a bug in the README example itself);
* 6: the README's YAML file with ports 0 and paths in the temp dir;
* 7 (curl against the admin API) runs only when the broker prints an ``Admin :`` line.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import urllib.request

import pytest

from conftest import Broker
from pulse_mq import PulseMQClient

pytestmark = pytest.mark.broker


@pytest.fixture
def readme_users(broker, uniq):
    """Section 1.2 (prepare.py): a namespace, publisher_01 with 'pub', subscriber_01 with 'sub'.
    Names get a unique suffix because the session broker is shared."""
    ns = uniq("market_data")
    pub_name, sub_name = uniq("publisher_01_"), uniq("subscriber_01_")
    pub_token = broker.create_user(pub_name, {ns: "pub"}, wait=False)
    sub_token = broker.create_user(sub_name, {ns: "sub"})
    return ns, (pub_name, pub_token), (sub_name, sub_token)


async def test_section1_publisher_and_subscriber(broker, readme_users):
    ns, (pub_name, pub_token), (sub_name, sub_token) = readme_users
    N = 20
    received = []

    async def subscriber_main():  # 1.4 subscriber.py
        client = PulseMQClient(host="127.0.0.1", pub_port=broker.pub_port, sub_port=broker.sub_port,
                               username=sub_name, token=sub_token)
        await client.async_connect()
        print("订阅者已连接")
        try:
            async for msg in client.async_subscribe(namespace=ns, topic="sz000651.kline.>"):
                print(f"[{msg.namespace}] {msg.topic}: {len(msg.data)} bytes")
                received.append(msg)
                if len(received) == N:  # adaptation: the README loops forever
                    break
        finally:
            await client.async_close()

    async def publisher_main():  # 1.3 publisher.py
        client = PulseMQClient(host="127.0.0.1", pub_port=broker.pub_port, sub_port=broker.sub_port,
                               username=pub_name, token=pub_token)
        await client.async_connect()
        print("发布者已连接")
        try:
            for i in range(N):  # adaptation: 20 messages 10 ms apart
                kline = json.dumps({
                    "symbol": "sz000651", "type": "kline_1m",
                    "open": 10.5 + i * 0.01, "high": 10.6 + i * 0.01, "low": 10.4 + i * 0.01,
                    "close": 10.55 + i * 0.01, "volume": 10000 + i * 100,
                    "timestamp": int(time.time() * 1000),
                }).encode("utf-8")
                await client.async_publish(namespace=ns, topic="sz000651.kline.1m", data=kline, format="bytes")
                await asyncio.sleep(0.01)
            print("发布完成")
        finally:
            await client.async_close()

    sub_task = asyncio.ensure_future(subscriber_main())
    await asyncio.sleep(0.5)  # the subscriber is up before the first K-line
    await asyncio.wait_for(publisher_main(), 20)
    await asyncio.wait_for(sub_task, 10)
    assert [json.loads(m.data)["volume"] for m in received] == [10000 + i * 100 for i in range(N)]
    assert all(m.publisher == pub_name and m.topic == "sz000651.kline.1m" for m in received)


async def test_section2_all_formats_including_100k_row_dataframe(broker, uniq):
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    ns = uniq("market_data")
    client = PulseMQClient(**broker.client_kwargs())
    await client.async_connect()
    sub = await client.async_subscribe(ns, "sz000651.*")  # added: check what arrives
    try:
        await client.async_publish(namespace=ns, topic="sz000651.raw", data=b"\x01\x02\x03\x04", format="bytes")
        await client.async_publish(namespace=ns, topic="sz000651.signal",
                                   data=json.dumps({"action": "BUY", "price": 10.5}), format="string")
        df_small = pd.DataFrame({
            "symbol": ["sz000651", "sz000651", "sz000651"],
            "price": [10.5, 10.6, 10.55],
            "volume": [100, 200, 150],
        })
        await client.async_publish(namespace=ns, topic="sz000651.snapshot", data=df_small, format="df_msgpack")
        df_large = pd.DataFrame({
            "symbol": ["sz000651"] * 100000,
            "timestamp": pd.date_range("2025-01-01", periods=100000, freq="ms"),
            "price": (10.5 + __import__("random").random() * 0.1 for _ in range(100000)),
            "volume": (__import__("random").randint(100, 500) for _ in range(100000)),
        })
        await client.async_publish(namespace=ns, topic="sz000651.tick_batch", data=df_large, format="df_pyarrow")
        print("所有格式发布完成")

        got = {}
        async for m in sub:
            got[m.topic] = m
            if len(got) == 4:
                break
        assert got["sz000651.raw"].data == b"\x01\x02\x03\x04"
        assert json.loads(got["sz000651.signal"].data) == {"action": "BUY", "price": 10.5}
        pd.testing.assert_frame_equal(got["sz000651.snapshot"].data, df_small)
        big = got["sz000651.tick_batch"]
        assert big.format == "df_pyarrow"
        out = big.data
        assert len(out) == 100000
        pd.testing.assert_frame_equal(out, df_large)
    finally:
        await client.async_close()


async def test_section3_wildcards(broker, uniq):
    ns = uniq("market_data")
    user = uniq("trader")
    token = broker.create_user(user, {ns: "sub"})
    client = PulseMQClient(host="127.0.0.1", pub_port=broker.pub_port, sub_port=broker.sub_port,
                           username=user, token=token)
    await client.async_connect()
    full, kline = [], []

    async def all_of_one_stock():
        async for msg in client.async_subscribe(namespace=ns, topic="sz000651.>"):
            print(f"[全行情] {msg.topic}")
            full.append(msg.topic)

    async def one_minute_klines():
        async for msg in client.async_subscribe(namespace=ns, topic="*.kline.1m"):
            print(f"[1m K线] {msg.topic}")
            kline.append(msg.topic)

    # adaptation: concurrently (the README's second loop is unreachable after the first)
    tasks = [asyncio.ensure_future(all_of_one_stock()), asyncio.ensure_future(one_minute_klines())]
    try:
        await asyncio.sleep(0.3)
        async with broker.client() as pub:
            for t in ["sz000651.kline.1m", "sz000651.kline.1m", "sz000651.trade", "sz000001.kline.1m",
                      "sz000651.kline.5m", "sh600000.kline.1m", "sz000651"]:
                await pub.async_publish(ns, t, b"x")
        deadline = time.time() + 5
        while (len(full), len(kline)) != (4, 4) and time.time() < deadline:
            await asyncio.sleep(0.05)
        assert full == ["sz000651.kline.1m", "sz000651.kline.1m", "sz000651.trade", "sz000651.kline.5m"]
        assert kline == ["sz000651.kline.1m", "sz000651.kline.1m", "sz000001.kline.1m", "sh600000.kline.1m"]
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await client.async_close()


async def test_section4_queries(broker, uniq):
    ns = uniq("market_data")
    user = uniq("query_user")
    token = broker.create_user(user, {ns: "sub"})
    async with broker.client() as admin:
        for t in ["sz000651.kline.1m", "sz000651.kline.5m", "sz000651.trade"]:
            await admin.async_publish(ns, t, b"x")
    client = PulseMQClient(host="127.0.0.1", pub_port=broker.pub_port, sub_port=broker.sub_port,
                           username=user, token=token)
    await client.async_connect()
    try:
        namespaces = await client.async_query_namespaces()
        print("Namespaces:", namespaces)
        assert namespaces == [{"name": ns, "topics": ["sz000651.kline.1m", "sz000651.kline.5m", "sz000651.trade"],
                               "topic_count": 3}]
        topics = await client.async_query_topics(ns)
        print("Topics:", topics)
        assert topics == ["sz000651.kline.1m", "sz000651.kline.5m", "sz000651.trade"]
    finally:
        await client.async_close()


async def test_section5_concurrent_subscribers(broker, uniq):
    ns = uniq("market_data")
    names = {"sub_kline": "sz000651.kline.>", "sub_trade": "sz000651.trade", "sub_all": "sz000651.>"}
    usernames, tokens = {}, {}
    for i, n in enumerate(names):  # unique usernames: the session broker is shared
        usernames[n] = uniq(n + "_")
        tokens[n] = broker.create_user(usernames[n], {ns: "sub"}, wait=(i == len(names) - 1))
    got = {n: [] for n in names}
    expected = {"sub_kline": 2, "sub_trade": 1, "sub_all": 3}

    async def subscriber(name, token, namespace, topic, username):
        client = PulseMQClient(host="127.0.0.1", pub_port=broker.pub_port, sub_port=broker.sub_port,
                               username=username, token=token)
        await client.async_connect()
        try:
            async for msg in client.async_subscribe(namespace=namespace, topic=topic):
                print(f"[{name}] {msg.topic}: {len(msg.data)} bytes")
                got[name].append(msg.topic)
                if len(got[name]) == expected[name]:
                    break
        finally:
            await client.async_close()

    async def publish_later():
        await asyncio.sleep(0.5)
        async with broker.client() as pub:
            for t in ["sz000651.kline.1m", "sz000651.trade", "sz000651.kline.5m"]:
                await pub.async_publish(ns, t, b"payload")

    await asyncio.wait_for(asyncio.gather(
        *[subscriber(n, tokens[n], ns, names[n], usernames[n]) for n in names],
        publish_later(),
    ), 15)
    assert got == {"sub_kline": ["sz000651.kline.1m", "sz000651.kline.5m"], "sub_trade": ["sz000651.trade"],
                   "sub_all": ["sz000651.kline.1m", "sz000651.trade", "sz000651.kline.5m"]}


def test_section6_yaml_config(tmp_path):
    """The README's config.yaml (ports 0 and temp paths instead of 6000/6001/9090 and /data)."""
    b = Broker(tmp_path / "yaml")
    b.dir.mkdir(parents=True, exist_ok=True)
    cfg = b.dir / "config.yaml"
    cfg.write_text(f"""
server:
  host: "127.0.0.1"
  pub_port: 0
  sub_port: 0
  admin_port: 0

storage:
  db_path: "{b.db_path}"

auth:
  jwt_secret: "your-production-secret-key-at-least-32-bytes"
  jwt_expiry: 43200  # 12 小时

limits:
  max_connections_per_user: 20
  max_subscriptions_per_conn: 1000

broker:
  hwm: 50000

logging:
  dir: "{b.dir / 'logs'}"
  level: "info"
  max_days: 30
""")
    b._write_config = lambda: cfg
    b.start()
    try:
        c = PulseMQClient(**b.client_kwargs())
        c.connect()
        assert c.publish("md", "a", b"x") == 1
        c.close()
    finally:
        b.stop()


def test_section7_admin_api_health(broker):
    if not broker.admin_url:
        pytest.skip("the broker prints no 'Admin :' line yet (admin API, issue 4)")
    with urllib.request.urlopen(broker.admin_url.rstrip("/") + "/health", timeout=5) as r:
        assert json.loads(r.read())["status"] == "ok"


async def test_section8_reconnect_option_defaults(broker):
    """Section 8: reconnect=True by default; reconnect=False is accepted. The restart behaviour
    itself is tested in test_restart.py."""
    client = PulseMQClient(host="127.0.0.1", pub_port=broker.pub_port, sub_port=broker.sub_port,
                           username=broker.admin["username"], token=broker.admin["token"])
    assert client.reconnect is True and client.max_reconnect_attempts == 10
    assert (client.reconnect_delay, client.reconnect_max_delay) == (1.0, 30.0)
    client = PulseMQClient(host="127.0.0.1", pub_port=broker.pub_port, sub_port=broker.sub_port,
                           username="user", token="token", reconnect=False)
    assert client.reconnect is False
