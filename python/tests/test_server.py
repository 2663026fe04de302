"""PulseMQServer starts the real broker binary: Config objects, keyword overrides, errors."""

from __future__ import annotations

import json
import urllib.request

import pytest

from pulse_mq import BrokerNotFoundError, PulseMQClient, PulseMQServer
from pulse_mq.config import BrokerConfig, Config, LoggingConfig, ServerConfig, StorageConfig
from pulse_mq.server import find_broker

from conftest import broker_binary

pytestmark = pytest.mark.broker


def loopback_config(tmp_path) -> Config:
    return Config(server=ServerConfig(host="127.0.0.1", pub_port=0, sub_port=0, admin_port=0),
                  storage=StorageConfig(db_path=str(tmp_path / "data" / "pulsemq.db")),
                  logging=LoggingConfig(dir=str(tmp_path / "logs"), level="warn"),
                  broker=BrokerConfig(session_buffer_bytes=8 * 1024 * 1024))


def test_config_yaml_holds_only_what_was_set():
    c = Config(server=ServerConfig(pub_port=6000, sub_port=6001))
    assert c.to_dict() == {"server": {"pub_port": 6000, "sub_port": 6001}}
    assert json.loads(Config().to_yaml()) == {}


async def test_a_config_object_starts_the_real_broker(tmp_path):
    (tmp_path / "data").mkdir()
    with PulseMQServer(loopback_config(tmp_path), binary=str(broker_binary())) as server:
        assert server.pub_port and server.sub_port and server.admin_url
        with urllib.request.urlopen(server.admin_url + "/health", timeout=5) as r:
            assert r.status == 200
        creds = server.credentials()
        assert creds["username"] == "admin" and creds["token"]
        async with PulseMQClient(host="127.0.0.1", pub_port=server.pub_port, sub_port=server.sub_port,
                                 username="admin", token=creds["token"]) as c:
            sub = await c.async_subscribe("md", "t")
            await c.async_publish("md", "t", "hello", format="string")
            async for m in sub:
                assert m.data == "hello"
                break
    assert server.proc.returncode == 0, "SIGINT stops it cleanly"
    assert (tmp_path / "data" / "pulsemq.db").exists()


def test_keyword_overrides_win_over_the_config(tmp_path):
    config = loopback_config(tmp_path)
    config.server.admin_port = 1  # refused by the OS if used: the override must win
    server = PulseMQServer(config, binary=str(broker_binary()), admin_port=0, log_level="info")
    cmd = server.command()
    assert cmd[-4:] == ["--admin-port", "0", "--log-level", "info"]
    (tmp_path / "data").mkdir()
    with server:
        assert not server.admin_url.endswith(":1")


def test_bad_options_are_refused_with_what_to_do(tmp_path, monkeypatch):
    binary = str(broker_binary())
    with pytest.raises(TypeError, match="unknown option.*hwm.*in a Config"):
        PulseMQServer(hwm=5)
    # A value the broker refuses stops start-up with the broker's own words.
    bad = loopback_config(tmp_path)
    bad.broker.session_buffer_bytes = 10
    with pytest.raises(RuntimeError, match="session_buffer_bytes"):
        PulseMQServer(bad, binary=binary).start()
    monkeypatch.setenv("PULSEMQ_BIN", str(tmp_path / "missing"))
    with pytest.raises(BrokerNotFoundError, match="PULSEMQ_BIN"):
        find_broker()
