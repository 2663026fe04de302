"""The PulseMQ client: asyncio core on ``zmq.asyncio`` plus a thread-safe synchronous mode.

Layout (design.md §3): a command DEALER (→ broker ROUTER on ``pub_port``) and a delivery
DEALER (→ ROUTER on ``sub_port``), each with a random 16-byte routing id kept for the client's
life. One reader task per socket pairs replies to requests by ``request_id``, so any number of
requests can be in flight; MSG deliveries are dispatched to every local subscription whose pattern
matches, through a bounded queue per subscription (a slow consumer loses messages, counted, and
never stalls the reader or the heartbeat). A heartbeat task PINGs both sockets; socket monitors,
ERROR 2 and missing PONGs trigger re-AUTH / re-ATTACH / re-SUB with back-off.

This module is the request layer (pairing replies, batching NO_ACK publishes, dispatching
deliveries) and the async API; the session (connect, heartbeat, resync) is in ``_session``, the
sync API in ``_sync``, local subscriptions in ``subscription``, counters in ``stats``, and the
byte layout in ``protocol`` (no I/O there). No module imports one that imports it.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import json
import logging
import os
import queue as _queue
import threading
from typing import Any, Callable, Deque, Dict, List, Optional, Tuple, Union

import zmq
import zmq.asyncio

from . import codec
from .errors import (
    ConnectionLostError,
    NotAuthenticatedError,
    PulseMQError,
    PulseMQTimeoutError,
    ProtocolError,
    error_from_code,
)
from ._session import SessionMixin
from ._sync import SyncMixin
from .message import PulseMessage
from .protocol import (
    FLAG_CUMULATIVE,
    FLAG_NO_ACK,
    FLAG_SNAPSHOT,
    Compression,
    DecodeError,
    Ext,
    Format,
    Frames,
    MsgType,
    Pattern,
    cumulative_ack_seq,
    decode_frames,
    Delivery,
    decode_v6_items,
    encode_batch,
    encode_v6,
    encode_v6_publish,
    validate_namespace,
    validate_topic,
)
from .stats import ClientStats, GapEvent
from .subscription import LocalSub, Subscription

__all__ = ["PulseMQClient", "Subscription", "GapEvent", "ClientStats"]


def _log_send_failure(fut: "asyncio.Future") -> None:
    if not fut.cancelled() and fut.exception() is not None:
        log.warning("sending queued publishes failed: %s", fut.exception())

log = logging.getLogger("pulse_mq")

#: NO_ACK publishes queued in one event-loop turn leave as one protocol-6 batch frame, sent
#: when the loop next runs or, in a burst that does not yield, once this many bytes wait.
_BATCH_MAX_BYTES = 256 * 1024

#: ``format=`` strings already parsed (a publisher passes the same few over and over).
_FORMATS_SEEN: Dict[str, Format] = {}



def _routing_id() -> bytes:
    rid = bytearray(os.urandom(16))
    if rid[0] == 0:
        rid[0] = 1 + (rid[1] % 255)
    return bytes(rid)


class PulseMQClient(SessionMixin, SyncMixin):
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
        self._subs: Dict[str, List[LocalSub]] = {}
        # (namespace, topic) -> the local subscriptions matching it; cleared when _subs changes
        self._routes: Dict[Tuple[str, str], List[LocalSub]] = {}
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
            items = decode_v6_items(parts[0])
        for f in items:
            if type(f) is Delivery:
                self._on_delivery(f)
            elif isinstance(f, DecodeError):
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
        """A MSG decoded by the full decoder (protocol 5, or a v6 MSG the fast path left out)."""
        ext = f.ext
        if ext is None:
            try:
                ext = Ext.decode(f.reserved)
            except DecodeError:
                ext = Ext(0, 0)
        self._on_delivery(Delivery(f.namespace, f.topic, f.username, f.header.format, f.header.flags,
                                   f.header.timestamp_ms, f.payload, ext.seq, ext.broker_time_us))

    def _on_delivery(self, d: Delivery) -> None:
        """Gap tracking, then a copy of the message for every matching local subscription. Runs
        once per delivered message: the local subscriptions matching a topic are looked up once
        per (namespace, topic) and kept in ``_routes`` until the subscriptions change."""
        ns, topic, publisher, fmt, flags, ts, payload, seq, broker_time_us = d
        msg = PulseMessage(ns, topic, publisher, fmt, flags, ts, payload, seq, broker_time_us)
        self.stats.received += 1
        key = (ns, topic)
        snapshot = flags & FLAG_SNAPSHOT
        if seq:
            last = self._last_seq.get(key)
            if not snapshot:
                if last is not None and seq > last + 1:
                    self._gap(GapEvent(ns, topic, last + 1, seq - 1))
                # seq <= last: the broker restarted (sequences start again at 1) or a duplicate
                self._last_seq[key] = seq
            elif last is None or seq > last:
                self._last_seq[key] = seq
        route = self._routes.get(key)
        if route is None:
            route = self._route(ns, topic)
        for s in route:
            if s.active and (s.snapshot or not snapshot):
                s.deliver(msg)

    def _route(self, ns: str, topic: str) -> List[LocalSub]:
        """The local subscriptions whose pattern matches ``topic`` (cached, bounded)."""
        if len(self._routes) >= 10_000:
            self._routes.clear()
        route = [s for s in self._subs.get(ns, ()) if s.pattern.matches(topic)]
        self._routes[(ns, topic)] = route
        return route

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
        if format is None:
            fmt = codec.infer_format(data)
        else:
            fmt = _FORMATS_SEEN.get(format) if isinstance(format, str) else None
            if fmt is None:
                fmt = Format.parse(format)
                if isinstance(format, str) and len(_FORMATS_SEEN) < 64:
                    _FORMATS_SEEN[format] = fmt
        algo = None if compress is None else Compression.parse(compress)
        if fmt == Format.DF_ARROW and not isinstance(data, (bytes, bytearray)):
            payload, flags = await self._encode_maybe_offloaded(data, fmt, algo)
        else:
            payload, flags = codec.prepare_payload(data, fmt, algo)
        if ack:
            reply = await self._request("cmd", MsgType.PUB, namespace, topic, payload, fmt=fmt, flags=flags,
                                        timeout=timeout)
            self.stats.published += 1
            return reply.get("seq") if isinstance(reply, dict) else None
        ready = self._ready
        if self._fatal is not None or self._closed or not self._connected or ready is None or not ready.is_set():
            await self._wait_ready(self.request_timeout if timeout is None else timeout)
        rid = self._next_rid()
        self._noack[rid] = (namespace, topic)
        if len(self._noack) > 100_000:
            self._noack.popitem(last=False)
        frame = encode_v6_publish(namespace, topic, payload, fmt, flags | FLAG_NO_ACK, rid)
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
                       callback: Optional[Callable] = None, threaded: bool = False) -> LocalSub:
        pattern = Pattern(topic)
        local = LocalSub(self, namespace, pattern, snapshot, maxsize, callback, threaded)
        # registered before the SUB goes out: nothing delivered after the ACK can be missed
        self._subs.setdefault(namespace, []).append(local)
        self._routes.clear()
        try:
            await self._request("cmd", MsgType.SUB, namespace, topic,
                                b'{"snapshot":true}' if snapshot else b"")
        except BaseException:
            self._detach_local(local)
            local.active = False
            raise
        return local

    def _detach_local(self, local: LocalSub) -> None:
        subs = self._subs.get(local.namespace)
        if subs and local in subs:
            subs.remove(local)
            if not subs:
                del self._subs[local.namespace]
            self._routes.clear()
        # forget sequence tracking for topics no remaining subscription covers
        remaining = self._subs.get(local.namespace, [])
        for key in [k for k in self._last_seq if k[0] == local.namespace]:
            if local.pattern.matches(key[1]) and not any(s.pattern.matches(key[1]) for s in remaining):
                del self._last_seq[key]

    async def _remove_sub(self, local: LocalSub) -> None:
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
