"""Demand forecasts from a Kalman filter over a local linear trend, beside Holt's method.

The model (Harvey 1989, *Forecasting, Structural Time Series Models and the Kalman Filter*, ch. 2;
Durbin and Koopman 2012, section 3.2) is a level ``l`` and a per-second slope ``b``:

    y_t = l_t + e_t,                 e_t ~ N(0, r)
    l_t = l_{t-dt} + b_{t-dt} dt + w_l,   b_t = b_{t-dt} + w_b,
    var(w_l) = q_level r dt,         var(w_b) = q_trend r dt        (noise grows with the gap)

Holt's method is this filter's steady state for a fixed sampling period; the filter differs in
that its gain follows its own uncertainty: large right after a start or a gap (it locks on to a
new series in a few samples), smaller as the state settles, and right for an irregular period.
The gain depends only on the ratios ``q_level`` and ``q_trend``, so the covariance is kept in units
of ``r``, and ``r`` is estimated from the normalised innovations (``err^2 / S``, smoothed): one
setting fits series of any scale, which matters when one cell has services from 0.001 to 100 CPUs.

``KalmanForecaster`` is a ``Detector`` with the same findings as ``HoltForecaster`` (the keys and
the emission rule of ``autoinfra.policies.forecast``), so it replaces Holt's by configuration:
``make_policy("forecast.kalman-v1")``. All series are filtered together as arrays (the 2x2
covariance as three vectors), a few vector operations per tick for thousands of services.
bench/catalogue.py --only kalman compares the two on the trace (docs/catalogue.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from autoinfra.core.errors import ConfigError
from autoinfra.core.observation import Observation
from autoinfra.core.proposal import Finding

__all__ = ["KalmanForecaster", "KalmanSettings", "KalmanState"]

F64 = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class KalmanSettings:
    q_level: float = 0.02  # level noise variance per second, in units of the measurement noise
    q_trend: float = 1e-6  # slope noise variance per second, in (units of r) / s^2
    prior_trend_var: float = 1e-4  # initial slope variance, in units of r per s^2 (vague)
    noise_alpha: float = 0.1  # smoothing of the normalised squared innovations (estimates r)
    horizon_s: float = 120.0  # how far ahead to forecast (as HoltSettings)
    min_samples: int = 3  # no forecast before this many samples
    min_rel_change: float = 0.05  # of reserved CPU: smaller forecast moves emit no finding
    per_service: bool = True  # False: only the cluster-wide forecast

    def __post_init__(self) -> None:
        for name in ("q_level", "q_trend", "prior_trend_var"):
            v = getattr(self, name)
            if not (np.isfinite(v) and v >= 0.0):
                raise ConfigError(f"expected a variance >= 0, got {v}", field=name)
        if not 0.0 < self.noise_alpha <= 1.0:
            raise ConfigError(
                f"expected a weight in (0, 1], got {self.noise_alpha}", field="noise_alpha"
            )
        if self.horizon_s <= 0:
            raise ConfigError(f"expected seconds > 0, got {self.horizon_s}", field="horizon_s")
        if self.min_samples < 1:
            raise ConfigError(f"expected >= 1, got {self.min_samples}", field="min_samples")


class KalmanState:
    """Level, slope, their covariance (in units of ``r``) and ``r`` for a vector of series."""

    def __init__(self, n: int) -> None:
        self.level: F64 = np.zeros(n)
        self.trend: F64 = np.zeros(n)
        # covariance [[p_ll, p_lb], [p_lb, p_bb]], divided by r
        self.p_ll: F64 = np.ones(n)
        self.p_lb: F64 = np.zeros(n)
        self.p_bb: F64 = np.zeros(n)
        self.noise_var: F64 = np.zeros(n)  # r
        self.samples = 0
        self.last_t: float | None = None

    def update(self, t: float, y: F64, s: KalmanSettings) -> None:
        if self.last_t is None:
            # the first sample fixes the level up to the measurement noise; the slope is unknown
            self.level[:] = y
            self.p_ll[:], self.p_lb[:], self.p_bb[:] = 1.0, 0.0, s.prior_trend_var
            self.samples, self.last_t = 1, t
            return
        dt = t - self.last_t
        if dt <= 0:
            return
        # predict: x = F x, P = F P F' + Q with F = [[1, dt], [0, 1]]
        level = self.level + self.trend * dt
        p_ll = self.p_ll + 2 * dt * self.p_lb + dt * dt * self.p_bb + s.q_level * dt
        p_lb = self.p_lb + dt * self.p_bb
        p_bb = self.p_bb + s.q_trend * dt
        # update with H = [1, 0]: innovation variance S = p_ll + 1 (in units of r)
        err = y - level
        s_norm = p_ll + 1.0
        z2 = err * err / s_norm
        if self.samples >= 2:
            self.noise_var = (1 - s.noise_alpha) * self.noise_var + s.noise_alpha * z2
        else:
            self.noise_var = z2
        k_l, k_b = p_ll / s_norm, p_lb / s_norm
        self.level = level + k_l * err
        self.trend = self.trend + k_b * err
        # the simple form P = (I - K H) P: for this 2x2 both off-diagonal terms equal
        # p_lb (1 - p_ll / S), so one value keeps it exactly symmetric
        self.p_ll = p_ll - k_l * p_ll
        self.p_lb = p_lb - k_l * p_lb
        self.p_bb = p_bb - k_b * p_lb
        self.samples += 1
        self.last_t = t

    def forecast(self, horizon_s: float, s: KalmanSettings) -> tuple[F64, F64]:
        """Mean and std of the series ``horizon_s`` ahead (state uncertainty plus noise)."""
        h = horizon_s
        mean = np.maximum(0.0, self.level + self.trend * h)
        var = self.p_ll + 2 * h * self.p_lb + h * h * self.p_bb + s.q_level * h + 1.0
        return mean, np.sqrt(np.maximum(0.0, var * self.noise_var))


class KalmanForecaster:
    """``Detector`` emitting ``demand_forecast`` findings per service and for the cluster."""

    policy_id = "forecast.kalman-v1"

    def __init__(self, settings: KalmanSettings | None = None) -> None:
        self.settings = settings or KalmanSettings()
        self.services = KalmanState(0)
        self.cluster = KalmanState(2)  # [demand as the scheduler sees it, CPU used]

    def analyze(self, observation: Observation) -> list[Finding]:
        s = self.settings
        obs = observation
        n = obs.service_ids.shape[0] if s.per_service else 0
        if self.services.level.shape[0] != n:
            self.services = KalmanState(n)
        svc_used = obs.service_cpu_used.astype(np.float64) if n else np.zeros(0)
        if n:
            self.services.update(obs.time_s, svc_used, s)
        demand = float(obs.cpu_requested.sum()) + float(obs.pending_cpu)
        used = float(obs.cpu_used[obs.powered].sum())
        self.cluster.update(obs.time_s, np.array([demand, used]), s)
        if self.cluster.samples < s.min_samples:
            return []
        h = s.horizon_s
        c_mean, c_std = self.cluster.forecast(h, s)
        out = [
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
        ]
        if s.per_service and n and self.services.samples >= s.min_samples:
            out.extend(self._service_findings(obs, svc_used))
        return out

    def _service_findings(self, obs: Observation, svc_used: F64) -> list[Finding]:
        # the same emission rule as Holt's: a service without a finding stays where it is
        s = self.settings
        mean, std = self.services.forecast(s.horizon_s, s)
        reserved = obs.service_replicas * obs.service_cpu_request.astype(np.float64)
        moved = np.abs(mean - svc_used) >= s.min_rel_change * reserved
        spread = std >= s.min_rel_change * reserved
        idx = np.flatnonzero((obs.service_replicas > 0) & (moved | spread))
        rows = zip(
            idx.tolist(),
            mean[idx].tolist(),
            std[idx].tolist(),
            svc_used[idx].tolist(),
            self.services.trend[idx].tolist(),
            strict=True,
        )
        return [
            Finding(
                "demand_forecast",
                f"service:{i}",
                0.0,
                obs.time_s,
                {
                    "cpu_forecast": fc,
                    "cpu_std": sd,
                    "horizon_s": s.horizon_s,
                    "cpu_now": now,
                    "trend_per_s": tr,
                },
            )
            for i, fc, sd, now, tr in rows
        ]
