"""Scaling in one step: each service's target replicas, ranked by benefit, within the gate's budget.

The Q-table alone moved a service one or two replicas per 15 s decision, so following a load
change took many decisions, and the gate's rate guard refused most of them (254,032 of 282,437
on the default study): nothing told the policy what the gate would accept. The HPA sets its
target in one step. This planner does the same and asks the gate first:

1. **Targets** come from a :class:`TargetSource`: :class:`ForecastTargets` (the HPA's ratio rule
   on forecast demand) or :class:`QTableTargets` (the learned table's greedy choice rolled out to
   where it would stop, so its target is reached in one step, not one replica per decision).
2. **Stabilisation**: a scale-down uses the highest target of the last ``down_stabilisation_s``
   (the HPA's 300 s window), so a dip the trend says will pass does not spend budget twice.
3. **Benefit**, in CPU: a scale-up is worth the demand it newly serves (SLO first); a scale-down
   the reservation it frees, times ``down_weight``. Proposals are ranked by it.
4. **Budget** (``core.budget.GateBudget`` from the gate, read only): at most the requests the rate
   guard still allows this agent, none on a service whose per-target budget is spent, and
   scale-downs only while ``down_reserve_share`` of the cap stays for scale-ups. A step is capped
   at the largest size the risk model approves at once (a bigger one would wait for a human);
   a one-replica step that is already too big for that still goes, and escalates.
5. **One in flight per service**: a service with a proposal not yet answered is left alone, so an
   escalated step is never doubled by the next decision.

Settings are our choices unless cited; ``target_util`` and the tolerance are the HPA's defaults
style (``published-figures.md``: ratio rule, 0.1 tolerance, 300 s down-stabilisation).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from autoinfra.core.actions import ScaleService
from autoinfra.core.budget import GateBudget
from autoinfra.core.observation import Observation
from autoinfra.core.proposal import Finding, Justification, Outcome, Proposal
from autoinfra.policies.scaling.encoding import encode
from autoinfra.policies.scaling.qtable import QTablePolicy
from autoinfra.policies.scaling.space import (
    ReplicaBounds,
    clamp_deltas,
    feasible_actions,
    forecasts_by_service,
    service_view,
)

__all__ = [
    "ForecastTargets",
    "QTableTargets",
    "ScalingPlanSettings",
    "ScalingPlanner",
    "TargetSource",
    "Targets",
]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class ScalingPlanSettings:
    target_util: float = 0.7  # used / requested of a service's replicas
    tolerance: float = 0.1  # the HPA's: no change within 10 % of the target
    k_std: float = 1.0  # scale up for forecast + k std
    saturated_growth: float = 0.5  # replicas at their limit with no demand metric: +50 %
    down_stabilisation_s: float = 300.0  # the HPA's scale-down stabilisation window
    down_weight: float = 0.5  # a CPU freed is worth half a CPU of demand served
    down_reserve_share: float = 0.5  # scale-downs leave this share of the cap for scale-ups
    max_proposals: int = 256  # per decision: bounds latency on a full cell
    forecast_confidence: float = 0.9
    in_flight_timeout_s: float = 1200.0  # forget an unanswered proposal after this (> TTL 15 min)
    max_rollout_steps: int = 64  # Q-table rollout: at most this many greedy steps per service


@dataclass(frozen=True, slots=True, eq=False)
class Targets:
    """Each live service's target, aligned with ``index`` (services with replicas > 0)."""

    index: I64
    replicas: I64
    target: I64
    request: F64  # CPU request per replica
    expected_cpu: F64  # the demand the target was sized for
    confidence: F64  # 0..1 per service
    reason: tuple[str, ...]  # how the target was chosen, per service


class TargetSource(Protocol):
    source_id: str

    def targets(self, observation: Observation, findings: Sequence[Finding]) -> Targets: ...


def _demand(obs: Observation) -> F64:
    """CPU the services want: what they use, or the demand metric when the backend reports one."""
    used = obs.service_cpu_used.astype(np.float64)
    demand = obs.extra.get("service_cpu_demand")
    if isinstance(demand, np.ndarray) and demand.shape == used.shape:
        return np.maximum(used, demand.astype(np.float64))
    return used


class ForecastTargets:
    """The HPA's ratio rule on forecast demand: ``ceil(expected / (target_util x request))``."""

    source_id = "forecast (HPA ratio rule)"

    def __init__(
        self, settings: ScalingPlanSettings | None = None, bounds: ReplicaBounds | None = None
    ) -> None:
        self.settings = settings or ScalingPlanSettings()
        self.bounds = bounds if bounds is not None else ReplicaBounds()

    def targets(self, observation: Observation, findings: Sequence[Finding]) -> Targets:
        s = self.settings
        obs = observation
        hi_all = self.bounds(obs)
        live = np.flatnonzero(obs.service_replicas > 0)
        now = _demand(obs)[live]
        fc, sd = now.copy(), np.zeros_like(now)
        pos = {int(v): k for k, v in enumerate(live.tolist())}
        for svc, detail in forecasts_by_service(findings).items():
            k = pos.get(svc)
            if k is not None:
                fc[k] = float(detail.get("cpu_forecast", now[k]))
                sd[k] = float(detail.get("cpu_std", 0.0))
        replicas = obs.service_replicas[live].astype(np.int64)
        running = np.maximum(obs.service_running[live].astype(np.int64), 0)
        request = np.maximum(obs.service_cpu_request[live].astype(np.float64), 1e-9)
        up_use = np.maximum(now, fc + s.k_std * sd)
        down_use = np.maximum(now, fc)
        base = np.maximum(running, 1) * request
        want_up = np.ceil(up_use / (s.target_util * request)).astype(np.int64)
        want_down = np.ceil(down_use / (s.target_util * request)).astype(np.int64)
        target = replicas.copy()
        grow = up_use / base > s.target_util * (1 + s.tolerance)
        target[grow] = np.maximum(want_up[grow], replicas[grow] + 1)
        used = obs.service_cpu_used[live].astype(np.float64)
        saturated = (running > 0) & (used >= 0.95 * running * request) & (now <= used)
        grown = np.ceil(replicas * (1 + s.saturated_growth)).astype(np.int64)
        target[saturated] = np.maximum(target[saturated], grown[saturated])
        shrink = ~grow & ~saturated & (down_use / base < s.target_util * (1 - s.tolerance))
        target[shrink] = np.minimum(want_down[shrink], replicas[shrink])
        lo = obs.service_min_replicas[live].astype(np.int64)
        hi = np.maximum(np.asarray(hi_all, dtype=np.int64)[live], lo)
        target = np.clip(target, lo, hi)
        expected = np.where(target >= replicas, up_use, down_use)
        reasons = tuple(
            f"forecast {e:.3f} CPU at {s.target_util:.0%} of {r:.3f} per replica"
            + (" (saturated)" if sat else "")
            for e, r, sat in zip(
                expected.tolist(), request.tolist(), saturated.tolist(), strict=True
            )
        )
        conf = np.full(live.shape[0], s.forecast_confidence)
        return Targets(live.astype(np.int64), replicas, target, request, expected, conf, reasons)


class QTableTargets:
    """The learned table's target: its greedy step, repeated on the state each step would leave.

    Demand is held at today's (the forecast's trend stays as it is): each step changes only the
    replica count, so the utilisation a step leaves is ``demand / (replicas x request)``. The
    rollout stops where the table prefers no change, turns back, or after ``max_rollout_steps``.

    ``envelope`` (a :class:`ForecastTargets`) bounds the table from above by the HPA rule on
    forecast demand: the target is the smaller of the two, so the table can be more frugal than
    the rule (it learned where the rule's margin is more than the service needs), never less.
    A table learned on one window meets states it rarely saw on another and
    extrapolates: on parts 2-3 of the shipped slice with stand-ins measured on parts 0-1 it grew
    services by 3,473 replicas in the lead-in (where the HPA shed 4,205) and then held them,
    filled the cell's memory and left nothing to switch off.
    """

    source_id = "scaling.qtable-v1"  # the learned table's policy id (agents name it)

    def __init__(
        self,
        policy: QTablePolicy,
        settings: ScalingPlanSettings | None = None,
        *,
        envelope: ForecastTargets | None = None,
    ) -> None:
        self.policy = policy
        self.settings = settings or ScalingPlanSettings()
        self.envelope = envelope
        if envelope is not None:  # the agents' description says what bounds the table
            self.source_id = f"{QTableTargets.source_id} within the forecast envelope"

    def targets(self, observation: Observation, findings: Sequence[Finding]) -> Targets:
        q = self.policy
        view = service_view(observation, findings, q.bounds(observation))
        live = view.index
        demand = _demand(observation)[live]
        request = np.maximum(observation.service_cpu_request[live].astype(np.float64), 1e-12)
        used = observation.service_cpu_used[live].astype(np.float64)
        forecast = view.forecast_utilisation * view.replicas * request
        std = view.forecast_rel_std * view.replicas * request
        total = np.zeros(live.shape[0], dtype=np.int64)
        direction = np.zeros(live.shape[0], dtype=np.int64)
        active = np.ones(live.shape[0], dtype=bool)
        conf = np.zeros(live.shape[0])
        v = view
        for step in range(self.settings.max_rollout_steps):
            if not active.any():
                break
            states = encode(v, q.encoding)
            chosen = q.greedy(states, feasible_actions(v))
            d = np.where(active, clamp_deltas(v, chosen), 0)
            sign = np.sign(d)
            turned = (direction != 0) & (sign != 0) & (sign != direction)
            d[turned] = 0
            if step == 0:
                conf = np.minimum(1.0, q.visits[states, chosen] / 100.0)
                direction = sign
            active &= d != 0
            total += d
            replicas = v.replicas + d
            reserved = np.maximum(replicas * request, 1e-12)
            served = np.minimum(demand, reserved)
            v = dataclasses.replace(
                v,
                replicas=replicas,
                running=replicas,  # a step's replicas are planned as placed
                utilisation=served / reserved,
                forecast_utilisation=forecast / reserved,
                trend=(forecast - used) / reserved,
                forecast_rel_std=std / reserved,
            )
        target = view.replicas + total
        rolled = target.copy()
        if self.envelope is not None:
            # both list the services with replicas > 0 in id order (space.service_view), so the
            # rule's targets align with the table's; the table may be more frugal, never less
            target = np.minimum(target, self.envelope.targets(observation, findings).target)
        reasons = tuple(
            f"Q-table {q.encoding.id} greedy rollout: {r} -> {w} replicas"
            + (f", {t} within the forecast envelope" if t != w else "")
            for r, w, t in zip(
                view.replicas.tolist(), rolled.tolist(), target.tolist(), strict=True
            )
        )
        return Targets(live, view.replicas, target, request, demand, conf, reasons)


class ScalingPlanner:
    """A ``core.Policy``: one planned step per service, ranked, within the gate's budget."""

    policy_id = "scaling.plan-v1"

    def __init__(
        self,
        source: TargetSource | None = None,
        *,
        budget: Callable[[], GateBudget] | None = None,
        settings: ScalingPlanSettings | None = None,
    ) -> None:
        self.settings = settings or ScalingPlanSettings()
        # the forecast's HPA rule unless a source is given (the preset gives the Q-table's)
        self.source: TargetSource = source or ForecastTargets(self.settings)
        self.budget = budget  # None: no gate to ask (the plan then only ranks and caps itself)
        self._history: list[tuple[float, F64]] = []  # (time, target per service index)
        self._in_flight: dict[int, float] = {}  # service -> when its proposal was made
        self.last_plan: dict[str, int] = {}  # what the last decision wanted, planned and left out

    @property
    def summary(self) -> str:
        """The planner and where its targets come from (agents put it in their description)."""
        return f"{self.policy_id} over {self.source.source_id}"

    def decide(self, observation: Observation, findings: Sequence[Finding]) -> list[Proposal]:
        s = self.settings
        obs = observation
        now = obs.time_s
        t = self.source.targets(obs, findings)
        n = int(obs.service_ids.shape[0])
        target = self._stabilised(now, n, t)
        delta = target - t.replicas
        self._in_flight = {
            k: at for k, at in self._in_flight.items() if now - at < s.in_flight_timeout_s
        }
        busy = np.array([int(i) in self._in_flight for i in t.index.tolist()], dtype=bool)
        want = np.flatnonzero((delta != 0) & ~busy)
        self.last_plan = {"wanted": int(want.shape[0]), "planned": 0, "over_budget": 0}
        if want.shape[0] == 0:
            return []
        served_now = np.minimum(t.expected_cpu, np.maximum(t.replicas, 0) * t.request)
        served_then = np.minimum(t.expected_cpu, np.maximum(target, 0) * t.request)
        freed = np.maximum(t.replicas - target, 0) * t.request
        benefit = np.where(delta > 0, served_then - served_now, s.down_weight * freed)
        order = want[np.argsort(-benefit[want], kind="stable")]
        budget = self.budget() if self.budget is not None else None
        left = budget.actions_left if budget is not None else s.max_proposals
        reserve = math.ceil(s.down_reserve_share * budget.actions_cap) if budget else 0
        out: list[Proposal] = []
        for k in order.tolist():
            if len(out) >= min(left, s.max_proposals):
                break
            d = int(delta[k])
            svc = int(t.index[k])
            target_name = f"service:{svc}"
            if budget is not None:
                if budget.target_left(target_name) <= 0:
                    continue
                if d < 0 and left - len(out) <= reserve:
                    continue  # keep the rest of the window for scale-ups
                d = self._capped(d, int(t.replicas[k]), float(t.confidence[k]), budget)
            out.append(self._proposal(t, k, d, int(target[k]), float(benefit[k])))
            self._in_flight[svc] = now
        self.last_plan["planned"] = len(out)
        self.last_plan["over_budget"] = int(want.shape[0]) - len(out)
        return out

    def observe_outcomes(self, outcomes: Sequence[Outcome], proposals: Sequence[Proposal]) -> None:
        for p in proposals:
            if isinstance(p.action, ScaleService):
                self._in_flight.pop(p.action.service, None)

    # -- the parts -------------------------------------------------------------------------------
    def _stabilised(self, now: float, n: int, t: Targets) -> I64:
        """Scale-downs take the highest target of the stabilisation window (scale-ups at once)."""
        full = np.full(n, -1.0)
        full[t.index] = t.target
        horizon = now - self.settings.down_stabilisation_s
        self._history = [(at, h) for at, h in self._history if at > horizon and h.shape[0] == n]
        self._history.append((now, full))
        peak = np.max(np.stack([h for _, h in self._history]), axis=0)[t.index]
        down = t.target < t.replicas
        out = t.target.copy()
        out[down] = np.minimum(t.replicas[down], np.maximum(t.target[down], peak[down]))
        return out.astype(np.int64)

    @staticmethod
    def _capped(delta: int, replicas: int, confidence: float, budget: GateBudget) -> int:
        """The step, no larger than the risk model approves at once (at least one replica)."""
        share = budget.max_step_share(confidence)
        largest = max(1, math.floor(share * max(replicas, 1)))
        return max(-largest, min(largest, delta))

    def _proposal(self, t: Targets, k: int, d: int, target: int, benefit: float) -> Proposal:
        svc = int(t.index[k])
        rep = int(t.replicas[k])
        full = target - rep
        step = "" if d == full else f" (first {d:+d} of {full:+d}: larger steps need a human)"
        return Proposal(
            ScaleService(service=svc, delta_replicas=d),
            "",
            0,
            Justification(
                reason=f"service:{svc}: target {target} replicas; {t.reason[k]}{step}",
                inputs={
                    "policy": self.summary,
                    "replicas": rep,
                    "target": target,
                    "expected_cpu": round(float(t.expected_cpu[k]), 6),
                    "request_cpu": round(float(t.request[k]), 6),
                    "benefit_cpu": round(benefit, 6),
                },
                expected_effect=f"replicas {rep} -> {rep + d} (target {target})",
            ),
            float(t.confidence[k]),
        )
