"""The scaling decision's inputs for one service, in scalar arithmetic: what ``ClusterEnv`` uses.

The deciding code (``policies.scaling.space.service_view`` / ``feasible_actions``,
``policies.scaling.encoding.encode`` / ``service_features``, ``learning.rewards``,
``policies.forecast.HoltForecaster``)
works on arrays over every service of an ``Observation``: right for a policy deciding for a
cell, but each NumPy call costs about a microsecond whatever its size, and an environment that
scales one service spends most of a step on them. The functions here compute the same quantities
for one service from the figures of ``sim.probe.FocalProbe`` with plain floats, term for term
the formulas of those modules (their docstrings are the specification; this module restates no
rule of its own), and ``tests/learning/test_env.py`` checks them against the array versions on
whole episodes.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from autoinfra.learning.rewards import RewardSpec
from autoinfra.policies.forecast import HoltSettings
from autoinfra.policies.scaling.encoding import FEATURE_HIGH, StateEncoding
from autoinfra.policies.scaling.space import ACTIONS

F32 = npt.NDArray[np.float32]


@dataclass(slots=True)
class FocalHolt:
    """``HoltForecaster``'s per-service series for one service (``policies.forecast``)."""

    settings: HoltSettings
    level: float = 0.0
    trend: float = 0.0
    err_var: float = 0.0
    samples: int = 0
    last_t: float | None = None
    mean_dt_s: float = 0.0
    _widen: dict[int, float] = field(default_factory=dict)  # horizon widening factor by steps

    def update(self, t: float, y: float) -> None:
        s = self.settings
        if self.last_t is None:
            self.level, self.samples, self.last_t = y, 1, t
            return
        dt = t - self.last_t
        if dt <= 0:
            return
        predicted = self.level + self.trend * dt
        err = y - predicted
        if self.samples >= 2:  # the first error only reflects the missing trend
            self.err_var = (1 - s.error_alpha) * self.err_var + s.error_alpha * err**2
        else:
            self.err_var = err**2
        level = s.alpha * y + (1 - s.alpha) * predicted
        self.trend = s.beta * (level - self.level) / dt + (1 - s.beta) * self.trend
        self.level = level
        self.samples += 1
        self.last_t = t
        self.mean_dt_s = dt if self.samples == 2 else 0.9 * self.mean_dt_s + 0.1 * dt

    def finding(self, replicas: float, request: float, used: float) -> tuple[float, float] | None:
        """(cpu_forecast, cpu_std) when the forecaster would emit a finding for the service."""
        s = self.settings
        if self.samples < s.min_samples:
            return None
        h = s.horizon_s
        mean = max(0.0, self.level + self.trend * h)
        k = max(1, round(h / self.mean_dt_s)) if self.mean_dt_s > 0 else 1
        widen = self._widen.get(k)
        if widen is None:  # k is the same every step once the period is steady: compute once
            j = np.arange(1, min(k, 10_000))
            widen = self._widen[k] = 1.0 + float(np.sum(s.alpha**2 * (1.0 + j * s.beta) ** 2))
        std = math.sqrt(self.err_var * widen)
        reserved = replicas * request
        moved = abs(mean - used) >= s.min_rel_change * reserved
        spread = std >= s.min_rel_change * reserved
        return (mean, std) if replicas > 0 and (moved or spread) else None


def sample_terms(
    spec: RewardSpec, used: float, demand: float, running: float, request: float, top: float
) -> tuple[float, float]:
    """(SLO violation 0/1, idle footprint share) of one sample (``learning.rewards``)."""
    demand = max(demand, used)
    reserved = running * request
    unserved = used < spec.slo_served_share * demand
    hot = used > spec.slo_utilisation * reserved
    starved = reserved <= 0 and demand > 0
    footprint = max(top, 1.0) * request
    idle = min(max(reserved - used, 0.0) / footprint, 1.0) if footprint > 0 else 0.0
    return (1.0 if unserved or hot or starved else 0.0), idle


@dataclass(slots=True)  # not frozen: a frozen dataclass costs 3 µs to build, every step
class FocalView:
    """One service's ``ServiceView`` row (``policies.scaling.space``), as floats."""

    replicas: int
    running: int
    min_replicas: int
    max_replicas: int
    utilisation: float
    forecast_utilisation: float
    trend: float
    forecast_rel_std: float


def focal_view(
    replicas: int, running: int, lo: int, hi: int, request: float, used: float,
    forecast: tuple[float, float] | None,
) -> FocalView:  # fmt: skip
    reserved_running = running * request
    util = used / reserved_running if reserved_running > 0 else 0.0
    fc, std = forecast if forecast is not None else (used, 0.0)
    reserved = max(replicas * request, 1e-12)
    # positional: keywords cost a dict's worth of time on every step
    return FocalView(replicas, running, lo, hi, util, fc / reserved, (fc - used) / reserved,
                     std / reserved)  # fmt: skip


def features(
    view: FocalView, cpu_used: float, cpu_cap: float, mem_used: float, mem_cap: float,
    pending_cpu: float,
) -> F32:  # fmt: skip
    """``policies.scaling.encoding.service_features`` of one service, as a fresh float32 array."""
    span = max(view.max_replicas - view.min_replicas, 1)
    raw = (
        cpu_used / cpu_cap if cpu_cap > 0 else 0.0,
        mem_used / mem_cap if mem_cap > 0 else 0.0,
        pending_cpu / cpu_cap if cpu_cap > 0 else 0.0,
        view.utilisation,
        view.forecast_utilisation,
        view.forecast_rel_std,
        (view.replicas - view.min_replicas) / span,
        view.running / max(view.replicas, 1),
    )
    out = np.array(raw, dtype=np.float32)  # cast to float32, then clip: the array version's
    np.minimum(np.maximum(out, 0.0, out=out), FEATURE_HIGH, out=out)  # order exactly
    return out


def state(view: FocalView, encoding: StateEncoding) -> int:
    """``policies.scaling.encoding.encode`` of one service."""
    util_bin = bisect_right(encoding.util_edges, view.utilisation)
    band = encoding.trend_band
    trend_bin = int(view.trend >= -band) + int(view.trend > band)
    if view.replicas > view.min_replicas:
        room_bin = 1 + int(view.replicas >= view.max_replicas)
    else:
        room_bin = 0
    unplaced = int(view.running < view.replicas)
    return ((util_bin * 3 + trend_bin) * 3 + room_bin) * 2 + unplaced


def feasible(view: FocalView) -> npt.NDArray[np.bool_]:
    """``policies.scaling.space.feasible_actions`` of one service (a fresh array)."""
    up, down = view.max_replicas > view.replicas, view.replicas > view.min_replicas
    return _FEASIBLE[int(up), int(down)].copy()


# the four masks: [room to scale up][room to scale down]
_FEASIBLE = np.array(
    [[[d == 0 or (d > 0 and u) or (d < 0 and dn) for d in ACTIONS] for dn in (False, True)]
     for u in (False, True)]
)  # fmt: skip


def clamp_delta(view: FocalView, action: int) -> int:
    """``policies.scaling.space.clamp_deltas`` of one service."""
    hi = max(view.max_replicas, view.min_replicas)
    return min(max(view.replicas + ACTIONS[action], view.min_replicas), hi) - view.replicas
