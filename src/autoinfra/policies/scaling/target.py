"""Forecast-driven target tracking of replica CPU utilisation: the scaling agent's fallback.

The scaling agent prefers the Q-table policy (``policies.scaling.qtable``); this rule runs when
that module is absent. It is the Horizontal Pod Autoscaler's ratio rule (``desired = ceil(current x
utilisation / target)``, kubernetes.io) applied to a *forecast* rather than the current value:

- expected use = ``cpu_forecast + k_std x cpu_std`` for scaling up and ``max(now, forecast)`` for
  scaling down (from the forecaster's ``demand_forecast`` findings on ``service:<i>``), so the
  service is scaled before the load arrives and not shrunk on a dip the trend says will pass;
- a replica uses at most its request (its limit), so a service whose replicas are at their limit
  shows no more than that. When monitoring reports the service's demand (a request-rate metric;
  the simulator puts it in ``Observation.extra["service_cpu_demand"]``) that is used instead of
  the CPU used; otherwise a saturated service gets ``saturated_step`` more replicas;
- changes within ``tolerance`` of the target are ignored, steps are at most ``max_step`` replicas,
  a service is not scaled again within ``cooldown_s`` (``down_cooldown_s`` for scaling down), and
  never below its minimum or above its maximum (``extra["service_max_replicas"]`` when reported,
  else ``max_scale_factor`` x the replicas it had when first seen).

Vectorised over services: one decision for a cell's services is a handful of array operations.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from autoinfra.core.actions import ScaleService
from autoinfra.core.observation import Observation
from autoinfra.core.proposal import Finding, Justification, Proposal

__all__ = ["TargetTrackingPolicy", "TargetTrackingSettings"]

F64 = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class TargetTrackingSettings:
    target_util: float = 0.7  # used / requested of the running replicas
    tolerance: float = 0.1  # as the HPA: no change within 10 % of the target
    k_std: float = 1.0
    max_step: int = 2
    saturated_share: float = 0.95  # used above this share of the replicas' limit: saturated
    saturated_step: int = 1
    cooldown_s: float = 60.0
    down_cooldown_s: float = 300.0  # the HPA's scale-down stabilisation window
    max_scale_factor: float = 4.0


class TargetTrackingPolicy:
    policy_id = "scaling.target-v1"

    def __init__(self, settings: TargetTrackingSettings | None = None) -> None:
        self.settings = settings or TargetTrackingSettings()
        self._last_s: F64 = np.zeros(0)
        self._max: npt.NDArray[np.int64] = np.zeros(0, dtype=np.int64)

    def decide(self, observation: Observation, findings: Sequence[Finding]) -> list[Proposal]:
        s = self.settings
        obs = observation
        n = obs.service_ids.shape[0]
        if n == 0:
            return []
        if self._last_s.shape[0] != n:
            self._last_s = np.full(n, -np.inf)
            self._max = np.maximum(
                1, np.ceil(obs.service_replicas * s.max_scale_factor).astype(np.int64)
            )
        now_used = obs.service_cpu_used.astype(np.float64)
        demand = obs.extra.get("service_cpu_demand")
        if isinstance(demand, np.ndarray) and demand.shape == now_used.shape:
            now_used = np.maximum(now_used, demand.astype(np.float64))
        reported_max = obs.extra.get("service_max_replicas")
        if isinstance(reported_max, np.ndarray) and reported_max.shape == now_used.shape:
            self._max = reported_max.astype(np.int64)
        fc = now_used.copy()  # services without a forecast finding stay where they are
        sd = np.zeros(n)
        for f in findings:
            if f.kind == "demand_forecast" and f.target.startswith("service:"):
                i = int(f.target[8:])
                if 0 <= i < n:
                    fc[i] = f.detail["cpu_forecast"]
                    sd[i] = f.detail["cpu_std"]
        up_use = np.maximum(now_used, fc + s.k_std * sd)
        down_use = np.maximum(now_used, fc)
        replicas = obs.service_replicas.astype(np.int64)
        running = np.maximum(obs.service_running.astype(np.int64), 0)
        request = np.maximum(obs.service_cpu_request.astype(np.float64), 1e-9)
        util_up = up_use / (np.maximum(running, 1) * request)
        util_down = down_use / (np.maximum(running, 1) * request)
        desired = replicas.copy()
        grow = util_up > s.target_util * (1 + s.tolerance)
        desired[grow] = np.ceil(up_use[grow] / (s.target_util * request[grow])).astype(np.int64)
        saturated = (running > 0) & (now_used >= s.saturated_share * running * request)
        desired[saturated] = np.maximum(desired[saturated], replicas[saturated] + s.saturated_step)
        shrink = ~grow & ~saturated & (util_down < s.target_util * (1 - s.tolerance))
        desired[shrink] = np.ceil(down_use[shrink] / (s.target_util * request[shrink])).astype(
            np.int64
        )
        desired = np.clip(desired, obs.service_min_replicas.astype(np.int64), self._max)
        delta = np.clip(desired - replicas, -s.max_step, s.max_step)
        since = obs.time_s - self._last_s
        ready = np.where(delta > 0, since >= s.cooldown_s, since >= s.down_cooldown_s)
        act = np.flatnonzero((delta != 0) & ready & (replicas > 0))
        out = []
        for i in act.tolist():
            self._last_s[i] = obs.time_s
            d = int(delta[i])
            out.append(
                Proposal(
                    ScaleService(service=int(i), delta_replicas=d),
                    "",
                    0,
                    Justification(
                        reason=(
                            f"service {i}: expected utilisation "
                            f"{(util_up if d > 0 else util_down)[i]:.0%} vs target "
                            f"{s.target_util:.0%}" + (" (saturated)" if saturated[i] else "")
                        ),
                        inputs={
                            "replicas": int(replicas[i]),
                            "running": int(running[i]),
                            "cpu_used": float(now_used[i]),
                            "expected_cpu": float((up_use if d > 0 else down_use)[i]),
                        },
                        expected_effect=f"{int(replicas[i]) + d} replicas near the target",
                    ),
                    0.9,
                )
            )
        return out
