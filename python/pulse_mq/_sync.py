"""The synchronous half of :class:`pulse_mq.PulseMQClient`: the async core runs on a private
event-loop thread, callbacks on a callback thread, and every method here is thread-safe.

A mixin over the client's async API (``async_connect``, ``async_publish``, ``_add_sub``, …).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any, Awaitable, Callable, List, Optional, TypeVar, Union

from .errors import PulseMQTimeoutError
from .message import PulseMessage
from .protocol import Compression, Format, Pattern, validate_namespace, validate_topic

log = logging.getLogger("pulse_mq")

_C = TypeVar("_C", bound="SyncMixin")


class SyncMixin:
    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        with self._sync_lock:
            if self._loop is not None:
                return self._loop
            loop = asyncio.new_event_loop()
            t = threading.Thread(target=loop.run_forever, name="pulse_mq-loop", daemon=True)
            t.start()
            self._thread_loop, self._thread, self._loop = loop, t, loop
            return loop

    def _call(self, coro_fn: Callable[[], Awaitable], timeout: Optional[float] = None) -> Any:
        loop = self._ensure_loop()
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            raise RuntimeError("synchronous PulseMQClient method called from the client's own event loop "
                               "(e.g. inside an async callback): use the async_* method instead")

        async def run():
            return await coro_fn()

        fut = asyncio.run_coroutine_threadsafe(run(), loop)
        try:
            return fut.result(timeout)
        except TimeoutError:
            fut.cancel()
            raise PulseMQTimeoutError(f"no result within {timeout} s") from None

    def connect(self: _C) -> _C:
        """Synchronous :meth:`async_connect` (the client then runs on its own loop thread); makes
        the subscriptions and sends the publishes registered so far."""
        self._call(self.async_connect)
        self._activate()
        return self

    def _ensure_cb_thread(self) -> None:
        with self._sync_lock:
            if self._cb_thread is None:
                self._cb_thread = threading.Thread(target=self._cb_worker, name="pulse_mq-callbacks",
                                                   daemon=True)
                self._cb_thread.start()

    def _cb_worker(self) -> None:
        while True:
            item = self._cb_queue.get()
            if item is None:
                return
            local, msg = item
            if not local.active:
                continue
            try:
                local.callback(msg)
            except Exception:
                log.exception("subscription callback failed for %s", msg)

    def subscribe(self, namespace: str, topic: str, callback: Callable[[PulseMessage], Any], *,
                  snapshot: bool = False) -> None:
        """Sync mode: ``callback(msg)`` is called for every message matching ``topic``.

        Before :meth:`run` the subscription is registered and made by ``run()``; afterwards (from
        any thread) it is made at once. Callbacks run one at a time on the client's callback
        thread, never on the network loop: a slow callback cannot delay heartbeats; when it falls
        ``queue_size`` messages behind, further messages are dropped and counted."""
        validate_namespace(namespace)
        Pattern(topic)
        if not callable(callback):
            raise TypeError("callback must be callable")
        with self._sync_lock:
            if not self._running:
                self._registered_subs.append((namespace, topic, callback, snapshot))
                return
        self._ensure_cb_thread()
        self._call(lambda: self._add_sub(namespace, topic, snapshot, self.queue_size, callback, True))

    def publish(self, namespace: str, topic: str, data: Any, format: Union[str, int, Format, None] = None,
                compress: Union[str, Compression, None] = None, *, ack: bool = True,
                timeout: Optional[float] = None) -> Optional[int]:
        """Sync mode publish, thread-safe. Before :meth:`run` it is queued (sent by ``run()``,
        returns None); afterwards it blocks until PUB_OK and returns the sequence number."""
        validate_namespace(namespace)
        validate_topic(topic)
        with self._sync_lock:
            if not self._running:
                self._registered_pubs.append(((namespace, topic, data, format, compress), {"ack": ack}))
                return None
        return self._call(lambda: self.async_publish(namespace, topic, data, format, compress, ack=ack,
                                                     timeout=timeout))

    def unsubscribe(self, namespace: str, topic: str) -> None:
        self._call(lambda: self.async_unsubscribe(namespace, topic))

    def query_namespaces(self) -> List[dict]:
        return self._call(self.async_query_namespaces)

    def query_topics(self, namespace: str) -> List[str]:
        return self._call(lambda: self.async_query_topics(namespace))

    def query_permission(self) -> dict:
        return self._call(self.async_query_permission)

    def flush(self, timeout: Optional[float] = None) -> None:
        self._call(lambda: self.async_flush(timeout))

    def start(self: _C) -> _C:
        """Connects, makes the registered subscriptions, sends the registered publishes, and
        returns; the client keeps running on its threads until :meth:`stop` / :meth:`close`."""
        return self.connect()

    def _activate(self) -> None:
        with self._sync_lock:
            if self._running:
                return
            subs, self._registered_subs = self._registered_subs, []
            pubs, self._registered_pubs = self._registered_pubs, []
            self._running = True
        if subs:
            self._ensure_cb_thread()
        for ns, topic, cb, snap in subs:
            self._call(lambda ns=ns, topic=topic, cb=cb, snap=snap:
                       self._add_sub(ns, topic, snap, self.queue_size, cb, True))
        for args, kw in pubs:
            self._call(lambda args=args, kw=kw: self.async_publish(*args, **kw))

    def run(self, timeout: Optional[float] = None) -> None:
        """Sync mode main loop: :meth:`start`, then block until :meth:`stop` (from a callback or
        another thread), Ctrl-C, ``timeout`` seconds, or a fatal connection loss (raised).
        Closes the client on the way out."""
        self.start()
        try:
            self._stop_event.wait(timeout)
        except KeyboardInterrupt:
            pass
        finally:
            fatal = self._fatal
            self.close()
        if fatal is not None:
            raise fatal

    def stop(self) -> None:
        """Makes :meth:`run` return (thread-safe, also from a callback)."""
        self._stop_event.set()

    def close(self) -> None:
        """Synchronous :meth:`async_close`; also stops the loop and callback threads."""
        if self._loop is not None and not self._closed:
            try:
                self._call(self.async_close, timeout=10)
            except RuntimeError:
                raise
            except Exception as e:
                log.debug("close: %s", e)
        self._closed = True
        self._stop_event.set()
        if self._cb_thread is not None:
            self._cb_queue.put(None)
            if self._cb_thread is not threading.current_thread():
                self._cb_thread.join(timeout=5)
            self._cb_thread = None
        if self._thread_loop is not None:
            loop, self._thread_loop = self._thread_loop, None
            loop.call_soon_threadsafe(loop.stop)
            if self._thread is not threading.current_thread():
                self._thread.join(timeout=5)
            loop.close()

    def __enter__(self: _C) -> _C:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()
