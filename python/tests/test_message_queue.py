"""The subscription queue that replaced asyncio.Queue on the delivery path: bounded, FIFO,
getters served in order, and no wake-up lost when a waiting consumer is cancelled."""

from __future__ import annotations

import asyncio

import pytest

from pulse_mq.subscription import MessageQueue


def test_a_full_queue_refuses_without_changing_and_end_markers_evict_the_oldest():
    q = MessageQueue(2)
    assert q.put_nowait(1) and q.put_nowait(2)
    assert q.put_nowait(3) is False and list(q.items) == [1, 2]
    q.put_evicting("end")
    assert list(q.items) == [2, "end"]
    assert q.get_nowait() == 2 and q.get_nowait() == "end"
    with pytest.raises(IndexError):
        q.get_nowait()


def test_unbounded_when_maxsize_is_zero():
    q = MessageQueue(0)
    assert all(q.put_nowait(i) for i in range(50_000)) and q.qsize() == 50_000


def test_waiting_getters_are_served_in_order():
    async def main():
        q = MessageQueue(10)
        got = []

        async def consumer(name):
            got.append((name, await q.get()))

        tasks = [asyncio.ensure_future(consumer(n)) for n in ("a", "b", "c")]
        await asyncio.sleep(0)
        for i in range(3):
            q.put_nowait(i)
        await asyncio.gather(*tasks)
        return got

    assert asyncio.run(main()) == [("a", 0), ("b", 1), ("c", 2)]


def test_a_cancelled_getter_passes_its_wake_up_on():
    async def main():
        q = MessageQueue(10)
        first = asyncio.ensure_future(q.get())
        second = asyncio.ensure_future(q.get())
        await asyncio.sleep(0)
        q.put_nowait("x")  # wakes `first` ...
        first.cancel()  # ... which is cancelled before it runs
        return await asyncio.wait_for(second, 1.0)

    assert asyncio.run(main()) == "x"
