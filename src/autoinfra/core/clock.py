"""Clocks: the one seam between simulated and real time.

Everything above the actuators asks a ``Clock`` for the time, so the same agent code runs inside
the simulator (``SimClock``, advanced by the simulator) and against a live system (``WallClock``).
"""

from __future__ import annotations

import time
from typing import Protocol, runtime_checkable


@runtime_checkable
class Clock(Protocol):
    """Seconds since the start of the run. Monotonic, never goes backwards."""

    def now_s(self) -> float: ...


class SimClock:
    """A clock moved by hand (by the simulator or a test), never by the wall."""

    def __init__(self, start_s: float = 0.0) -> None:
        self._now_s = float(start_s)

    def now_s(self) -> float:
        return self._now_s

    def advance_to(self, t_s: float) -> None:
        if t_s < self._now_s:
            raise ValueError(f"clock cannot go backwards: {t_s} < {self._now_s}")
        self._now_s = float(t_s)

    def advance(self, dt_s: float) -> None:
        self.advance_to(self._now_s + dt_s)


class WallClock:
    """Real elapsed time since construction (monotonic)."""

    def __init__(self) -> None:
        self._t0 = time.monotonic()

    def now_s(self) -> float:
        return time.monotonic() - self._t0
