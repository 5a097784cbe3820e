"""Request right-sizing: each service's requests follow a high percentile of its observed usage.

People set requests with a wide margin, so most of a reservation sits idle: jobs whose limits
people set have 46 % slack, jobs Google's Autopilot sizes 23 % (Rzadca et al., "Autopilot:
workload autoscaling at Google", EuroSys 2020). Autopilot's moving-window recommenders set a
limit from a high percentile of recent usage plus a safety margin (the peak for memory, which
cannot be throttled, only killed); Kubernetes' Vertical Pod Autoscaler does the same with the
90th percentile plus 15 % (``published-figures.md``). This policy is that recommender:

- **Memory** of every service: ``peak(memory use of its running replicas over window_s) x
  (1 + margin)``. Memory is not compressible: a replica above its request is killed.
- **CPU** only of services at their minimum replica count: the horizontal planner
  (``policies.scaling.plan``) already sizes the others' reservation by changing replicas, and two
  controllers on one quantity fight. The percentile is of demand per running replica (usage when
  no demand metric is reported) and the margin is ``max(margin, 1 / target_util - 1)``, so the
  planner's target utilisation holds at the percentile and it has no reason to scale back up.
- **Budget**: with the gate's ``remaining_budget`` (``core.budget``), no more proposals than the
  rate guard still takes; the largest reservation changes go first.
- **Hysteresis**: a change smaller than ``min_change_share`` is not made, a service is resized at
  most once per ``min_interval_s`` and not within ``settle_s`` of a change of its replicas, and
  a cut takes at most ``max_cut_share`` of the request at once (the rest follows next time, if
  usage still says so).

Kubernetes-defaults does not right-size (the VPA is not part of a default cluster). What cuts
cost is measured by the simulator (``sim.resize``: throttled service-ticks and OOM kills).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from autoinfra.core.actions import MAX_REQUEST, ResizeRequests
from autoinfra.core.budget import GateBudget
from autoinfra.core.errors import ConfigError
from autoinfra.core.observation import Observation
from autoinfra.core.proposal import Finding, Justification, Outcome, Proposal

__all__ = ["RightSizingPolicy", "RightSizingSettings"]

F64 = npt.NDArray[np.float64]

MIN_REQUEST = 1e-4  # no request below this: the trace's smallest requests are about 6e-5


@dataclass(frozen=True, slots=True)
class RightSizingSettings:
    window_s: float = 900.0  # usage history a recommendation reads
    min_samples: int = 5  # no recommendation before this many looks at the service
    cpu_quantile: float = 0.9  # the VPA's target percentile
    margin: float = 0.15  # the VPA's safety margin
    target_util: float = 0.7  # the horizontal planner's target (policies.scaling.plan)
    min_change_share: float = 0.1  # smaller changes are not worth a resize
    max_cut_share: float = 0.5  # a cut takes at most half the request at once
    min_interval_s: float = 600.0  # between two resizes of one service
    max_proposals: int = 32  # per decision
    # a service whose replica count changed this recently is left alone: its per-replica usage
    # is still moving, and the scaler holds it at the arbiter for as long (hold_s 120 s)
    settle_s: float = 120.0
    confidence: float = 0.8

    def __post_init__(self) -> None:
        if not 0.0 < self.cpu_quantile <= 1.0:
            raise ConfigError(f"expected (0, 1], got {self.cpu_quantile}", field="cpu_quantile")
        if not 0.0 < self.max_cut_share < 1.0:
            raise ConfigError(f"expected (0, 1), got {self.max_cut_share}", field="max_cut_share")
        if self.min_samples < 1 or self.window_s <= 0:
            raise ConfigError("expected window_s > 0 and min_samples >= 1", field="window_s")


class RightSizingPolicy:
    """A ``core.Policy`` proposing ``ResizeRequests`` from usage history (vectorised)."""

    policy_id = "rightsizing.percentile-v1"

    def __init__(
        self,
        settings: RightSizingSettings | None = None,
        *,
        budget: Callable[[], GateBudget] | None = None,
    ) -> None:
        self.settings = settings or RightSizingSettings()
        self.budget = budget  # the gate's remaining budget: propose only what it will take
        self._times: list[float] = []
        self._cpu: list[F64] = []  # CPU demand per running replica, per service
        self._mem: list[F64] = []  # the largest running replica's memory use, per service
        self._last_s: F64 = np.zeros(0)
        self._in_flight: set[int] = set()
        self._replicas: npt.NDArray[np.int64] = np.zeros(0, dtype=np.int64)
        self._moved_s: F64 = np.zeros(0)  # when each service's replica count last changed

    def decide(self, observation: Observation, findings: Sequence[Finding]) -> list[Proposal]:
        s = self.settings
        obs = observation
        n = int(obs.service_ids.shape[0])
        mem_req = obs.extra.get("service_mem_request")
        mem_peak = obs.extra.get("service_mem_peak")
        if not (isinstance(mem_req, np.ndarray) and isinstance(mem_peak, np.ndarray)):
            return []  # this backend reports no per-replica memory: nothing to size from
        if mem_req.shape != (n,) or mem_peak.shape != (n,):
            return []
        if self._last_s.shape[0] != n:
            self._times, self._cpu, self._mem = [], [], []
            self._last_s = np.full(n, -np.inf)
            self._replicas = obs.service_replicas.astype(np.int64)
            self._moved_s = np.full(n, -np.inf)
        now_replicas = obs.service_replicas.astype(np.int64)
        self._moved_s[now_replicas != self._replicas] = obs.time_s
        self._replicas = now_replicas
        self._remember(obs, mem_peak.astype(np.float64))
        if len(self._times) < s.min_samples:
            return []
        running = obs.service_running.astype(np.int64)
        cpu_hist = np.stack(self._cpu)
        mem_hist = np.stack(self._mem)
        seen = (mem_hist > 0).sum(axis=0) >= s.min_samples
        # the percentile of the samples where replicas ran; a service never seen running has none
        ran = cpu_hist > 0
        samples = np.where(ran, cpu_hist, np.nan)
        samples[:, ~ran.any(axis=0)] = 0.0
        cpu_p = np.nan_to_num(np.nanquantile(samples, s.cpu_quantile, axis=0), nan=0.0)
        cpu_margin = max(s.margin, 1.0 / s.target_util - 1.0)
        cur_cpu = obs.service_cpu_request.astype(np.float64)
        cur_mem = mem_req.astype(np.float64)
        at_min = obs.service_replicas <= obs.service_min_replicas
        new_cpu = np.where(at_min & (cpu_p > 0), cpu_p * (1.0 + cpu_margin), cur_cpu)
        new_mem = mem_hist.max(axis=0) * (1.0 + s.margin)
        # a cut takes at most max_cut_share at once; growth is not limited (the gate's headroom
        # guard judges it), since a request below usage costs kills or throttling
        new_cpu = np.clip(np.maximum(new_cpu, cur_cpu * (1 - s.max_cut_share)), MIN_REQUEST,
                          MAX_REQUEST)  # fmt: skip
        new_mem = np.clip(np.maximum(new_mem, cur_mem * (1 - s.max_cut_share)), MIN_REQUEST,
                          MAX_REQUEST)  # fmt: skip
        rel_cpu = np.abs(new_cpu - cur_cpu) / np.maximum(cur_cpu, 1e-12)
        rel_mem = np.abs(new_mem - cur_mem) / np.maximum(cur_mem, 1e-12)
        worth = (rel_cpu >= s.min_change_share) | (rel_mem >= s.min_change_share)
        # an unchanged resource keeps its exact request (no drift from re-proposing it)
        new_cpu = np.where(rel_cpu >= s.min_change_share, new_cpu, cur_cpu)
        new_mem = np.where(rel_mem >= s.min_change_share, new_mem, cur_mem)
        ready = obs.time_s - self._last_s >= s.min_interval_s
        ready &= obs.time_s - self._moved_s >= s.settle_s
        live = (obs.service_replicas > 0) & (running > 0) & seen & (cur_cpu > 0) & (cur_mem > 0)
        busy = np.zeros(n, dtype=bool)
        busy[[i for i in self._in_flight if i < n]] = True
        pick = np.flatnonzero(live & worth & ready & ~busy)
        if pick.shape[0] == 0:
            return []
        # the largest reservations freed (or needed) first
        replicas = obs.service_replicas.astype(np.float64)
        gain = np.abs(cur_cpu - new_cpu) * replicas
        pick = pick[np.argsort(-gain[pick], kind="stable")]
        cap = s.max_proposals
        budget = self.budget() if self.budget is not None else None
        if budget is not None:
            cap = min(cap, budget.actions_left)
            pick = pick[[budget.target_left(f"service:{i}") > 0 for i in pick.tolist()]]
        out = []
        for i in pick[: max(cap, 0)].tolist():
            self._last_s[i] = obs.time_s
            self._in_flight.add(i)
            out.append(self._proposal(i, obs, cur_cpu, new_cpu, cur_mem, new_mem, cpu_p, at_min))
        return out

    def observe_outcomes(self, outcomes: Sequence[Outcome], proposals: Sequence[Proposal]) -> None:
        for p in proposals:
            if isinstance(p.action, ResizeRequests):
                self._in_flight.discard(p.action.service)

    def _remember(self, obs: Observation, mem_peak: F64) -> None:
        running = np.maximum(obs.service_running.astype(np.float64), 0)
        use = obs.service_cpu_used.astype(np.float64)
        demand = obs.extra.get("service_cpu_demand")
        if isinstance(demand, np.ndarray) and demand.shape == use.shape:
            use = np.maximum(use, demand.astype(np.float64))
        per = np.divide(use, running, out=np.zeros_like(use), where=running > 0)
        self._times.append(obs.time_s)
        self._cpu.append(per)
        self._mem.append(mem_peak)
        horizon = obs.time_s - self.settings.window_s
        while self._times and self._times[0] < horizon:
            self._times.pop(0)
            self._cpu.pop(0)
            self._mem.pop(0)

    def _proposal(
        self,
        i: int,
        obs: Observation,
        cur_cpu: F64,
        new_cpu: F64,
        cur_mem: F64,
        new_mem: F64,
        cpu_p: F64,
        at_min: npt.NDArray[np.bool_],
    ) -> Proposal:
        s = self.settings
        cpu_part = (
            f"CPU p{s.cpu_quantile * 100:.0f} {cpu_p[i]:.4f} per replica at its minimum replicas"
            if at_min[i]
            else "CPU left to the replica planner"
        )
        return Proposal(
            ResizeRequests(service=i, cpu_request=float(new_cpu[i]), mem_request=float(new_mem[i])),
            "",
            0,
            Justification(
                reason=(
                    f"service:{i}: {cpu_part}; memory peak {new_mem[i] / (1 + s.margin):.4f} "
                    f"over {s.window_s:g} s, + {s.margin:.0%} margin"
                ),
                inputs={
                    "policy": self.policy_id,
                    "cpu_request": round(float(cur_cpu[i]), 6),
                    "mem_request": round(float(cur_mem[i]), 6),
                    "replicas": int(obs.service_replicas[i]),
                    "samples": len(self._times),
                },
                expected_effect=(
                    f"requests cpu {cur_cpu[i]:.4f} -> {new_cpu[i]:.4f}, memory "
                    f"{cur_mem[i]:.4f} -> {new_mem[i]:.4f} per replica"
                ),
            ),
            s.confidence,
        )
