"""The session half of :class:`pulse_mq.PulseMQClient`: sockets, AUTH / ATTACH / re-SUB, the
heartbeat, socket monitors, and re-establishing a lost session with back-off.

A mixin: it works on the client's own state (set up in ``PulseMQClient.__init__``) and uses its
request layer (``_raw_request``, ``_read_loop``, ``_detach_local``).
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
from typing import Dict, Optional, Tuple, TypeVar

import zmq
import zmq.asyncio
from zmq.utils.monitor import parse_monitor_message

from .errors import (
    AuthFailedError,
    ConnectionLostError,
    NotAuthenticatedError,
    ProtocolError,
    PulseMQError,
    PulseMQTimeoutError,
)
from .protocol import MAX_LIMIT, MsgType

log = logging.getLogger("pulse_mq")

_C = TypeVar("_C", bound="SessionMixin")


class SessionMixin:
    async def async_connect(self: _C) -> _C:
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
        self._routes.clear()
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

    async def __aenter__(self: _C) -> _C:
        return await self.async_connect()

    async def __aexit__(self, *exc) -> None:
        await self.async_close()


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
