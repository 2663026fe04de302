"""The original Python client (pulse_mq 0.2.0, protocol 4) against the Rust broker.

The wheel is fetched from the package index at test time (never vendored) and its
`app.client.Client` used unmodified: AUTH, PUB and the queries must work with the
original reply shapes; its subscribe path (a plain SUB socket on an open port) is
refused with a clear error, as the README explains.
"""
import asyncio
import importlib
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

pytest.importorskip("pandas")
pytest.importorskip("pyarrow")
pytest.importorskip("zstandard")
pytest.importorskip("lz4")


@pytest.fixture(scope="module")
def original_client(tmp_path_factory):
    dest = tmp_path_factory.mktemp("pulse_mq_0_2_0")
    cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--python-version", "3.13",
           "--only-binary=:all:", "-d", str(dest), "pulse-mq==0.2.0"]
    try:
        subprocess.run(cmd, check=True, timeout=120, capture_output=True)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as e:
        pytest.skip(f"cannot download pulse-mq 0.2.0 from the package index: {e}")
    wheel = next(dest.glob("pulse_mq-0.2.0-*.whl"))
    with zipfile.ZipFile(wheel) as z:
        z.extractall(dest / "src")
    sys.path.insert(0, str(dest / "src"))
    try:
        yield importlib.import_module("app.client"), importlib.import_module("app.errors")
    finally:
        sys.path.remove(str(dest / "src"))
        for name in [m for m in sys.modules if m == "app" or m.startswith("app.")]:
            del sys.modules[name]


def test_original_client_auth_publish_query(broker, uniq, original_client):
    client_mod, errors = original_client
    ns = uniq("orig")

    async def main():
        # The seed's subscriber, with our SDK, sees what the original client publishes.
        sub_client = broker.client()
        await sub_client.async_connect()
        sub = await sub_client.async_subscribe(ns, "sz000651.>")

        c = client_mod.Client(f"127.0.0.1:{broker.pub_port}", token=broker.admin["token"], username="admin",
                              reconnect=False)
        await c.connect()
        assert c.is_connected
        await c.publish(f"{ns}:sz000651.kline.1m", '{"close": 10.55}', format="string")
        await c.publish(f"{ns}:sz000651.trade", b"\x01\x02", format="bytes")
        msg = await asyncio.wait_for(sub.__anext__(), 5)
        assert (msg.topic, msg.data, msg.publisher) == ("sz000651.kline.1m", '{"close": 10.55}', "admin")
        msg = await asyncio.wait_for(sub.__anext__(), 5)
        assert (msg.topic, msg.data) == ("sz000651.trade", b"\x01\x02")

        names = await c.query_namespaces()
        mine = [n for n in names if n["name"] == ns]
        assert mine == [{"name": ns, "topics": ["sz000651.kline.1m", "sz000651.trade"], "topic_count": 2}]
        assert await c.query_topics(ns) == ["sz000651.kline.1m", "sz000651.trade"]
        perm = await c.query_permission()
        assert perm["type"] == "super_admin"

        # Its subscribe path is refused with a clear error instead of silence.
        with pytest.raises(errors.PulseMQError) as e:
            await c.subscribe(f"{ns}:sz000651.>")
        assert "protocol-4 subscriptions are not supported" in str(e.value)
        await c.close()
        await sub_client.async_close()

    asyncio.run(main())


def test_original_client_wrong_token_is_auth_failed(broker, original_client):
    client_mod, errors = original_client

    async def main():
        c = client_mod.Client(f"127.0.0.1:{broker.pub_port}", token="0" * 32, username="admin", reconnect=False)
        with pytest.raises(errors.AuthFailedError):
            await c.connect()
        await c.close()

    asyncio.run(main())
