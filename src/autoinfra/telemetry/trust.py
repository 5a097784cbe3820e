"""Telemetry has to earn trust: is this observation fresh and plausible, and if not, why not.

The guards and the agents act on what monitoring says. A stale, frozen, spoofed or broken picture
is worse than none, since agents would drain and power off a cluster that only looks idle. So
before an observation is believed, :class:`TrustCheck` asks, in this order:

- **sensor error**: collecting raised (the :class:`TrustMonitor` catches it; nothing stops);
- **contradictions**: arrays of different lengths, NaN or infinite figures, negative counts,
  CPU or memory used or requested above the machine's capacity, tasks on machines that are off,
  services with running replicas while no machine runs any task, a clock from the future;
- **stale**: the data is older than ``max_age_s`` (``Observation.age_s``: from
  ``collected_at_s``, when the samples were taken, or ``time_s``). 30 s by default: agents react
  within 5-15 s (the heartbeat detector declares a machine lost after 15 s), so a picture twice
  that old is older than anything they act on; it is also two of the 15 s scrape intervals
  Prometheus setups commonly use. A frozen sensor, one that keeps returning the same snapshot,
  is caught here: its age grows with the clock;
- **monitoring outage**: at least ``silent_share`` (half) of the machines that should report
  have heartbeats older than ``heartbeat_limit_s``. In the shipped window the cell (12,495
  machines) never loses more than 6 within 10 minutes (at most 2 within 60 s), and over the
  machine table's 29 days (12,583 machines) at most 76 (43 within 60 s), so half a cell going
  silent at once is a monitoring failure, not that many machine failures;
- **all idle**: at least ``idle_share`` (90 %) of the reporting machines use no CPU at all. In
  honest replays of the shipped slice (40 and 300 machines, seeds 0-4, 1 h) no tick ever had a
  single reporting machine at zero CPU;
- **demand falling faster than any trace shows**: cluster demand (CPU requested on reporting
  machines plus pending) or load (CPU used) below ``1 - max_fall_share`` of its highest trusted
  value in the last ``fall_window_s`` (600 s). Measured on the same ten honest replays, the largest
  fall over any horizon from 5 s to 600 s was 17.4 % of demand (40 machines, seed 4) and 11.2 % of
  load; ``max_fall_share`` = 0.5 is about three times that. A lower level that holds for a whole
  window is believed again (a sustained fall cannot be told from a real one by these figures).
  A fall must also be at least ``min_fall_capacity_share`` (5 %) of the reporting machines' CPU
  capacity: in a nearly empty cell one task ending halves the load. Parts 2-3 of the shipped
  slice read without stand-ins run at about 3 % CPU; there the load fell from 1.27 to 0.62 CPU
  units on a 300-machine slice of about 160, the rule called it untrusted, and safe mode kept
  a failed machine's tasks from being evicted for the rest of the run. A fall that small is
  half the free CPU the gate keeps anyway (``GateSettings.min_headroom_share``, 10 %), so
  believing it cannot take the cell's headroom.

The picture checks (outage, idle, fall) need at least ``min_machines`` reporting machines: in a
cell of three, one idle machine is a third of it, and one failed machine takes a third of the load
with it. The fall bound was measured on cells of 40 and 300 machines; a live fleet of four
(``autoinfra live --backend local``) swings by half on its own, so there it is not applied.
:func:`largest_fall` is the measurement behind the fall
bound, kept here so a test can re-derive it from the shipped trace.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from autoinfra.core.errors import ConfigError
from autoinfra.core.observation import MachineState, Observation
from autoinfra.core.protocols import Sensor

__all__ = [
    "DEMAND_FALL_MEASURED",
    "TrustCheck",
    "TrustMonitor",
    "TrustSettings",
    "TrustVerdict",
    "largest_fall",
]

# the largest relative fall of demand (requested + pending CPU) seen in honest replays of the
# shipped slice, over horizons of 5-600 s (see the module docstring); the gate uses it too
DEMAND_FALL_MEASURED = 0.174


@dataclass(frozen=True, slots=True)
class TrustSettings:
    max_age_s: float = 30.0  # older data is stale (see the module docstring for why 30 s)
    heartbeat_limit_s: float = 30.0  # a machine silent this long counts as silent
    silent_share: float = 0.5  # this share of reporting machines silent: a monitoring outage
    idle_share: float = 0.9  # this share at zero CPU: an implausible picture
    idle_cpu: float = 1e-6  # CPU units at or below which a machine counts as idle
    max_fall_share: float = 0.5  # demand or load below (1 - this) x the window's trusted peak
    # ...and by at least this share of the reporting machines' CPU capacity (half the gate's
    # 10 % headroom; see the module docstring): 0 judges every relative fall
    min_fall_capacity_share: float = 0.05
    fall_window_s: float = 600.0
    min_machines: int = 10  # the outage, idle and fall rules need this many reporting machines
    capacity_tolerance: float = 0.01  # used or requested may exceed capacity by this share
    # the system places work against reservations (sim.config.SimSettings.placement): CPU requests
    # above a machine's capacity are then its own overcommit, not a contradiction
    cpu_overcommit: bool = False

    def __post_init__(self) -> None:
        positive = ("max_age_s", "heartbeat_limit_s", "fall_window_s")
        shares = ("silent_share", "idle_share", "max_fall_share", "capacity_tolerance")
        for name in positive:
            value = getattr(self, name)
            if not _finite(value) or value <= 0:
                raise ConfigError(f"expected seconds > 0, got {value!r}", field=name)
        for name in shares:
            value = getattr(self, name)
            if not _finite(value) or not 0 < value <= 1:
                raise ConfigError(f"expected a share in (0, 1], got {value!r}", field=name)
        low = self.min_fall_capacity_share
        if not _finite(low) or not 0 <= low < 1:
            raise ConfigError(
                f"expected a share in [0, 1), got {low!r}", field="min_fall_capacity_share"
            )
        if not _finite(self.idle_cpu) or self.idle_cpu < 0:
            raise ConfigError(f"expected CPU >= 0, got {self.idle_cpu!r}", field="idle_cpu")
        if isinstance(self.min_machines, bool) or not isinstance(self.min_machines, int):
            raise ConfigError(
                f"expected an integer, got {self.min_machines!r}", field="min_machines"
            )
        if self.min_machines < 1:
            raise ConfigError(f"expected >= 1, got {self.min_machines}", field="min_machines")


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


@dataclass(frozen=True, slots=True)
class TrustVerdict:
    """Whether an observation may be believed, and if not, which check failed and why."""

    trusted: bool
    check: str  # "ok", "sensor_error", "contradiction", "stale", "outage", "all_idle", "fall"
    reason: str
    at_s: float
    age_s: float | None = None


def _reporting(obs: Observation) -> npt.NDArray[np.bool_]:
    s = obs.machine_state
    return (s == MachineState.ON) | (s == MachineState.DRAINING)


_NOISE = 1e-6  # CPU or memory units: float rounding, not a contradiction


def _contradiction(obs: Observation, tol: float, cpu_overcommit: bool = False) -> str | None:
    n = obs.n_machines
    per_machine = (
        "machine_state", "schedulable", "cpu_capacity", "mem_capacity", "cpu_requested",
        "mem_requested", "cpu_used", "mem_used", "tasks_running", "heartbeat_age_s",
    )  # fmt: skip
    for name in per_machine:
        if getattr(obs, name).shape != (n,):
            return f"{name} has shape {getattr(obs, name).shape}, expected ({n},)"
    for name in ("pending_cpu", "pending_mem", "power_w", "time_s"):
        if not math.isfinite(float(getattr(obs, name))):
            return f"{name} is {getattr(obs, name)}"
    if obs.pending_tasks < 0 or obs.pending_cpu < -_NOISE or obs.pending_mem < -_NOISE:
        return f"negative pending work ({obs.pending_tasks} tasks, {obs.pending_cpu:g} CPU)"
    if obs.pending_tasks == 0 and obs.pending_cpu > 1e-6:
        return f"no pending task but {obs.pending_cpu:g} CPU pending"
    for name in ("cpu_capacity", "mem_capacity", "cpu_requested", "mem_requested", "cpu_used",
                 "mem_used", "heartbeat_age_s"):  # fmt: skip
        values = getattr(obs, name)
        if values.size and not np.isfinite(values).all():
            return f"{name} holds NaN or infinite values"
        if values.size and float(values.min()) < -_NOISE:  # sums of floats round below 0
            return f"{name} holds negative values (min {float(values.min()):g})"
    if obs.tasks_running.size and int(obs.tasks_running.min()) < 0:
        return "tasks_running holds negative counts"
    for used, cap in (("cpu_used", "cpu_capacity"), ("cpu_requested", "cpu_capacity"),
                      ("mem_used", "mem_capacity"), ("mem_requested", "mem_capacity")):  # fmt: skip
        if cpu_overcommit and used == "cpu_requested":
            continue
        over = getattr(obs, used) > getattr(obs, cap) * np.float32(1 + tol) + np.float32(1e-6)
        if over.any():
            m = int(np.flatnonzero(over)[0])
            return (
                f"{used} above {cap} on {int(over.sum())} machine(s), e.g. machine:{m} "
                f"({float(getattr(obs, used)[m]):g} > {float(getattr(obs, cap)[m]):g})"
            )
    off = (obs.machine_state == MachineState.OFF) | (obs.machine_state == MachineState.ABSENT)
    if (obs.tasks_running[off] > 0).any():
        return f"tasks running on {int((obs.tasks_running[off] > 0).sum())} machine(s) that are off"
    running = int(obs.service_running.sum()) if obs.service_running.size else 0
    if running > 0 and n > 0 and int(obs.tasks_running.sum()) == 0:
        return f"{running} service replicas running but no machine runs any task"
    return None


class TrustCheck:
    """Judges observations one after another (it remembers the recent trusted demand)."""

    def __init__(self, settings: TrustSettings | None = None) -> None:
        self.settings = settings or TrustSettings()
        self._trusted: deque[tuple[float, float, float]] = deque()  # (time_s, demand, load)
        self._last_time_s: float | None = None

    def sensor_failed(self, exc: BaseException, now_s: float) -> TrustVerdict:
        return TrustVerdict(
            False, "sensor_error", f"sensor raised {type(exc).__name__}: {exc}", now_s
        )

    def assess(self, obs: Observation, now_s: float) -> TrustVerdict:
        s = self.settings
        age = obs.age_s(now_s)

        def no(check: str, reason: str) -> TrustVerdict:
            return TrustVerdict(False, check, reason, now_s, age)

        why = _contradiction(obs, s.capacity_tolerance, s.cpu_overcommit)
        if why is not None:
            return no("contradiction", why)
        if age < -s.max_age_s:
            return no("contradiction", f"data stamped {-age:.0f} s in the future")
        if age > s.max_age_s:
            return no("stale", f"data is {age:.0f} s old (limit {s.max_age_s:g} s)")
        rep = _reporting(obs)
        n_rep = int(rep.sum())
        if n_rep >= s.min_machines:
            silent = int((obs.heartbeat_age_s[rep] > s.heartbeat_limit_s).sum())
            if silent >= s.silent_share * n_rep:
                return no(
                    "outage",
                    f"monitoring outage: {silent} of {n_rep} machines silent for more than "
                    f"{s.heartbeat_limit_s:g} s at once",
                )
            idle = int((obs.cpu_used[rep] <= s.idle_cpu).sum())
            if idle >= s.idle_share * n_rep:
                return no("all_idle", f"{idle} of {n_rep} reporting machines idle at once")
        demand = float(obs.cpu_requested[rep].sum()) + float(obs.pending_cpu)
        load = float(obs.cpu_used[rep].sum())
        horizon = obs.time_s - s.fall_window_s
        while self._trusted and self._trusted[0][0] < horizon:
            self._trusted.popleft()
        if self._trusted and n_rep >= s.min_machines:
            peak_demand = max(d for _, d, _ in self._trusted)
            peak_load = max(u for _, _, u in self._trusted)
            floor = 1.0 - s.max_fall_share
            least = s.min_fall_capacity_share * float(obs.cpu_capacity[rep].sum())
            for name, now_v, peak in (("demand", demand, peak_demand), ("load", load, peak_load)):
                if peak > 1e-6 and now_v < floor * peak and peak - now_v >= least:
                    return no(
                        "fall",
                        f"cluster {name} {now_v:.2f} CPU is {1 - now_v / peak:.0%} below its "
                        f"peak {peak:.2f} of the last {s.fall_window_s:g} s (no trace falls "
                        f"more than {DEMAND_FALL_MEASURED:.0%}; limit {s.max_fall_share:.0%})",
                    )
        if self._last_time_s != obs.time_s:
            self._trusted.append((obs.time_s, demand, load))
            self._last_time_s = obs.time_s
        return TrustVerdict(True, "ok", "fresh and plausible", now_s, age)


class TrustMonitor:
    """A sensor and a :class:`TrustCheck`: ``check(now_s)`` never raises."""

    def __init__(self, sensor: Sensor, settings: TrustSettings | None = None) -> None:
        self.sensor = sensor
        self.trust = TrustCheck(settings)
        self.last: TrustVerdict | None = None

    def check(self, now_s: float) -> tuple[Observation | None, TrustVerdict]:
        try:
            obs = self.sensor.collect()
        except Exception as exc:  # a broken sensor is a finding, never a crash
            self.last = self.trust.sensor_failed(exc, now_s)
            return None, self.last
        try:
            self.last = self.trust.assess(obs, now_s)
        except Exception as exc:  # an observation too broken to judge is not trusted
            self.last = TrustVerdict(
                False, "contradiction", f"observation cannot be checked ({exc!r})", now_s
            )
        return obs, self.last


def largest_fall(times_s: npt.ArrayLike, values: npt.ArrayLike, horizon_s: float) -> float:
    """Largest relative fall ``1 - v(t') / v(t)`` over pairs with ``t < t' <= t + horizon_s``.

    The measurement behind ``max_fall_share``: run it over a replay's per-tick demand.
    """
    t = np.asarray(times_s, dtype=np.float64)
    v = np.asarray(values, dtype=np.float64)
    worst = 0.0
    for i in range(t.shape[0]):
        j = int(np.searchsorted(t, t[i] + horizon_s, side="right"))
        if j > i + 1 and v[i] > 1e-9:
            worst = max(worst, 1.0 - float(v[i + 1 : j].min()) / float(v[i]))
    return worst
