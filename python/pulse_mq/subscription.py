"""Local subscriptions: the bounded queue (or callback) each one delivers into, and the
:class:`Subscription` handle users iterate over.

A subscription only needs a few things from its client (where to count drops, the callback
queue of sync mode, how to add and remove itself); :class:`SubscriptionOwner` names them, so
this module does not depend on the client's.
"""

from __future__ import annotations

import asyncio
import collections
import inspect
import logging
import queue as _queue
from typing import Any, Callable, Optional, Protocol, Tuple

from .errors import PulseMQError
from .message import PulseMessage
from .protocol import Pattern
from .stats import ClientStats

__all__ = ["Subscription", "SubscriptionOwner", "MessageQueue"]

log = logging.getLogger("pulse_mq")

END = object()  # end-of-subscription marker in a queue


class MessageQueue:
    """A subscription's bounded FIFO: what :class:`asyncio.Queue` does here, at a fraction of
    its cost per message (no task accounting; ``put_nowait`` says whether the item fitted
    instead of raising). Getters wait in order, as with :class:`asyncio.Queue`."""

    __slots__ = ("items", "maxsize", "_getters")

    def __init__(self, maxsize: int):
        self.items: "collections.deque" = collections.deque()
        self.maxsize = maxsize  # 0: unbounded
        self._getters: "collections.deque[asyncio.Future]" = collections.deque()

    def qsize(self) -> int:
        return len(self.items)

    def put_nowait(self, item: Any) -> bool:
        """Appends ``item``; False (and nothing changes) when the queue is full."""
        if self.maxsize and len(self.items) >= self.maxsize:
            return False
        self.items.append(item)
        if self._getters:
            self._wake_next()
        return True

    def put_evicting(self, item: Any) -> None:
        """Appends ``item``, dropping the oldest one if the queue is full (end markers)."""
        if self.maxsize and len(self.items) >= self.maxsize:
            self.items.popleft()
        self.items.append(item)
        if self._getters:
            self._wake_next()

    def get_nowait(self) -> Any:
        """The oldest item; raises IndexError when empty."""
        return self.items.popleft()

    async def get(self) -> Any:
        items = self.items
        while not items:
            g = asyncio.get_running_loop().create_future()
            self._getters.append(g)
            try:
                await g
            except BaseException:
                g.cancel()
                if items and not g.cancelled():
                    self._wake_next()  # the wake-up this getter got goes to the next one
                raise
        return items.popleft()

    def _wake_next(self) -> None:
        getters = self._getters
        while getters:
            g = getters.popleft()
            if not g.done():
                g.set_result(None)
                return


class SubscriptionOwner(Protocol):
    """What a subscription uses of the client that made it."""
    stats: ClientStats
    _on_drop: Optional[Callable[[PulseMessage], Any]]
    _cb_queue: "_queue.Queue"

    async def _add_sub(self, namespace: str, topic: str, snapshot: bool, maxsize: int,
                       callback: Optional[Callable] = None, threaded: bool = False) -> "LocalSub": ...

    async def _remove_sub(self, local: "LocalSub") -> None: ...


class LocalSub:
    """One local subscription: a pattern and where its messages go."""

    def __init__(self, client: SubscriptionOwner, namespace: str, pattern: Pattern, snapshot: bool,
                 maxsize: int, callback: Optional[Callable] = None, threaded: bool = False):
        self.client = client
        self.namespace = namespace
        self.pattern = pattern
        self.snapshot = snapshot
        self.callback = callback
        self.threaded = threaded  # callback runs on the client's callback thread (sync mode)
        self.queue: Optional[MessageQueue] = None if threaded else MessageQueue(maxsize)
        self.dropped = 0
        self.received = 0
        self.active = True
        self.error: Optional[BaseException] = None

    @property
    def key(self) -> Tuple[str, str]:
        return (self.namespace, self.pattern.text)

    def deliver(self, msg: PulseMessage) -> None:
        if self.threaded:
            try:
                self.client._cb_queue.put_nowait((self, msg))
            except _queue.Full:
                self._drop(msg)
                return
        else:
            if not self.queue.put_nowait(msg):
                self._drop(msg)
                return
        self.received += 1

    def _drop(self, msg: PulseMessage) -> None:
        self.dropped += 1
        self.client.stats.dropped += 1
        cb = self.client._on_drop
        if cb is not None:
            try:
                cb(msg)
            except Exception:  # a user callback must not break the reader
                log.exception("on_drop callback failed")

    def end(self, error: Optional[BaseException] = None) -> None:
        """Ends the subscription; iterators see StopAsyncIteration or ``error``."""
        if not self.active and error is None:
            return
        self.active = False
        self.error = error
        if self.queue is not None:
            item = error if error is not None else END
            self.queue.put_evicting(item)  # the end marker must get through


class Subscription:
    """Returned by :meth:`pulse_mq.PulseMQClient.async_subscribe`.

    Use it directly in ``async for msg in client.async_subscribe(ns, pattern)`` (the SUB is sent
    on the first iteration), or ``sub = await client.async_subscribe(...)`` to have the SUB
    acknowledged (and errors raised) before iterating. ``async with`` unsubscribes on exit.
    """

    def __init__(self, client: SubscriptionOwner, namespace: str, topic: str, snapshot: bool,
                 maxsize: int, callback: Optional[Callable] = None):
        self._client = client
        self.namespace = namespace
        self.topic = topic
        self._snapshot = snapshot
        self._maxsize = maxsize
        self._callback = callback
        self._local: Optional[LocalSub] = None
        self._start_lock: Optional[asyncio.Lock] = None
        self._task: Optional[asyncio.Task] = None

    # -- lifecycle ------------------------------------------------------------------------------
    async def _start(self) -> "Subscription":
        if self._local is not None:
            return self
        if self._start_lock is None:
            self._start_lock = asyncio.Lock()
        async with self._start_lock:
            if self._local is None:
                self._local = await self._client._add_sub(self.namespace, self.topic, self._snapshot,
                                                          self._maxsize)
                if self._callback is not None:
                    self._task = asyncio.ensure_future(self._run_callback())
        return self

    def __await__(self):
        return self._start().__await__()

    async def _run_callback(self) -> None:
        try:
            async for msg in self:
                try:
                    r = self._callback(msg)
                    if inspect.isawaitable(r):
                        await r
                except Exception:
                    log.exception("subscription callback failed for %s", msg)
        except asyncio.CancelledError:
            pass
        except PulseMQError as e:
            log.error("subscription %s:%s ended: %s", self.namespace, self.topic, e)

    def __aiter__(self) -> "Subscription":
        return self

    async def __anext__(self) -> PulseMessage:
        if self._local is None:
            await self._start()
        q = self._local.queue
        item = q.items.popleft() if q.items else await q.get()
        if item is END:
            q.put_evicting(END)  # stay ended for later calls
            raise StopAsyncIteration
        if isinstance(item, BaseException):
            q.put_evicting(item)
            raise item
        return item

    def get_nowait(self) -> Optional[PulseMessage]:
        """The next queued message, or None."""
        if self._local is None:
            return None
        try:
            item = self._local.queue.get_nowait()
        except IndexError:
            return None
        if item is END or isinstance(item, BaseException):
            self._local.queue.put_evicting(item)
            return None
        return item

    async def unsubscribe(self) -> None:
        """Stops this subscription (UNSUB is sent when no other local subscription needs it)."""
        if self._task is not None and self._task is not asyncio.current_task():
            self._task.cancel()
        if self._local is not None:
            await self._client._remove_sub(self._local)

    aclose = unsubscribe

    async def __aenter__(self) -> "Subscription":
        return await self._start()

    async def __aexit__(self, *exc) -> None:
        await self.unsubscribe()

    # -- counters -------------------------------------------------------------------------------
    @property
    def dropped(self) -> int:
        """Messages lost because this subscription's queue was full."""
        return self._local.dropped if self._local else 0

    @property
    def received(self) -> int:
        return self._local.received if self._local else 0

    @property
    def pending(self) -> int:
        """Messages waiting in the queue."""
        return self._local.queue.qsize() if self._local and self._local.queue else 0

    @property
    def active(self) -> bool:
        return bool(self._local and self._local.active)

    def __repr__(self) -> str:
        return f"Subscription({self.namespace!r}, {self.topic!r}, active={self.active})"
