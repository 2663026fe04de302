"""The pulse-mq wheel as a user gets it: built with maturin, installed into a fresh virtualenv,
it carries the broker (the ``pulsemq`` command) and runs the seed README's start-from-Python
example — the real broker, found next to the package, with nothing else on PATH."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from pulse_mq import PulseMQClient

from conftest import REPO

pytestmark = pytest.mark.broker

SEED_EXAMPLE = '''"""run_server.py: the seed README's way two, keyword overrides (loopback, free ports)."""
from pulse_mq import PulseMQServer

server = PulseMQServer(
    host="127.0.0.1",
    pub_port={pub},
    sub_port={sub},
    admin_port={admin},
    log_level="debug",
)
server.run()
'''


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(cmd, **kw) -> subprocess.CompletedProcess:
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=900, **kw)
    assert r.returncode == 0, f"{cmd} failed ({r.returncode}):\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return r


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    if shutil.which("maturin") is None and not (Path(sys.executable).parent / "maturin").exists():
        pytest.fail("maturin is not installed: pip install -e 'python[dev]' (scripts/setup.sh does)")
    maturin = shutil.which("maturin") or str(Path(sys.executable).parent / "maturin")
    out = tmp_path_factory.mktemp("dist")
    run([maturin, "build", "--release", "--out", str(out)], cwd=REPO / "python")
    wheels = list(out.glob("pulse_mq-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


def test_the_wheel_carries_the_broker_and_runs_the_seed_example(wheel, tmp_path):
    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", str(venv)])
    run([str(venv / "bin" / "pip"), "install", "-q", str(wheel)])
    assert (venv / "bin" / "pulsemq").is_file(), "the wheel installs the pulsemq command"
    env = {k: v for k, v in os.environ.items() if k not in ("PULSEMQ_BIN", "VIRTUAL_ENV", "PYTHONPATH")}
    env["PATH"] = f"{venv / 'bin'}:/usr/bin:/bin"
    assert "PulseMQ" in run([str(venv / "bin" / "pulsemq"), "--help"], env=env).stdout

    app = tmp_path / "app"
    app.mkdir()
    ports = {"pub": free_port(), "sub": free_port(), "admin": free_port()}
    (app / "run_server.py").write_text(SEED_EXAMPLE.format(**ports))
    proc = subprocess.Popen([str(venv / "bin" / "python"), "run_server.py"], cwd=app, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.stdout.read().decode(errors="replace")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{ports['admin']}/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, "no /health within 60 s"
            time.sleep(0.2)
        creds = dict(line.split(": ", 1) for line in (app / ".pulsemq_admin").read_text().splitlines() if ": " in line)
        assert (app / "pulsemq.db").exists(), "zero configuration: the database lands in the working directory"

        async def round_trip() -> str:
            async with PulseMQClient(host="127.0.0.1", pub_port=ports["pub"], sub_port=ports["sub"],
                                     username="admin", token=creds["token"]) as c:
                sub = await c.async_subscribe("market_data", "sz000651.kline.1m")
                await c.async_publish("market_data", "sz000651.kline.1m", "10.55", format="string")
                async for m in sub:
                    return m.data

        assert asyncio.run(round_trip()) == "10.55"
    finally:
        proc.send_signal(signal.SIGINT)  # Ctrl-C in the user's terminal
        try:
            code = proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    out = proc.stdout.read().decode(errors="replace")
    assert code == 0, f"Ctrl-C stops PulseMQServer.run() and the broker cleanly:\n{out[-3000:]}"
    assert "PulseMQ Broker" in out, out[-3000:]
