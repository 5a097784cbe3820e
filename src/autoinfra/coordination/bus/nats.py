"""The bus over a real NATS server (``nats-py``), with JetStream for what must not be lost.

The runtime is synchronous and ticks; nats-py is asyncio. So the client lives on its own event
loop in a daemon thread, and the :class:`~autoinfra.coordination.bus.base.Bus` methods hand work to
it with ``run_coroutine_threadsafe`` and wait, with a timeout, for the result. Messages for a
subscription collect in a thread-safe queue that ``drain()`` empties at the subscriber's tick.

- Plain publishes (findings) are NATS core: at most once, the fastest path.
- ``durable=True`` publishes (proposals, votes, outcomes) go to one JetStream stream that holds
  every ``autoinfra.>`` subject on file storage, and wait for the server's acknowledgement; a
  durable subscription is a named pull consumer, so a receiver that restarts resumes where it
  acknowledged and nothing is lost. Delivery is at least once: receivers deduplicate by id.
- An unreachable server is a :class:`BusUnavailable` naming the URL, raised at connect and at
  publish after the client's own reconnect attempts and our timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

import nats
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import StorageType, StreamConfig

from autoinfra.coordination.bus.subjects import PREFIX
from autoinfra.core.errors import AutoinfraError

__all__ = ["STREAM", "BusUnavailable", "NatsBus"]

STREAM = "AUTOINFRA"
_log = logging.getLogger(__name__)
T = TypeVar("T")


class BusUnavailable(AutoinfraError):
    """The NATS server did not answer in time (the message names it)."""


class _NatsSubscription:
    def __init__(self, bus: NatsBus) -> None:
        self._bus = bus
        self._queue: queue.Queue[bytes] = queue.Queue()
        self._sub: Any = None
        self._pull: JetStreamContext.PullSubscription | None = None
        self._unacked: list[Msg] = []

    async def on_message(self, msg: Msg) -> None:
        self._queue.put(msg.data)

    def drain(self, max_messages: int = 1000, timeout_s: float = 0.0) -> list[bytes]:
        if self._pull is not None:
            return self._bus._call(self._fetch(max_messages, timeout_s))
        out: list[bytes] = []
        try:
            if timeout_s > 0:
                out.append(self._queue.get(timeout=timeout_s))
            while len(out) < max_messages:
                out.append(self._queue.get_nowait())
        except queue.Empty:
            pass
        return out

    async def _fetch(self, max_messages: int, timeout_s: float) -> list[bytes]:
        assert self._pull is not None
        await self._ack_previous()
        try:
            msgs = await self._pull.fetch(max_messages, timeout=max(timeout_s, 0.05))
        except nats.errors.TimeoutError:
            return []
        self._unacked = msgs
        return [m.data for m in msgs]

    async def _ack_previous(self) -> None:
        # a batch is acknowledged when the subscriber asks for the next one: by then it has
        # handled it, so one that dies mid-batch gets the batch again (at least once)
        batch, self._unacked = self._unacked, []
        for msg in batch:
            await msg.ack()

    def close(self) -> None:
        if not self._bus.connected:
            return
        if self._pull is not None:
            self._bus._call(self._ack_previous())
        target = self._pull if self._pull is not None else self._sub
        if target is not None:
            self._bus._call(target.unsubscribe())


class NatsBus:
    """A :class:`Bus` over the NATS server at ``url`` (for example ``nats://127.0.0.1:4222``)."""

    def __init__(self, url: str, *, name: str = "autoinfra", timeout_s: float = 5.0) -> None:
        self.url = url
        self.timeout_s = timeout_s
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True, name=name)
        self._thread.start()
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None
        try:
            self._nc = self._call(
                nats.connect(
                    servers=[url],
                    name=name,
                    connect_timeout=min(timeout_s, 2.0),
                    max_reconnect_attempts=2,  # a first connect that fails says so quickly
                    reconnect_time_wait=0.2,
                    allow_reconnect=True,
                    error_cb=self._on_error,
                )
            )
            # once connected, ride out a server restart however long it takes: nats-py reads this
            # option on every reconnect, and has no separate setting for the first connect
            self._nc.options["max_reconnect_attempts"] = -1
            self._js = self._nc.jetstream(timeout=timeout_s)
            self._call(self._ensure_stream())
        except BusUnavailable:
            self._stop_loop()
            raise
        except Exception as exc:  # nats raises several unrelated types for "cannot connect"
            self._stop_loop()
            raise BusUnavailable(
                f"NATS at {url} is not reachable: {exc or type(exc).__name__}"
            ) from None

    async def _on_error(self, exc: Exception) -> None:
        # nats-py's default prints a traceback per failed attempt; one log line says enough
        _log.warning("NATS %s: %s", self.url, exc or type(exc).__name__)

    @property
    def connected(self) -> bool:
        return self._nc is not None and self._nc.is_connected

    async def _ensure_stream(self) -> None:
        assert self._js is not None
        config = StreamConfig(name=STREAM, subjects=[f"{PREFIX}.>"], storage=StorageType.FILE)
        try:
            await self._js.stream_info(STREAM)
        except nats.js.errors.NotFoundError:
            await self._js.add_stream(config)

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result(timeout=self.timeout_s + 1.0)
        except TimeoutError:
            future.cancel()
            raise BusUnavailable(
                f"NATS at {self.url} did not answer in {self.timeout_s} s"
            ) from None

    def publish(self, subject: str, payload: bytes, *, durable: bool = False) -> None:
        assert self._nc is not None and self._js is not None
        try:
            if durable:
                self._call(self._js.publish(subject, payload, timeout=self.timeout_s))
            else:
                self._call(self._nc.publish(subject, payload))
        except BusUnavailable:
            raise
        except Exception as exc:
            raise BusUnavailable(f"publish to {subject} on {self.url} failed: {exc}") from None

    def subscribe(self, pattern: str, *, durable_name: str | None = None) -> _NatsSubscription:
        assert self._nc is not None and self._js is not None
        sub = _NatsSubscription(self)
        if durable_name is not None:
            sub._pull = self._call(self._js.pull_subscribe(pattern, durable=durable_name))
        else:
            sub._sub = self._call(self._nc.subscribe(pattern, cb=sub.on_message))
            self._call(self._nc.flush())  # the server knows the subscription before we return
        return sub

    def flush(self) -> None:
        assert self._nc is not None
        self._call(self._nc.flush())

    def close(self) -> None:
        if self._nc is not None and not self._nc.is_closed:
            # closing a connection to a dead server is not an error; drain (flush what we
            # published, finish what we received) when we can, and close in any case
            with contextlib.suppress(Exception):
                if self._nc.is_connected:
                    self._call(self._nc.drain())
            with contextlib.suppress(Exception):
                if not self._nc.is_closed:
                    self._call(self._nc.close())
        self._stop_loop()

    def _stop_loop(self) -> None:
        if self._loop.is_closed():
            return
        # cancel what the client left running (reconnect loops, readers) before the loop stops,
        # so nothing is destroyed while pending or writes to a closed socket
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(_cancel_others(), self._loop).result(timeout=2.0)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=2.0)
        if not self._thread.is_alive():
            self._loop.close()


async def _cancel_others() -> None:
    me = asyncio.current_task()
    others = [t for t in asyncio.all_tasks() if t is not me]
    for task in others:
        task.cancel()
    await asyncio.gather(*others, return_exceptions=True)
