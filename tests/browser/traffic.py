"""Test traffic for the console's browser tests, through the Python SDK.

    traffic.py pub HOST PUB_PORT SUB_PORT USER TOKEN NAMESPACE TOPIC SECONDS
    traffic.py sub HOST PUB_PORT SUB_PORT USER TOKEN NAMESPACE PATTERN SECONDS

`pub` publishes about 200 messages a second for SECONDS; `sub` subscribes
and counts what arrives. Both print one line when ready ("ready") and one at
the end, and stop by themselves.
"""

import asyncio
import sys
import time

from pulse_mq import PulseMQClient


async def main() -> None:
    mode, host, pub_port, sub_port, user, token, ns, topic, seconds = sys.argv[1:10]
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
        try:
            await client.async_close()
        except Exception:
            pass
    print(f"done {mode} {count}", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
