"""Safe mode on stale telemetry, and the actuator guard that enforces it (and a clean shutdown).

``TelemetryGuard`` stands between the agents and the Prometheus sensor: the runner calls
``refresh()`` once per loop (one collect, shared by every agent in that tick); agents read
``observe()``. While the sensor raises ``StaleTelemetry`` the guard serves the last fresh snapshot
marked ``extra["stale"] = True`` and reports ``stale``; every change of state is kept in
``transitions`` for the report and the alert.

``LiveActuator`` wraps the system's actuator. While the guard is stale it *holds* every action
except those that only add capacity (power a machine on, scale a service up): a held action is
not executed and comes back as a failed outcome saying why, so the audit log and the agent both
know. Capacity removal, kills, isolation and reroutes decided on old data are exactly what safe
mode exists to stop. When the runner stops, ``close()`` makes every later submit a "not
executed: shutting down" outcome and marks what the inner actuator still had open (the
``BackendActuator`` says whether it was applied), so no record stays in flight.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

from autoinfra.actuators.dryrun import DryRunActuator
from autoinfra.core.actions import Action, ScaleService, SetMachinePower
from autoinfra.core.clock import Clock
from autoinfra.core.observation import Observation
from autoinfra.core.proposal import Outcome
from autoinfra.core.protocols import Actuator
from autoinfra.telemetry.prometheus import PrometheusSensor, StaleTelemetry

__all__ = ["LiveActuator", "SafeModeChange", "TelemetryGuard", "holds_in_safe_mode"]


def holds_in_safe_mode(action: Action) -> bool:
    """True unless the action only adds capacity (the one thing safe on old data)."""
    if isinstance(action, SetMachinePower) and action.on:
        return False
    return not (isinstance(action, ScaleService) and action.delta_replicas > 0)


@dataclass(frozen=True, slots=True)
class SafeModeChange:
    at_s: float  # backend clock
    stale: bool
    reason: str
    detail: str


class TelemetryGuard:
    """A ``ClusterReader`` over a Prometheus sensor that knows when its data is stale."""

    def __init__(self, sensor: PrometheusSensor, clock: Clock) -> None:
        self.sensor = sensor
        self.clock = clock
        self.last: Observation | None = None
        self.stale = True  # until the first fresh collect
        self.reason = "no data yet"
        self.transitions: list[SafeModeChange] = []
        self.stale_s = 0.0  # backend seconds spent stale after the first fresh data
        self._since: float | None = None
        self.on_change: Callable[[SafeModeChange], None] | None = None

    @property
    def now_s(self) -> float:
        return self.clock.now_s()

    def refresh(self) -> bool:
        """Collect once; True when fresh."""
        now = self.clock.now_s()
        try:
            obs = self.sensor.collect()
        except StaleTelemetry as exc:
            if not self.stale:  # fresh -> stale (before the first fresh data: just waiting)
                self._change(SafeModeChange(now, True, exc.reason, str(exc)))
            self.reason = exc.reason
            return False
        if self.stale and self.last is not None:
            self._change(SafeModeChange(now, False, "fresh", "telemetry fresh again"))
        self.last, self.stale, self.reason = obs, False, "fresh"
        return True

    def _change(self, t: SafeModeChange) -> None:
        if t.stale and self._since is None:
            self._since = t.at_s
        if not t.stale and self._since is not None:
            self.stale_s += t.at_s - self._since
            self._since = None
        self.stale = t.stale
        self.transitions.append(t)
        if self.on_change is not None:
            self.on_change(t)

    def observe(self) -> Observation:
        if self.last is None:
            raise StaleTelemetry("no fresh telemetry yet", reason="no_data")
        if self.stale:
            return dataclasses.replace(self.last, extra=self.last.extra | {"stale": True})
        return self.last


class LiveActuator:
    """Holds actions in safe mode and closes cleanly (see the module docstring)."""

    def __init__(self, inner: Actuator, guard: TelemetryGuard | None, clock: Clock) -> None:
        self.inner = inner
        self.guard = guard
        self.clock = clock
        self.held: list[tuple[float, str, Action]] = []
        self._queued: list[Outcome] = []
        self._closing = False
        self._marked: set[str] = set()

    def submit(self, request_id: str, action: Action) -> None:
        now = self.clock.now_s()
        if self._closing:
            self._queued.append(Outcome(request_id, False, now, "not executed: shutting down"))
            return
        if self.guard is not None and self.guard.stale and holds_in_safe_mode(action):
            self.held.append((now, request_id, action))
            why = f"held in safe mode: telemetry stale ({self.guard.reason}); not executed"
            self._queued.append(Outcome(request_id, False, now, why))
            return
        self.inner.submit(request_id, action)

    def poll(self) -> list[Outcome]:
        out, self._queued = self._queued, []
        out += self.inner.poll()
        if self._closing:
            close = getattr(self.inner, "close", None)
            if callable(close):
                out += list(close())
            if isinstance(self.inner, DryRunActuator):  # recorded, never executed: say so
                now = self.clock.now_s()
                out += [
                    Outcome(rid, False, now, "dry run: recorded, not executed")
                    for _, rid, _ in self.inner.requests
                    if rid not in self._marked
                ]
                self._marked.update(rid for _, rid, _ in self.inner.requests)
        return out

    def close(self) -> None:
        """From now on nothing new is executed; the next ``poll`` marks what is open."""
        self._closing = True
