"""The Python SDK against NATS, the same script for both, in one run (issue 15).

    .venv/bin/python python/bench/bench.py            # full: 100 000-message burst
    .venv/bin/python python/bench/bench.py --quick    # a few seconds

Starts the release broker (``target/release/pulsemq``, or ``--broker``/``PULSEMQ_BIN``) and
``nats-server`` (Debian's package, installed by ``scripts/setup.sh``), each on free loopback
ports in a temporary directory, then runs with ``pulse_mq`` and with ``nats-py``, publisher and
subscriber in one process and one event loop, as a user's first script would:

- burst: N fire-and-forget publishes of 100 B as fast as the loop goes, then wait for them all;
- acked: publishes awaited one at a time (NATS: a request/reply round trip to a responder);
- latency: 100 B at 1 000 msg/s, end to end (send stamp in the payload).

Prints a table with ratios and the issue's targets. Numbers on a shared 2-core VM move by
10-30 % between runs: compare ratios within one run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional, Tuple

REPO = Path(__file__).resolve().parents[2]
SUBJECT = "bench.tick"
SIZE = 100
_STAMP = struct.Struct(">Q")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def payload() -> bytes:
    return _STAMP.pack(time.perf_counter_ns()) + bytes(SIZE - 8)


def latency_us(data: bytes) -> float:
    return (time.perf_counter_ns() - _STAMP.unpack_from(data)[0]) / 1000


def pct(v: List[float], q: float) -> float:
    v = sorted(v)
    return v[min(len(v) - 1, max(0, int(q * len(v) + 0.999999) - 1))] if v else float("nan")


# ---- processes ---------------------------------------------------------------------------------

class Broker:
    def __init__(self, binary: Path, tmp: Path):
        cfg = tmp / "pulsemq.yaml"
        cfg.write_text("server: {host: 127.0.0.1, pub_port: 0, sub_port: 0, admin_port: 0}\n"
                       f"storage: {{db_path: {tmp / 'pulsemq.db'}}}\nlogging: {{dir: {tmp / 'logs'}, level: warn}}\n")
        self.proc = subprocess.Popen([str(binary), "--config", str(cfg)], cwd=tmp, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL)
        ports: Dict[str, int] = {}
        deadline = time.time() + 30
        for raw in self.proc.stdout:
            line = raw.decode(errors="replace")
            for key, label in (("pub", "Command"), ("sub", "Delivery")):
                m = re.match(rf"\s*{label}\s*:\s*tcp://[^:]+:(\d+)", line)
                if m:
                    ports[key] = int(m.group(1))
            if len(ports) == 2 and line.startswith("====="):
                break
            if time.time() > deadline:
                break
        if len(ports) != 2:
            self.stop()
            sys.exit(f"the broker {binary} did not start (build it: cargo build --release -p pulsemq)")
        self.pub_port, self.sub_port = ports["pub"], ports["sub"]
        creds = dict(l.split(": ", 1) for l in (tmp / ".pulsemq_admin").read_text().splitlines() if ": " in l)
        self.user, self.token = creds["username"], creds["token"]

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


class NatsServer:
    def __init__(self, binary: str, tmp: Path):
        self.port = free_port()
        self.proc = subprocess.Popen([binary, "-a", "127.0.0.1", "-p", str(self.port)], cwd=tmp,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                break
            except OSError:
                if time.time() > deadline:
                    sys.exit("nats-server did not start")
                time.sleep(0.05)
        self.url = f"nats://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


# ---- scenarios: pulse_mq -----------------------------------------------------------------------

async def pulse_burst(b: Broker, n: int) -> Tuple[int, float]:
    from pulse_mq import PulseMQClient
    async with PulseMQClient("127.0.0.1", b.pub_port, b.sub_port, b.user, b.token) as c:
        sub = await c.async_subscribe("bench", "tick")
        got, last = 0, 0.0

        async def consume():
            nonlocal got, last
            async for _ in sub:
                got += 1
                last = time.perf_counter()
                if got == n:
                    return

        task = asyncio.ensure_future(consume())
        start = time.perf_counter()
        for _ in range(n):
            await c.async_publish("bench", "tick", payload(), format="bytes", ack=False)
        try:
            await asyncio.wait_for(task, 30)
        except asyncio.TimeoutError:
            pass
        return got, (last - start) if got else float("nan")


async def pulse_acked(b: Broker, n: int) -> float:
    from pulse_mq import PulseMQClient
    async with PulseMQClient("127.0.0.1", b.pub_port, b.sub_port, b.user, b.token) as c:
        start = time.perf_counter()
        for _ in range(n):
            await c.async_publish("bench", "acked", payload(), format="bytes")
        return n / (time.perf_counter() - start)


async def pulse_latency(b: Broker, n: int, rate: int) -> List[float]:
    from pulse_mq import PulseMQClient
    async with PulseMQClient("127.0.0.1", b.pub_port, b.sub_port, b.user, b.token) as c:
        sub = await c.async_subscribe("bench", "lat")
        lat: List[float] = []

        async def consume():
            async for m in sub:
                lat.append(latency_us(m.payload if hasattr(m, "payload") else m.data))
                if len(lat) == n:
                    return

        task = asyncio.ensure_future(consume())
        await paced(n, rate, lambda: c.async_publish("bench", "lat", payload(), format="bytes", ack=False))
        await asyncio.wait_for(task, 30)
        return lat[n // 10:]


async def paced(n: int, rate: int, send) -> None:
    period, start = 1.0 / rate, time.perf_counter()
    for i in range(n):
        delay = start + i * period - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        await send()


# ---- scenarios: nats-py ------------------------------------------------------------------------

async def nats_burst(url: str, n: int) -> Tuple[int, float]:
    import nats
    nc = await nats.connect(url)
    got, last = 0, 0.0
    done = asyncio.get_running_loop().create_future()

    async def on_msg(_m):
        nonlocal got, last
        got += 1
        last = time.perf_counter()
        if got == n and not done.done():
            done.set_result(None)

    await nc.subscribe(SUBJECT, cb=on_msg)
    await nc.flush()
    start = time.perf_counter()
    for _ in range(n):
        await nc.publish(SUBJECT, payload())
    await nc.flush()
    try:
        await asyncio.wait_for(done, 30)
    except asyncio.TimeoutError:
        pass
    await nc.close()
    return got, (last - start) if got else float("nan")


async def nats_acked(url: str, n: int) -> float:
    import nats
    nc = await nats.connect(url)

    async def respond(m):
        await m.respond(b"")

    await nc.subscribe("bench.req", cb=respond)
    await nc.flush()
    start = time.perf_counter()
    for _ in range(n):
        await nc.request("bench.req", payload(), timeout=5)
    rate = n / (time.perf_counter() - start)
    await nc.close()
    return rate


async def nats_latency(url: str, n: int, rate: int) -> List[float]:
    import nats
    nc = await nats.connect(url)
    lat: List[float] = []
    done = asyncio.get_running_loop().create_future()

    async def on_msg(m):
        lat.append(latency_us(m.data))
        if len(lat) == n and not done.done():
            done.set_result(None)

    await nc.subscribe("bench.lat", cb=on_msg)
    await nc.flush()
    await paced(n, rate, lambda: nc.publish("bench.lat", payload()))
    await asyncio.wait_for(done, 30)
    await nc.close()
    return lat[n // 10:]


# ---- report ------------------------------------------------------------------------------------

def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--broker", default=os.environ.get("PULSEMQ_BIN", str(REPO / "target/release/pulsemq")))
    ap.add_argument("--nats-server", default=shutil.which("nats-server") or "/usr/sbin/nats-server")
    a = ap.parse_args()
    n_burst, n_ack, n_lat = (20_000, 2_000, 1_000) if a.quick else (100_000, 10_000, 5_000)
    with tempfile.TemporaryDirectory() as tmp:
        b = Broker(Path(a.broker), Path(tmp))
        ns = NatsServer(a.nats_server, Path(tmp))
        try:
            run = asyncio.run
            p_got, p_secs = run(pulse_burst(b, n_burst))
            n_got, n_secs = run(nats_burst(ns.url, n_burst))
            p_ack, n_ack_rate = run(pulse_acked(b, n_ack)), run(nats_acked(ns.url, n_ack))
            p_lat, n_lat_v = run(pulse_latency(b, n_lat, 1000)), run(nats_latency(ns.url, n_lat, 1000))
        finally:
            b.stop()
            ns.stop()
    p_rate, n_rate = p_got / p_secs, n_got / n_secs
    rows = [
        ("burst %d x 100 B, fire and forget" % n_burst,
         f"{p_rate:,.0f} msg/s, lost {n_burst - p_got}", f"{n_rate:,.0f} msg/s, lost {n_burst - n_got}",
         f"{p_rate / n_rate:.2f}x", "0 loss, >= 1.0x", n_burst == p_got and p_rate >= n_rate),
        (f"acked publish, one at a time (NATS: request/reply)", f"{p_ack:,.0f}/s", f"{n_ack_rate:,.0f}/s",
         f"{p_ack / n_ack_rate:.2f}x", "-", None),
        ("latency @1 000 msg/s P50 / P99",
         f"{pct(p_lat, .5):.0f} / {pct(p_lat, .99):.0f} us", f"{pct(n_lat_v, .5):.0f} / {pct(n_lat_v, .99):.0f} us",
         f"{pct(p_lat, .5) / pct(n_lat_v, .5):.2f}x P50", "P50 <= NATS", pct(p_lat, .5) <= pct(n_lat_v, .5)),
    ]
    print(f"python bench{' --quick' if a.quick else ''}: pulse_mq vs nats-py, one process, "
          f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}")
    print("| scenario | pulse_mq | nats-py | ratio | target | met |\n|---|---|---|---|---|---|")
    for name, ours, theirs, ratio, target, met in rows:
        print(f"| {name} | {ours} | {theirs} | {ratio} | {target} | {'' if met is None else ('yes' if met else 'NO')} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
