"""Demand forecasts: Holt's linear trend per service and for the whole cluster, with uncertainty.

Holt's method (Holt 1957; Hyndman and Athanasopoulos, *Forecasting: Principles and Practice*,
section 8.2) keeps a level and a trend and forecasts ``level + trend x h``. Samples here arrive at
the agent's period, which may vary, so the trend is kept per second and the smoothing is applied
per sample. The forecast's spread comes from the smoothed one-step error variance ``s2``, widened
for a horizon of ``k`` steps as for Holt's method (FPP, table 8.8):
``var_h = s2 x (1 + sum_{j<k} alpha^2 (1 + j beta)^2)``.

The forecaster is a ``Detector``: it turns observations into ``demand_forecast`` findings that
policies read (the Q-table scaling policy, the target-tracking fallback, consolidation):

- ``target="service:<i>"``: ``cpu_forecast`` = CPU the service's replicas will use in
  ``horizon_s``, ``cpu_std``, ``horizon_s``, plus ``cpu_now`` and ``trend_per_s``;
- ``target="cluster"``: ``cpu_forecast`` = CPU the scheduler will need (requested CPU of placed
  tasks plus pending requests), ``cpu_std``, ``horizon_s``, and ``used_forecast`` = CPU used.

All services are updated together as arrays, so a cell with thousands of services costs a few
vector operations per tick. Findings are emitted only for services with replicas whose forecast
differs from their current use by at least ``min_rel_change`` of their reserved CPU (replicas x
request) or whose forecast spread is that large: a service without a finding is forecast to stay
where it is. A 12,500-machine cell has about 3,000 services, and building a Python object for each
of them every tick would cost more than all the arithmetic (``per_service=False`` skips them).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from autoinfra.core.errors import ConfigError
from autoinfra.core.observation import Observation
from autoinfra.core.proposal import Finding

__all__ = ["HoltForecaster", "HoltSettings", "HoltState"]

F64 = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class HoltSettings:
    alpha: float = 0.3  # weight of a new sample in the level
    beta: float = 0.1  # weight of a new slope in the trend
    horizon_s: float = 120.0  # how far ahead to forecast (about a scaling step taking effect)
    error_alpha: float = 0.1  # smoothing of the squared one-step errors
    min_samples: int = 3  # no forecast before this many samples
    min_rel_change: float = 0.05  # of reserved CPU: smaller forecast moves emit no finding
    per_service: bool = True  # False: only the cluster-wide forecast

    def __post_init__(self) -> None:
        for name in ("alpha", "beta", "error_alpha"):
            v = getattr(self, name)
            if not 0.0 < v <= 1.0:
                raise ConfigError(f"expected a weight in (0, 1], got {v}", field=name)
        if self.horizon_s <= 0:
            raise ConfigError(f"expected seconds > 0, got {self.horizon_s}", field="horizon_s")


class HoltState:
    """Level, per-second trend and one-step error variance of a vector of series."""

    def __init__(self, n: int) -> None:
        self.level: F64 = np.zeros(n)
        self.trend: F64 = np.zeros(n)
        self.err_var: F64 = np.zeros(n)
        self.samples = 0
        self.last_t: float | None = None
        self.mean_dt_s = 0.0

    def update(self, t: float, y: F64, s: HoltSettings) -> None:
        if self.last_t is None:
            self.level[:] = y
            self.samples, self.last_t = 1, t
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

    def forecast(self, horizon_s: float, s: HoltSettings) -> tuple[F64, F64]:
        mean = np.maximum(0.0, self.level + self.trend * horizon_s)
        k = max(1, round(horizon_s / self.mean_dt_s)) if self.mean_dt_s > 0 else 1
        j = np.arange(1, min(k, 10_000))
        widen = 1.0 + float(np.sum(s.alpha**2 * (1.0 + j * s.beta) ** 2))
        return mean, np.sqrt(self.err_var * widen)


class HoltForecaster:
    """``Detector`` emitting ``demand_forecast`` findings per service and for the cluster."""

    policy_id = "forecast.holt-v1"

    def __init__(self, settings: HoltSettings | None = None) -> None:
        self.settings = settings or HoltSettings()
        self.services = HoltState(0)
        self.cluster = HoltState(2)  # [demand as the scheduler sees it, CPU used]

    def analyze(self, observation: Observation) -> list[Finding]:
        s = self.settings
        obs = observation
        n = obs.service_ids.shape[0] if s.per_service else 0
        if self.services.level.shape[0] != n:
            self.services = HoltState(n)
        svc_used = obs.service_cpu_used.astype(np.float64) if n else np.zeros(0)
        if n:
            self.services.update(obs.time_s, svc_used, s)
        demand = float(obs.cpu_requested.sum()) + float(obs.pending_cpu)
        used = float(obs.cpu_used[obs.powered].sum())
        self.cluster.update(obs.time_s, np.array([demand, used]), s)
        if self.cluster.samples < s.min_samples:
            return []
        h = s.horizon_s
        out: list[Finding] = []
        c_mean, c_std = self.cluster.forecast(h, s)
        out.append(
            Finding(
                "demand_forecast",
                "cluster",
                0.0,
                obs.time_s,
                {
                    "cpu_forecast": float(c_mean[0]),
                    "cpu_std": float(c_std[0]),
                    "horizon_s": h,
                    "cpu_now": demand,
                    "used_forecast": float(c_mean[1]),
                    "used_std": float(c_std[1]),
                },
            )
        )
        if s.per_service and n and self.services.samples >= s.min_samples:
            mean, std = self.services.forecast(h, s)
            reserved = obs.service_replicas * obs.service_cpu_request.astype(np.float64)
            moved = np.abs(mean - svc_used) >= s.min_rel_change * reserved
            spread = std >= s.min_rel_change * reserved
            idx = np.flatnonzero((obs.service_replicas > 0) & (moved | spread))
            t = obs.time_s
            rows = zip(
                idx.tolist(),
                mean[idx].tolist(),
                std[idx].tolist(),
                svc_used[idx].tolist(),
                self.services.trend[idx].tolist(),
                strict=True,
            )
            out.extend(
                Finding(
                    "demand_forecast",
                    f"service:{i}",
                    0.0,
                    t,
                    {
                        "cpu_forecast": fc,
                        "cpu_std": sd,
                        "horizon_s": h,
                        "cpu_now": now,
                        "trend_per_s": tr,
                    },
                )
                for i, fc, sd, now, tr in rows
            )
        return out
