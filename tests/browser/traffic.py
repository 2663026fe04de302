"""Test traffic for the console's browser tests, through the Python SDK.

    traffic.py pub HOST PUB_PORT SUB_PORT USER TOKEN NAMESPACE TOPIC SECONDS
    traffic.py sub HOST PUB_PORT SUB_PORT USER TOKEN NAMESPACE PATTERN SECONDS
    traffic.py badauth HOST PUB_PORT SUB_PORT USER TOKEN NAMESPACE TOPIC COUNT

`pub` publishes about 200 messages a second for SECONDS; `sub` subscribes
and counts what arrives; `badauth` tries COUNT logins with a wrong token
(TOKEN is ignored), each refused with AuthFailedError, for the alarms page. Both print one line when ready ("ready") and one at
the end, and stop by themselves.
"""

import asyncio
import sys
import time

from pulse_mq import PulseMQClient
from pulse_mq.errors import AuthFailedError


async def close(client: PulseMQClient) -> None:
    try:
        await client.async_close()
    except Exception:  # already closed, or never connected
        pass


async def bad_logins(host: str, pub_port: int, sub_port: int, user: str, count: int) -> None:
    for _ in range(count):
        client = PulseMQClient(host=host, pub_port=pub_port, sub_port=sub_port,
                               username=user, token="0" * 32, reconnect=False)
        try:
            await client.async_connect()
            raise SystemExit("a wrong token was accepted")
        except AuthFailedError:
            pass
        finally:
            await close(client)
    print("ready", flush=True)
    print(f"done badauth {count}", flush=True)


async def main() -> None:
    mode, host, pub_port, sub_port, user, token, ns, topic, seconds = sys.argv[1:10]
    if mode == "badauth":
        await bad_logins(host, int(pub_port), int(sub_port), user, int(seconds))
        return
    client = PulseMQClient(host=host, pub_port=int(pub_port), sub_port=int(sub_port),
                           username=user, token=token, reconnect=True)
    await client.async_connect()
    end = time.monotonic() + float(seconds)
    count = 0
    try:
        if mode == "pub":
            print("ready", flush=True)
            while time.monotonic() < end:
                for _ in range(20):
                    await client.async_publish(ns, topic, f"tick {count}", format="string", ack=False)
                    count += 1
                await asyncio.sleep(0.1)
        else:
            sub = await client.async_subscribe(ns, topic)
            print("ready", flush=True)

            async def consume() -> None:
                nonlocal count
                async for _msg in sub:
                    count += 1

            try:
                await asyncio.wait_for(consume(), timeout=max(0.0, end - time.monotonic()))
            except (asyncio.TimeoutError, Exception):  # kicked, or time is up
                pass
    finally:
        await close(client)
    print(f"done {mode} {count}", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
