"""A bus endpoint for code that only needs ``publish(subject, data)`` and ``drain()``.

Federated averaging (``learning.fedavg``) speaks that two-method transport; this wraps any
:class:`~autoinfra.coordination.bus.base.Bus` (in-process or NATS) in it, subscribed to the
subjects given. ``wait_s`` lets a synchronous round wait for the first message of a round to
arrive over a real network instead of finding the inbox empty.
"""

from __future__ import annotations

from autoinfra.coordination.bus.base import Bus

__all__ = ["BusEndpoint"]


class BusEndpoint:
    def __init__(self, bus: Bus, *subjects: str, wait_s: float = 0.0) -> None:
        self.bus = bus
        self.wait_s = wait_s
        self._subs = [bus.subscribe(s) for s in subjects]

    def publish(self, subject: str, data: bytes) -> None:
        self.bus.publish(subject, data)

    def drain(self) -> list[bytes]:
        out: list[bytes] = []
        for sub in self._subs:
            out += sub.drain(timeout_s=self.wait_s if not out else 0.0)
        return out

    def close(self) -> None:
        for sub in self._subs:
            sub.close()
