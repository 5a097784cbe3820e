"""The bus seam, and the in-process bus the simulator uses for speed.

A bus moves bytes by subject; what the bytes mean is ``messages``'s business. Two methods:
``publish(subject, payload, durable=...)`` and ``subscribe(pattern) -> Subscription``, whose
``drain()`` hands over what arrived since the last call. Pulling fits the runtime's tick: an agent
reads its inbox when it ticks, so no handler ever runs in the middle of another agent's decision.

``durable=True`` asks for at-least-once delivery that survives a restart of the receiver (on NATS:
JetStream with acknowledgements; a durable subscription acknowledges a batch when ``drain`` is
called for the next one, so a receiver that dies while handling a batch gets it again); receivers
deduplicate by the ids inside the messages (request ids, ballot ids), never by arrival.
"""

from __future__ import annotations

import queue
import threading
from typing import Protocol

from autoinfra.coordination.bus.subjects import matches

__all__ = ["Bus", "InProcessBus", "Subscription"]


class Subscription(Protocol):
    def drain(self, max_messages: int = 1000, timeout_s: float = 0.0) -> list[bytes]:
        """What arrived since the last call, oldest first; waits up to ``timeout_s`` for one."""
        ...

    def close(self) -> None: ...


class Bus(Protocol):
    def publish(self, subject: str, payload: bytes, *, durable: bool = False) -> None: ...

    def subscribe(self, pattern: str, *, durable_name: str | None = None) -> Subscription: ...


class _QueueSubscription:
    def __init__(self, bus: InProcessBus, pattern: str) -> None:
        self.pattern = pattern
        self._bus = bus
        self._queue: queue.Queue[bytes] = queue.Queue()

    def put(self, payload: bytes) -> None:
        self._queue.put(payload)

    def drain(self, max_messages: int = 1000, timeout_s: float = 0.0) -> list[bytes]:
        out: list[bytes] = []
        try:
            if timeout_s > 0:
                out.append(self._queue.get(timeout=timeout_s))
            while len(out) < max_messages:
                out.append(self._queue.get_nowait())
        except queue.Empty:
            pass
        return out

    def close(self) -> None:
        self._bus._remove(self)


class InProcessBus:
    """Delivery within one process: every matching subscription gets its own copy, in order."""

    def __init__(self) -> None:
        self._subs: list[_QueueSubscription] = []
        self._lock = threading.Lock()

    def publish(self, subject: str, payload: bytes, *, durable: bool = False) -> None:
        with self._lock:
            targets = [s for s in self._subs if matches(s.pattern, subject)]
        for sub in targets:
            sub.put(payload)

    def subscribe(self, pattern: str, *, durable_name: str | None = None) -> Subscription:
        sub = _QueueSubscription(self, pattern)
        with self._lock:
            self._subs.append(sub)
        return sub

    def _remove(self, sub: _QueueSubscription) -> None:
        with self._lock:
            if sub in self._subs:
                self._subs.remove(sub)
