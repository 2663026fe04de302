"""The PulseMQ client: asyncio core on ``zmq.asyncio`` plus a thread-safe synchronous mode.

Layout (design.md §3): a command DEALER (→ broker ROUTER on ``pub_port``) and a delivery
DEALER (→ ROUTER on ``sub_port``), each with a random 16-byte routing id kept for the client's
life. One reader task per socket pairs replies to requests by ``request_id``, so any number of
requests can be in flight; MSG deliveries are dispatched to every local subscription whose pattern
matches, through a bounded queue per subscription (a slow consumer loses messages, counted, and
never stalls the reader or the heartbeat). A heartbeat task PINGs both sockets; socket monitors,
ERROR 2 and missing PONGs trigger re-AUTH / re-ATTACH / re-SUB with back-off.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import inspect
import itertools
import json
import logging
import os
import queue as _queue
import threading
from typing import Any, Awaitable, Callable, Deque, Dict, List, Optional, Tuple, Union

import zmq
import zmq.asyncio
from zmq.utils.monitor import parse_monitor_message

from . import codec
from .errors import (
    AuthFailedError,
    ConnectionLostError,
    NotAuthenticatedError,
    PulseMQError,
    PulseMQTimeoutError,
    ProtocolError,
    error_from_code,
)
from .message import PulseMessage
from .protocol import (
    FLAG_CUMULATIVE,
    FLAG_NO_ACK,
    FLAG_SNAPSHOT,
    MAX_LIMIT,
    Compression,
    DecodeError,
    Ext,
    Format,
    Frames,
    MsgType,
    Pattern,
    cumulative_ack_seq,
    decode_frames,
    decode_v6,
    encode_batch,
    encode_v6,
    validate_namespace,
    validate_topic,
)

__all__ = ["PulseMQClient", "Subscription", "GapEvent", "ClientStats"]


def _log_send_failure(fut: "asyncio.Future") -> None:
    if not fut.cancelled() and fut.exception() is not None:
        log.warning("sending queued publishes failed: %s", fut.exception())

log = logging.getLogger("pulse_mq")

#: NO_ACK publishes queued in one event-loop turn leave as one protocol-6 batch frame, sent
#: when the loop next runs or, in a burst that does not yield, once this many bytes wait.
_BATCH_MAX_BYTES = 256 * 1024

_END = object()  # end-of-subscription marker in a queue


def _routing_id() -> bytes:
    rid = bytearray(os.urandom(16))
    if rid[0] == 0:
        rid[0] = 1 + (rid[1] % 255)
    return bytes(rid)


@dataclasses.dataclass(frozen=True)
class GapEvent:
    """Messages of one topic that never arrived (seen as a jump in the topic's sequence)."""
    namespace: str
    topic: str
    first_missing: int
    last_missing: int

    @property
    def missed(self) -> int:
        return self.last_missing - self.first_missing + 1


@dataclasses.dataclass
class ClientStats:
    """Counters of one client (read them from any thread)."""
    published: int = 0
    received: int = 0
    dropped: int = 0          # deliveries lost because a subscription's queue was full
    gaps: int = 0             # sequence gaps seen
    missed: int = 0           # messages missing inside those gaps
    reconnects: int = 0       # successful re-AUTH / re-ATTACH / re-SUB cycles
    async_errors: int = 0     # ERRORs for NO_ACK publishes


class _LocalSub:
    """One local subscription: a pattern and where its messages go."""

    def __init__(self, client: "PulseMQClient", namespace: str, pattern: Pattern, snapshot: bool,
                 maxsize: int, callback: Optional[Callable] = None, threaded: bool = False):
        self.client = client
        self.namespace = namespace
        self.pattern = pattern
        self.snapshot = snapshot
        self.callback = callback
        self.threaded = threaded  # callback runs on the client's callback thread (sync mode)
        self.queue: Optional[asyncio.Queue] = None if threaded else asyncio.Queue(maxsize)
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
            try:
                self.queue.put_nowait(msg)
            except asyncio.QueueFull:
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
            item = error if error is not None else _END
            try:
                self.queue.put_nowait(item)
            except asyncio.QueueFull:  # make room: the end marker must get through
                try:
                    self.queue.get_nowait()
                except asyncio.QueueEmpty:
                    pass
                self.queue.put_nowait(item)


class Subscription:
    """Returned by :meth:`PulseMQClient.async_subscribe`.

    Use it directly in ``async for msg in client.async_subscribe(ns, pattern)`` (the SUB is sent
    on the first iteration), or ``sub = await client.async_subscribe(...)`` to have the SUB
    acknowledged (and errors raised) before iterating. ``async with`` unsubscribes on exit.
    """

    def __init__(self, client: "PulseMQClient", namespace: str, topic: str, snapshot: bool,
                 maxsize: int, callback: Optional[Callable] = None):
        self._client = client
        self.namespace = namespace
        self.topic = topic
        self._snapshot = snapshot
        self._maxsize = maxsize
        self._callback = callback
        self._local: Optional[_LocalSub] = None
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
        item = await self._local.queue.get()
        if item is _END:
            self._local.queue.put_nowait(_END)  # stay ended for later calls
            raise StopAsyncIteration
        if isinstance(item, BaseException):
            self._local.queue.put_nowait(item)
            raise item
        return item

    def get_nowait(self) -> Optional[PulseMessage]:
        """The next queued message, or None."""
        if self._local is None:
            return None
        try:
            item = self._local.queue.get_nowait()
        except asyncio.QueueEmpty:
            return None
        if item is _END or isinstance(item, BaseException):
            self._local.queue.put_nowait(item)
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


class PulseMQClient:
    """PulseMQ client (protocol 6; NO_ACK bursts travel in batch frames, acknowledged publishes
    are confirmed by the broker's cumulative ACKs).

    Async API: ``async_connect``, ``async_publish``, ``async_subscribe``, ``async_unsubscribe``,
    ``async_query_namespaces``, ``async_query_topics``, ``async_query_permission``,
    ``async_flush``, ``async_close``. Sync API (thread-safe, runs the async core on a private
    event-loop thread): ``subscribe(ns, topic, callback)`` and ``publish(...)`` — both usable
    before ``run()`` (registered, then performed by ``run()``) and after it started (from any
    thread) — plus ``run()``, ``start()``, ``stop()``, ``connect()``, ``query_*()``, ``close()``.
    """

    def __init__(
        self,
        host: str = "localhost",
        pub_port: int = 5555,
        sub_port: int = 5556,
        username: str = "",
        token: str = "",
        reconnect: bool = True,
        *,
        max_reconnect_attempts: int = 10,
        reconnect_delay: float = 1.0,
        reconnect_max_delay: float = 30.0,
        connect_timeout: float = 10.0,
        request_timeout: float = 30.0,
        ping_interval: Optional[float] = None,
        ping_timeout: float = 3.0,
        queue_size: int = 10_000,
        on_gap: Optional[Callable[[GapEvent], Any]] = None,
        on_drop: Optional[Callable[[PulseMessage], Any]] = None,
        on_reconnect: Optional[Callable[[], Any]] = None,
        on_error: Optional[Callable[[PulseMQError], Any]] = None,
    ):
        self.host = host
        self.pub_port = int(pub_port)
        self.sub_port = int(sub_port)
        self.username = username or ""
        self.token = token or ""
        self.reconnect = reconnect
        self.max_reconnect_attempts = max_reconnect_attempts
        self.reconnect_delay = reconnect_delay
        self.reconnect_max_delay = reconnect_max_delay
        self.connect_timeout = connect_timeout
        self.request_timeout = request_timeout
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.queue_size = queue_size
        self._on_gap = on_gap
        self._on_drop = on_drop
        self._on_reconnect = on_reconnect
        self._on_error = on_error

        self.stats = ClientStats()
        self.user_id: Optional[int] = None
        self.session: Optional[str] = None
        self.broker_ping_interval: Optional[float] = None
        self.last_error: Optional[PulseMQError] = None
        self.gap_events: Deque[GapEvent] = collections.deque(maxlen=1000)

        self._cmd_id = _routing_id()
        self._del_id = _routing_id()
        self._rids = itertools.count(1)
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._ctx: Optional[zmq.asyncio.Context] = None
        self._cmd: Optional[zmq.asyncio.Socket] = None
        self._del: Optional[zmq.asyncio.Socket] = None
        self._pending: Dict[int, asyncio.Future] = {}
        # Acknowledged publishes in the order they were sent: a cumulative ACK confirms every
        # one up to its request id.
        self._pub_order: Deque[int] = collections.deque()
        # NO_ACK publishes not yet handed to the socket (one batch frame per flush).
        self._outq: List[bytes] = []
        self._outq_bytes = 0
        # (namespace, topic) pairs already checked by validate_* (bounded).
        self._valid_names: set = set()
        self._noack: "collections.OrderedDict[int, Tuple[str, str]]" = collections.OrderedDict()
        self._subs: Dict[str, List[_LocalSub]] = {}
        self._last_seq: Dict[Tuple[str, str], int] = {}
        self._tasks: List[asyncio.Task] = []
        self._resync_task: Optional[asyncio.Task] = None
        self._ready: Optional[asyncio.Event] = None
        self._connected = False
        self._closed = False
        self._fatal: Optional[PulseMQError] = None

        # sync mode
        self._thread_loop: Optional[asyncio.AbstractEventLoop] = None
        self._thread: Optional[threading.Thread] = None
        self._cb_queue: "_queue.Queue" = _queue.Queue(maxsize=queue_size)
        self._cb_thread: Optional[threading.Thread] = None
        self._sync_lock = threading.Lock()
        self._registered_subs: List[Tuple[str, str, Callable, bool]] = []
        self._registered_pubs: List[Tuple[tuple, dict]] = []
        self._running = False
        self._stop_event = threading.Event()

    # ========================================================================================
    # properties
    # ========================================================================================
    @property
    def is_connected(self) -> bool:
        """Authenticated and attached right now."""
        return bool(self._connected and not self._closed and self._ready is not None and self._ready.is_set())

    @property
    def subscriptions(self) -> List[Tuple[str, str]]:
        """``(namespace, pattern)`` of the active subscriptions."""
        return sorted({s.key for subs in self._subs.values() for s in subs if s.active})

    def __repr__(self) -> str:
        return (f"PulseMQClient({self.host!r}, {self.pub_port}, {self.sub_port}, username={self.username!r}, "
                f"connected={self.is_connected})")

    # ========================================================================================
    # connection
    # ========================================================================================
    async def async_connect(self) -> "PulseMQClient":
        """Connects both sockets, authenticates and attaches. Raises AuthFailedError on bad
        credentials, PulseMQTimeoutError when the broker does not answer within connect_timeout."""
        if self._closed:
            raise ConnectionLostError("this client was closed; create a new one")
        if self._connected:
            return self
        loop = asyncio.get_running_loop()
        if self._loop is not None and self._loop is not loop:
            raise RuntimeError("this client is bound to another event loop")
        self._loop = loop
        self._ready = asyncio.Event()
        self._ctx = zmq.asyncio.Context()
        self._cmd = self._socket(self._cmd_id, self.pub_port)
        self._del = self._socket(self._del_id, self.sub_port)
        self._del.setsockopt(zmq.RCVHWM, 100_000)
        self._tasks = [
            asyncio.ensure_future(self._read_loop(self._cmd, "command")),
            asyncio.ensure_future(self._read_loop(self._del, "delivery")),
            asyncio.ensure_future(self._monitor_loop(self._cmd, "command")),
            asyncio.ensure_future(self._monitor_loop(self._del, "delivery")),
        ]
        self._connected = True
        try:
            await self._handshake(self.connect_timeout, initial=True)
        except BaseException:
            self._connected = False
            await self._teardown()
            raise
        self._ready.set()
        self._tasks.append(asyncio.ensure_future(self._heartbeat_loop()))
        log.info("connected to %s:%s/%s as %s", self.host, self.pub_port, self.sub_port, self.username)
        return self

    def _socket(self, identity: bytes, port: int) -> zmq.asyncio.Socket:
        s = self._ctx.socket(zmq.DEALER)
        s.setsockopt(zmq.ROUTING_ID, identity)
        s.setsockopt(zmq.LINGER, 0)
        s.setsockopt(zmq.RECONNECT_IVL, 100)
        s.setsockopt(zmq.RECONNECT_IVL_MAX, 1000)
        s.setsockopt(zmq.MAXMSGSIZE, MAX_LIMIT + (1 << 20))
        for opt, val in (("HEARTBEAT_IVL", 1000), ("HEARTBEAT_TIMEOUT", 3000), ("HEARTBEAT_TTL", 6000)):
            if hasattr(zmq, opt):
                s.setsockopt(getattr(zmq, opt), val)
        s.connect(f"tcp://{self.host}:{port}")
        return s

    async def _handshake(self, timeout: float, initial: bool = False) -> None:
        """AUTH, ATTACH, then SUB for every local subscription."""
        self._pub_order.clear()  # the old session's order means nothing to the new one
        body = json.dumps({"username": self.username, "token": self.token}).encode()
        ack = await self._raw_request(self._cmd, MsgType.AUTH, payload=body, timeout=timeout)
        self.user_id = ack.get("user_id")
        self.session = ack.get("session")
        if ack.get("ping_interval"):
            self.broker_ping_interval = float(ack["ping_interval"])
        if not self.session:
            raise ProtocolError(f"AUTH_OK without a session (a protocol-4 broker?): {ack}")
        attach = json.dumps({"session": self.session, "token": self.token}).encode()
        await self._raw_request(self._del, MsgType.ATTACH, payload=attach, timeout=timeout)
        keys: Dict[Tuple[str, str], bool] = {}
        for subs in self._subs.values():
            for s in subs:
                if s.active:
                    keys[s.key] = keys.get(s.key, False) or s.snapshot
        for (ns, pattern), snap in keys.items():
            try:
                await self._raw_request(self._cmd, MsgType.SUB, ns, pattern,
                                        payload=b'{"snapshot":true}' if snap else b"", timeout=timeout)
            except (PulseMQTimeoutError, NotAuthenticatedError):
                raise
            except PulseMQError as e:  # e.g. a role revoked while we were away
                log.warning("re-subscribing %s:%s failed: %s", ns, pattern, e)
                for s in list(self._subs.get(ns, [])):
                    if s.key == (ns, pattern):
                        self._detach_local(s)
                        s.end(e)

    async def async_close(self) -> None:
        """Says BYE (ends the session and its subscriptions at once) and closes the sockets."""
        if self._closed:
            return
        self._closed = True
        if self._resync_task is not None:
            self._resync_task.cancel()
        if self._connected and self._ready is not None and self._ready.is_set():
            try:
                await self._raw_request(self._cmd, MsgType.BYE, timeout=1.0)
            except (PulseMQError, zmq.ZMQError, asyncio.CancelledError):
                pass
        for subs in self._subs.values():
            for s in subs:
                s.end()
        self._subs.clear()
        await self._teardown()
        self._connected = False
        self._stop_event.set()

    async def _teardown(self) -> None:
        for fut in self._pending.values():
            if not fut.done():
                fut.set_exception(ConnectionLostError("client closed"))
        self._pending.clear()
        current = asyncio.current_task()
        for t in self._tasks:
            if t is not current:
                t.cancel()
        for t in self._tasks:
            if t is not current:
                try:
                    await t
                except BaseException:
                    pass
        self._tasks = []
        for s in (self._cmd, self._del):
            if s is not None:
                try:
                    s.disable_monitor()
                except zmq.ZMQError:
                    pass
                s.close(linger=0)
        self._cmd = self._del = None
        if self._ctx is not None:
            self._ctx.term()
            self._ctx = None

    async def __aenter__(self) -> "PulseMQClient":
        return await self.async_connect()

    async def __aexit__(self, *exc) -> None:
        await self.async_close()

    # ========================================================================================
    # requests
    # ========================================================================================
    def _next_rid(self) -> int:
        while True:
            rid = next(self._rids) & 0xFFFFFFFF
            if rid and rid not in self._pending:
                return rid

    async def _raw_request(self, sock, msg_type: int, namespace: str = "", topic: str = "",
                           payload: bytes = b"", *, fmt: int = Format.BYTES, flags: int = 0,
                           timeout: Optional[float] = None) -> Any:
        """Sends one request and waits for the reply with its request_id. Returns the ACK body
        (a dict), or None for PONG; raises the mapped exception for ERROR."""
        if sock is None:
            raise ConnectionLostError("not connected")
        rid = self._next_rid()
        fut = self._loop.create_future()
        self._pending[rid] = fut
        timeout = self.request_timeout if timeout is None else timeout
        try:
            frame = encode_v6(msg_type, namespace, topic, payload, fmt=fmt, flags=flags, request_id=rid)
            if sock is self._cmd:
                # Queued NO_ACK publishes go first: the broker answers in the order it receives.
                self._flush_outq()
                if msg_type == MsgType.PUB:
                    self._pub_order.append(rid)
            try:
                reply: Frames = await asyncio.wait_for(self._send_and_wait(sock, frame, fut), timeout)
            except asyncio.TimeoutError:
                raise PulseMQTimeoutError(
                    f"no reply to {MsgType(msg_type).name} within {timeout:g} s "
                    f"(broker at {self.host}:{self.pub_port}/{self.sub_port})") from None
        finally:
            self._pending.pop(rid, None)
        t = reply.header.msg_type
        if t == MsgType.ACK and reply.header.flags & FLAG_CUMULATIVE:
            seq = cumulative_ack_seq(reply.payload) if reply.header.request_id == rid else None
            return {"status": "PUB_OK", "seq": seq}
        if t == MsgType.ACK:
            try:
                return json.loads(reply.payload) if reply.payload else {}
            except ValueError as e:
                raise ProtocolError(f"ACK payload is not JSON: {e}") from e
        if t == MsgType.ERROR:
            raise self._error_of(reply)
        return None

    @staticmethod
    async def _send_and_wait(sock, frame, fut):
        await sock.send(frame, copy=False)
        return await fut

    def _flush_outq(self) -> Optional[asyncio.Future]:
        """Hands the queued NO_ACK publishes to the command socket as one frame (a batch when
        there are several). Returns the send's future (done unless the socket is full)."""
        frames, self._outq, self._outq_bytes = self._outq, [], 0
        if not frames or self._cmd is None:
            return None
        fut = self._cmd.send(encode_batch(frames), copy=False)
        fut.add_done_callback(_log_send_failure)
        return fut

    def _on_cumulative_ack(self, ack: Frames) -> None:
        """Every acknowledged publish sent up to ``ack``'s request id succeeded."""
        upto = ack.header.request_id
        if upto not in self._pub_order:
            fut = self._pending.get(upto)
            if fut is not None and not fut.done():
                fut.set_result(ack)
            return
        while self._pub_order:
            rid = self._pub_order.popleft()
            fut = self._pending.get(rid)
            if fut is not None and not fut.done():
                fut.set_result(ack)
            if rid == upto:
                return

    @staticmethod
    def _error_of(reply: Frames) -> PulseMQError:
        try:
            body = json.loads(reply.payload)
            return error_from_code(int(body.get("error_code", 255)), str(body.get("error_message", "")))
        except (ValueError, AttributeError, TypeError):
            return ProtocolError(f"undecodable ERROR payload {reply.payload[:200]!r}")

    async def _wait_ready(self, timeout: float) -> None:
        if self._fatal is not None:
            raise self._fatal
        if self._closed:
            raise ConnectionLostError("client closed")
        if not self._connected:
            raise ConnectionLostError("not connected: call async_connect() first")
        if not self._ready.is_set():
            try:
                await asyncio.wait_for(self._ready.wait(), timeout)
            except asyncio.TimeoutError:
                raise PulseMQTimeoutError(f"still reconnecting after {timeout:g} s") from None
            if self._fatal is not None:
                raise self._fatal
            if self._closed:
                raise ConnectionLostError("client closed")

    async def _request(self, which: str, msg_type: int, namespace: str = "", topic: str = "",
                       payload: bytes = b"", *, fmt: int = Format.BYTES, flags: int = 0,
                       timeout: Optional[float] = None) -> Any:
        """A user request: waits while reconnecting, re-authenticates once on ERROR 2."""
        timeout = self.request_timeout if timeout is None else timeout
        if self._loop is None:
            await self._wait_ready(timeout)  # raises "not connected"
        deadline = self._loop.time() + timeout
        for attempt in (0, 1):
            await self._wait_ready(max(0.0, deadline - self._loop.time()))
            sock = self._cmd if which == "cmd" else self._del
            try:
                return await self._raw_request(sock, msg_type, namespace, topic, payload, fmt=fmt, flags=flags,
                                               timeout=max(0.001, deadline - self._loop.time()))
            except NotAuthenticatedError:
                if attempt or not self.reconnect:
                    raise
                self._trigger_resync("ERROR 2 (not authenticated)")

    # ========================================================================================
    # readers, heartbeat, monitors, resync
    # ========================================================================================
    async def _read_loop(self, sock, name: str) -> None:
        while True:
            try:
                parts = await sock.recv_multipart()
            except asyncio.CancelledError:
                raise
            except zmq.ZMQError as e:
                if self._closed or e.errno in (zmq.ETERM, zmq.ENOTSOCK):
                    return
                log.warning("%s socket receive failed: %s", name, e)
                await asyncio.sleep(0.1)
                continue
            try:
                self._on_frames(sock, name, parts)
            except Exception:
                log.exception("failed to handle a message on the %s socket", name)

    def _on_frames(self, sock, name: str, parts: List[bytes]) -> None:
        if len(parts) != 1:  # protocol 5 (not sent by this client's broker sessions)
            try:
                items: List = [decode_frames(parts)]
            except DecodeError as e:
                items = [e]
        else:
            items = decode_v6(parts[0])
        for f in items:
            if isinstance(f, DecodeError):
                log.warning("undecodable message on the %s socket: %s", name, f)
            else:
                self._on_frame(sock, name, f)

    def _on_frame(self, sock, name: str, f: Frames) -> None:
        t = f.header.msg_type
        if t == MsgType.MSG:
            self._on_msg(f)
            return
        if t == MsgType.PING:
            asyncio.ensure_future(sock.send(encode_v6(MsgType.PONG, request_id=f.header.request_id)))
            return
        if t == MsgType.ACK and f.header.flags & FLAG_CUMULATIVE:
            self._on_cumulative_ack(f)
            return
        rid = f.header.request_id
        fut = self._pending.get(rid)
        if fut is not None and not fut.done():
            fut.set_result(f)
            return
        if t == MsgType.ERROR:
            where = self._noack.pop(rid, None)
            err = self._error_of(f)
            if where is not None:
                self._async_error(err, where)
                return
            if err.code == 2 and self.reconnect:
                self._trigger_resync("unsolicited ERROR 2")
            log.debug("unpaired ERROR on the %s socket: %s", name, err)
            return
        log.debug("unpaired %s (request %s) on the %s socket", t.name, rid, name)

    def _async_error(self, err: PulseMQError, where: Tuple[str, str]) -> None:
        self.stats.async_errors += 1
        self.last_error = err
        log.warning("NO_ACK publish to %s:%s failed: %s", where[0], where[1], err)
        if self._on_error is not None:
            try:
                self._on_error(err)
            except Exception:
                log.exception("on_error callback failed")
        if err.code == 2 and self.reconnect:
            self._trigger_resync("ERROR 2 on a NO_ACK publish")

    def _on_msg(self, f: Frames) -> None:
        ext = f.ext
        if ext is None:
            try:
                ext = Ext.decode(f.reserved)
            except DecodeError:
                ext = Ext(0, 0)
        msg = PulseMessage(f.namespace, f.topic, f.username, f.header.format, f.header.flags,
                           f.header.timestamp_ms, f.payload, ext.seq, ext.broker_time_us)
        self.stats.received += 1
        snapshot = bool(f.header.flags & FLAG_SNAPSHOT)
        if ext.seq and not snapshot:
            key = (f.namespace, f.topic)
            last = self._last_seq.get(key)
            if last is not None and ext.seq > last + 1:
                self._gap(GapEvent(f.namespace, f.topic, last + 1, ext.seq - 1))
            # seq <= last: the broker restarted (sequences start again at 1) or a duplicate
            self._last_seq[key] = ext.seq
        elif ext.seq and snapshot:
            key = (f.namespace, f.topic)
            if ext.seq > self._last_seq.get(key, 0):
                self._last_seq[key] = ext.seq
        for s in self._subs.get(f.namespace, ()):
            if s.active and s.pattern.matches(f.topic) and (s.snapshot or not snapshot):
                s.deliver(msg)

    def _gap(self, ev: GapEvent) -> None:
        self.stats.gaps += 1
        self.stats.missed += ev.missed
        self.gap_events.append(ev)
        log.warning("sequence gap on %s:%s: %d message(s) missed (%d..%d)", ev.namespace, ev.topic, ev.missed,
                    ev.first_missing, ev.last_missing)
        if self._on_gap is not None:
            try:
                self._on_gap(ev)
            except Exception:
                log.exception("on_gap callback failed")

    async def _heartbeat_loop(self) -> None:
        while not self._closed:
            interval = self.ping_interval or self.broker_ping_interval or 30.0
            if self.broker_ping_interval:
                interval = min(interval, self.broker_ping_interval)
            slept_from = self._loop.time()
            await asyncio.sleep(interval)
            if self._closed or self._ready is None or not self._ready.is_set():
                continue
            if self._loop.time() - slept_from > 2 * interval + 1.0:
                # the event loop was blocked long enough for the broker to expire the session,
                # and a PING to an expired session still gets a PONG: start a new session now
                self._connection_problem("event loop stalled past the session timeout")
                continue
            try:
                await asyncio.gather(
                    self._raw_request(self._cmd, MsgType.PING, timeout=self.ping_timeout),
                    self._raw_request(self._del, MsgType.PING, timeout=self.ping_timeout),
                )
            except asyncio.CancelledError:
                raise
            except PulseMQTimeoutError:
                log.warning("no PONG within %.1f s", self.ping_timeout)
                self._connection_problem("no PONG within ping_timeout")
            except PulseMQError as e:
                log.warning("heartbeat failed: %s", e)
            except zmq.ZMQError as e:
                if self._closed:
                    return
                log.warning("heartbeat failed: %s", e)

    async def _monitor_loop(self, sock, name: str) -> None:
        events = zmq.EVENT_DISCONNECTED | zmq.EVENT_HANDSHAKE_SUCCEEDED
        msock = sock.get_monitor_socket(events)
        lost = False
        try:
            while True:
                frames = await msock.recv_multipart()
                ev = parse_monitor_message(frames)["event"]
                if ev == zmq.EVENT_DISCONNECTED:
                    if not lost:
                        log.info("%s socket disconnected", name)
                    lost = True
                    if not self.reconnect:
                        self._connection_problem(f"{name} socket disconnected")
                elif ev == zmq.EVENT_HANDSHAKE_SUCCEEDED and lost:
                    lost = False
                    log.info("%s socket reconnected", name)
                    self._connection_problem(f"{name} socket reconnected")
        except asyncio.CancelledError:
            raise
        except zmq.ZMQError:
            return
        finally:
            msock.close(linger=0)

    def _connection_problem(self, reason: str) -> None:
        if self._closed or not self._connected:
            return
        if self.reconnect:
            self._trigger_resync(reason)
        else:
            self._fail(ConnectionLostError(f"connection lost ({reason}) and reconnect=False"))

    def _trigger_resync(self, reason: str) -> None:
        if self._closed or not self._connected or self._fatal is not None:
            return
        if self._resync_task is not None and not self._resync_task.done():
            return
        log.info("re-establishing the session: %s", reason)
        self._ready.clear()
        self._resync_task = asyncio.ensure_future(self._resync_loop())

    async def _resync_loop(self) -> None:
        delay = self.reconnect_delay
        last: Optional[BaseException] = None
        for attempt in range(1, self.max_reconnect_attempts + 1):
            if self._closed:
                return
            try:
                await self._handshake(self.connect_timeout)
            except asyncio.CancelledError:
                raise
            except AuthFailedError as e:
                if type(e) is AuthFailedError:  # credentials refused: retrying cannot help
                    self._fail(e)
                    return
                last = e
            except (PulseMQError, zmq.ZMQError, OSError) as e:
                last = e
            else:
                self.stats.reconnects += 1
                self._ready.set()
                log.info("session re-established (attempt %d)", attempt)
                if self._on_reconnect is not None:
                    try:
                        r = self._on_reconnect()
                        if inspect.isawaitable(r):
                            await r
                    except Exception:
                        log.exception("on_reconnect callback failed")
                return
            log.warning("reconnect attempt %d/%d failed: %s; next in %.0f s", attempt,
                        self.max_reconnect_attempts, last, delay)
            if attempt < self.max_reconnect_attempts:
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.reconnect_max_delay)
        err = ConnectionLostError(f"reconnect failed after {self.max_reconnect_attempts} attempts: {last}")
        err.__cause__ = last
        self._fail(err)

    def _fail(self, err: PulseMQError) -> None:
        """Fatal: every waiter and every subscription sees ``err``."""
        if self._fatal is not None:
            return
        self._fatal = err
        self.last_error = err
        log.error("client failed: %s", err)
        for fut in self._pending.values():
            if not fut.done():
                fut.set_exception(err)
        for subs in self._subs.values():
            for s in subs:
                s.end(err)
        if self._ready is not None:
            self._ready.set()  # wake waiters, they check _fatal
        self._stop_event.set()

    # ========================================================================================
    # publish
    # ========================================================================================
    async def async_publish(self, namespace: str, topic: str, data: Any, format: Union[str, int, Format, None] = None,
                            compress: Union[str, Compression, None] = None, *, ack: bool = True,
                            timeout: Optional[float] = None) -> Optional[int]:
        """Publishes ``data`` to ``namespace``/``topic``.

        ``format``: ``"bytes"``, ``"string"``, ``"df_msgpack"``, ``"df_pyarrow"`` (alias
        ``"df_arrow"``), or None to infer it from ``data``. ``compress``: None, ``"zlib"``,
        ``"lz4"`` or ``"zstd"``. With ``ack=True`` (default) waits for the broker's confirmation
        and returns the topic sequence number the message got — when the broker's cumulative
        ACK names this publish, which it always does for one publish at a time; publishes
        pipelined from several tasks or threads may get None (they are confirmed all the same).
        ``ack=False`` sends NO_ACK and returns None at once (failures go to ``on_error`` /
        ``last_error`` and are raised by :meth:`async_flush`).
        """
        if (namespace, topic) not in self._valid_names:
            validate_namespace(namespace)
            validate_topic(topic)
            if len(self._valid_names) >= 10_000:
                self._valid_names.clear()
            self._valid_names.add((namespace, topic))
        fmt = codec.infer_format(data) if format is None else Format.parse(format)
        algo = Compression.parse(compress)
        if fmt == Format.DF_ARROW and not isinstance(data, (bytes, bytearray)):
            payload, flags = await self._encode_maybe_offloaded(data, fmt, algo)
        else:
            payload, flags = codec.prepare_payload(data, fmt, algo)
        if ack:
            reply = await self._request("cmd", MsgType.PUB, namespace, topic, payload, fmt=fmt, flags=flags,
                                        timeout=timeout)
            self.stats.published += 1
            return reply.get("seq") if isinstance(reply, dict) else None
        await self._wait_ready(self.request_timeout if timeout is None else timeout)
        rid = self._next_rid()
        self._noack[rid] = (namespace, topic)
        while len(self._noack) > 100_000:
            self._noack.popitem(last=False)
        frame = encode_v6(MsgType.PUB, namespace, topic, payload, fmt=fmt, flags=flags | FLAG_NO_ACK,
                          request_id=rid)
        self._outq.append(frame)
        self._outq_bytes += len(frame)
        self.stats.published += 1
        if len(self._outq) == 1:
            # A lone publish leaves as soon as the loop runs again; a burst that never
            # yields fills a batch, which is sent below.
            self._loop.call_soon(self._flush_outq)
        if self._outq_bytes >= _BATCH_MAX_BYTES:
            fut = self._flush_outq()
            if fut is not None and not fut.done():
                await fut  # the socket is full: back-pressure reaches the publisher
            else:
                await asyncio.sleep(0)  # let the other tasks (a subscriber in this loop) run
        return None

    async def _encode_maybe_offloaded(self, data, fmt, algo):
        """Large DataFrames are encoded on a worker thread so heartbeats keep flowing."""
        rows = getattr(data, "shape", (0,))[0] if hasattr(data, "shape") else getattr(data, "num_rows", 0)
        if rows and rows >= 10_000:
            return await self._loop.run_in_executor(None, codec.prepare_payload, data, fmt, algo)
        return codec.prepare_payload(data, fmt, algo)

    async def async_flush(self, timeout: Optional[float] = None) -> None:
        """Waits until the broker processed everything sent so far (a PING round trip: replies
        are in order); raises the last NO_ACK publish error seen, if any, and clears it."""
        await self._request("cmd", MsgType.PING, timeout=timeout)
        err, self.last_error = self.last_error, None
        if err is not None and self.stats.async_errors:
            raise err

    # ========================================================================================
    # subscribe
    # ========================================================================================
    def async_subscribe(self, namespace: str, topic: str, *, snapshot: bool = False,
                        queue_size: Optional[int] = None, callback: Optional[Callable] = None) -> Subscription:
        """Subscribes to ``topic`` (a pattern: ``*`` one level, ``>`` one or more, last only).

        Returns a :class:`Subscription`: iterate it with ``async for`` (the SUB is sent on the
        first iteration) or ``await`` it first. ``snapshot=True`` replays the last value of every
        matching topic first. ``callback`` (sync or async function) consumes the messages in a
        task instead of iteration."""
        validate_namespace(namespace)
        Pattern(topic)
        sub = Subscription(self, namespace, topic, snapshot, queue_size or self.queue_size, callback)
        if callback is not None:
            # callback subscriptions start at once (inside a running loop)
            sub._task = asyncio.ensure_future(sub._start())
        return sub

    async def _add_sub(self, namespace: str, topic: str, snapshot: bool, maxsize: int,
                       callback: Optional[Callable] = None, threaded: bool = False) -> _LocalSub:
        pattern = Pattern(topic)
        local = _LocalSub(self, namespace, pattern, snapshot, maxsize, callback, threaded)
        # registered before the SUB goes out: nothing delivered after the ACK can be missed
        self._subs.setdefault(namespace, []).append(local)
        try:
            await self._request("cmd", MsgType.SUB, namespace, topic,
                                b'{"snapshot":true}' if snapshot else b"")
        except BaseException:
            self._detach_local(local)
            local.active = False
            raise
        return local

    def _detach_local(self, local: _LocalSub) -> None:
        subs = self._subs.get(local.namespace)
        if subs and local in subs:
            subs.remove(local)
            if not subs:
                del self._subs[local.namespace]
        # forget sequence tracking for topics no remaining subscription covers
        remaining = self._subs.get(local.namespace, [])
        for key in [k for k in self._last_seq if k[0] == local.namespace]:
            if local.pattern.matches(key[1]) and not any(s.pattern.matches(key[1]) for s in remaining):
                del self._last_seq[key]

    async def _remove_sub(self, local: _LocalSub) -> None:
        if local not in self._subs.get(local.namespace, []):
            local.end()
            return
        self._detach_local(local)
        local.end()
        still_needed = any(s.key == local.key for s in self._subs.get(local.namespace, []))
        if not still_needed and self.is_connected:
            try:
                await self._request("cmd", MsgType.UNSUB, local.namespace, local.pattern.text, timeout=5.0)
            except PulseMQError as e:
                log.debug("UNSUB %s:%s failed: %s", local.namespace, local.pattern.text, e)

    async def async_unsubscribe(self, namespace: str, topic: str) -> None:
        """Ends every local subscription to exactly (``namespace``, ``topic``) and sends UNSUB."""
        for s in [s for s in self._subs.get(namespace, []) if s.pattern.text == topic]:
            await self._remove_sub(s)

    async def async_unsubscribe_all(self) -> None:
        for subs in list(self._subs.values()):
            for s in list(subs):
                await self._remove_sub(s)

    # ========================================================================================
    # queries
    # ========================================================================================
    async def _query(self, body: dict, timeout: Optional[float] = None) -> Any:
        reply = await self._request("cmd", MsgType.QUERY, payload=json.dumps(body).encode(), fmt=Format.STRING,
                                    timeout=timeout)
        return reply.get("data")

    async def async_query_namespaces(self) -> List[dict]:
        """Namespaces this user may see: ``[{"name", "topics": [...], "topic_count"}]``."""
        return await self._query({"type": "namespaces"})

    async def async_query_topics(self, namespace: str) -> List[str]:
        """Topics known in ``namespace`` (sorted)."""
        return await self._query({"type": "topics", "namespace": namespace})

    async def async_query_permission(self) -> dict:
        """``{"type": user_type, "namespaces": {ns: "SUB" | "PUB" | "ADMIN"}}``."""
        return await self._query({"type": "permission"})

    # ========================================================================================
    # sync mode
    # ========================================================================================
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

    def connect(self) -> "PulseMQClient":
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

    def start(self) -> "PulseMQClient":
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

    def __enter__(self) -> "PulseMQClient":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()
