"""Consolidation that plans: headroom from boot delay x demand growth, savings against disruption.

``policies.consolidation`` sized its headroom from a forecast of the *reservations*, which the
scaling and right-sizing agents change themselves: their steps looked like demand variance, the
headroom grew with them, and the energy agent first acted after about 35 minutes. This policy
keeps the same machinery (idle power-offs, FFD-checked drains, dwell) and changes what it plans
for and how it picks:

1. **Demand outside the agents' control.** The cluster forecast of CPU *used* (the workload's own
   load; ``used_forecast``/``used_std`` of the ``cluster`` finding) gives the growth expected
   over the horizon; the reservations placed now are only the floor that must still fit:
   ``need = (requested + pending) x max(1, (used_forecast + k_std x used_std) / used_now)``.
2. **Headroom from the boot delay.** The forecast's horizon is ``boot_delay_s`` plus one decision
   period (a machine powered on now serves after its boot, and the next decision comes a period
   later), so the growth in ``need`` is exactly the demand that can arrive before new capacity
   could. Capacity is kept at ``need / (1 - min_free_share)``: above the gate's own 10 % headroom
   guard, so its removals pass it.
3. **Power on ahead of a rise.** Below that target it powers machines on now, on the forecast,
   before reservations climb; pending work that waited ``pending_grace_s`` does so too.
4. **Savings against disruption** (Karpenter's consolidation: a node's deletion is scored by the
   pods it would evict against the price of the node it removes; karpenter.sh, designs/
   consolidation.md and concepts/disruption). Here savings = the machine's CPU capacity (idle
   power grows with the machine; ``sim.power``), disruption = the tasks a drain would evict plus,
   where the backend reports it (``core.observation.work_at_risk_s``), the batch work it would
   throw away, one task per ``work_per_task_s`` of run time: an evicted task starts over, so a
   machine whose tasks are about to finish costs completed work that a young one does not
   (Karpenter leaves such work alone by annotation, ``karpenter.sh/do-not-disrupt``).
   Drain candidates are ranked by ``savings / (1 + disruption)``; a drain that evicts more than
   ``ask_human_tasks`` tasks is proposed with ``ask_human`` set, and the gate escalates it to a
   person whatever its risk.

On a backend that places by reservations the staying machines are packed against what placement
counts (reservations for non-production work), but a drained machine's tasks move at their
requests: a task placed anew reserves its whole request until its reservation decays again. A
machine it drained is powered off once empty, whatever the band (it is no capacity, only idle
power).

Capacity above the target by ``hysteresis_share`` is removed down to it: the band keeps a
decision from undoing the last. With the gate's ``remaining_budget`` (``core.budget``) the plan
never counts on less demand than the gate's headroom guard believes, proposes no removal while
the guard would refuse every one, and no more than the blast-radius guard takes, leaving half
of the cluster-wide removal budget to repairs (healing's evictions of lost machines). None of
the shares is tuned toward a published energy figure.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from autoinfra.core.actions import DrainMachine, SetMachinePower
from autoinfra.core.budget import GateBudget
from autoinfra.core.observation import (
    Observation,
    placement_counted,
    runs_nothing,
    taken_after_moves,
    work_at_risk_s,
)
from autoinfra.core.proposal import Finding, Proposal
from autoinfra.policies.consolidation import (
    ConsolidationPolicy,
    ConsolidationSettings,
    first_fit_decreasing,
)

__all__ = ["PlannedConsolidationPolicy", "PlannedConsolidationSettings", "drain_score"]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class PlannedConsolidationSettings(ConsolidationSettings):
    # SimSettings.boot_delay_s's default; the Cluster Autoscaler FAQ: a new node takes 3-4 min
    boot_delay_s: float = 180.0
    decision_period_s: float = 60.0  # the energy agent's period
    # The Cluster Autoscaler removes up to 10 empty nodes per 10 s scan (--max-empty-bulk-delete,
    # --scan-interval; cluster-autoscaler/FAQ.md). This agent decides once a period, so it may
    # switch off as many empty machines a decision as the autoscaler would in that time (the
    # base policy's 10 a decision made it six times slower at emptying a lightly loaded cell)
    max_power_off: int = 60
    min_free_share: float = 0.15  # of capacity kept free for need: the gate's 10 % plus room
    hysteresis_share: float = 0.10  # capacity this far above the target is removed
    ask_human_tasks: float = 20.0  # a drain evicting more tasks than this is a person's call
    used_floor_share: float = 0.05  # usage below this share of reservations: growth not trusted
    repair_reserve_share: float = 0.5  # of the gate's cluster-wide removal budget, left to repairs
    # batch run time a drain throws away that weighs as one more task evicted: a stated weight
    # (an hour of lost work is as bad as one more restart), not fitted to any outcome
    work_per_task_s: float = 3600.0

    @property
    def horizon_s(self) -> float:
        return self.boot_delay_s + self.decision_period_s


def drain_score(
    capacity_cpu: F64,
    tasks: npt.NDArray[np.int32],
    work_at_risk: npt.NDArray[np.float32] | None = None,
    work_per_task_s: float = 3600.0,
) -> F64:
    """Savings over disruption per machine: its CPU capacity over (1 + the tasks it would evict
    + the batch work it would throw away, ``work_per_task_s`` of run time counting as a task)."""
    disruption = np.maximum(tasks.astype(np.float64), 0.0)
    if work_at_risk is not None:
        disruption = disruption + np.maximum(work_at_risk.astype(np.float64), 0.0) / work_per_task_s
    return capacity_cpu.astype(np.float64) / (1.0 + disruption)


class PlannedConsolidationPolicy(ConsolidationPolicy):
    policy_id = "consolidation.plan-v1"
    drain_planner = "FFD, ranked by savings over disruption"

    def __init__(
        self,
        settings: PlannedConsolidationSettings | None = None,
        *,
        budget: Callable[[], GateBudget] | None = None,
    ) -> None:
        super().__init__(settings or PlannedConsolidationSettings())
        self.budget = budget  # the gate's view of headroom: removals it would refuse are not made
        self.plan: PlannedConsolidationSettings = self.settings  # type: ignore[assignment]
        self._ask: dict[int, float] = {}  # drains to hand to a person: machine -> disruption
        self.last_need: dict[str, float] = {}

    def decide(self, observation: Observation, findings: Sequence[Finding]) -> list[Proposal]:
        s = self.plan
        obs = observation
        now = obs.time_s
        on, usable, booting = self._track(obs)
        cap = obs.cpu_capacity.astype(np.float64)
        capacity = float(cap[usable].sum() + cap[booting].sum())
        counted = placement_counted(obs)
        reserved = float(counted[on].sum()) + float(obs.pending_cpu)
        growth = self._growth(obs, findings, reserved)
        need = reserved * growth
        budget = self.budget() if self.budget is not None else None
        if budget is not None and budget.believed_demand_cpu is not None:
            # the gate judges removals on the demand it believes: never plan below it
            need = max(need, budget.believed_demand_cpu)
        target = need / (1.0 - s.min_free_share)
        free_share = (capacity - need) / capacity if capacity > 0 else -1.0
        inputs = {
            "need_cpu": round(need, 4),
            "reserved_cpu": round(reserved, 4),
            "growth": round(growth, 4),
            "horizon_s": s.horizon_s,
            "capacity_cpu": round(capacity, 4),
            "target_cpu": round(target, 4),
            "free_share": round(free_share, 4),
        }
        self.last_need = dict(inputs)
        dwell_ok = now - self._changed_s >= s.min_dwell_s
        waited = self._pending_since is not None and now - self._pending_since >= s.pending_grace_s
        if capacity < target - 1e-9 or (waited and not booting.any()):
            want = target - capacity
            if waited:
                want = max(want, float(obs.pending_cpu), 1e-9)
            offs = self._drained_offs(obs, dwell_ok, inputs)
            ons = self._power_on(obs, want, inputs)
            if budget is None:
                return ons + offs
            ons = self._within_rate(budget, ons)
            rest = dataclasses.replace(budget, actions_left=budget.actions_left - len(ons))
            return ons + self._within_budget(rest, offs, obs)
        if capacity > target * (1.0 + s.hysteresis_share):
            if budget is not None and budget.removals_blocked:
                return []  # the gate would refuse every removal on this picture: wait
            out = self._reduce(obs, capacity - target, usable, dwell_ok, inputs)
        else:
            out = self._drained_offs(obs, dwell_ok, inputs)
        return self._within_budget(budget, out, obs)

    def _within_budget(
        self, budget: GateBudget | None, wanted: list[Proposal], obs: Observation
    ) -> list[Proposal]:
        """The removals the blast-radius and rate guards will take from this agent now, keeping
        ``repair_reserve_share`` of the cluster-wide budget for the repairs it counts (isolating
        an intruded machine, killing a rogue process, draining one a hog keeps busy; evicting a
        lost machine's tasks is outside it). A machine this agent already acted on in
        the window (the power-off of a machine it drained) is no new machine for the guard, and
        switching off a machine that runs nothing is none at all (``oversight.guards
        .counts_for_radius``)."""
        if budget is None:
            return wanted
        if budget.machines_left is None or budget.removals_left is None:
            return self._within_rate(budget, wanted)
        reserve = int(np.ceil(self.plan.repair_reserve_share * (budget.machines_limit or 0)))
        room = max(0, min(budget.machines_left, budget.removals_left - reserve))
        out: list[Proposal] = []
        for p in wanted:
            act = p.action
            if isinstance(act, SetMachinePower) and not act.on and runs_nothing(obs, act.machine):
                out.append(p)
                continue
            if p.action.target not in budget.per_target_used:
                if room <= 0:
                    continue
                room -= 1
            out.append(p)
        return self._within_rate(budget, out)

    @staticmethod
    def _within_rate(budget: GateBudget, wanted: list[Proposal]) -> list[Proposal]:
        """What the rate guard will still take from this agent in its window: power changes
        first (a drained machine left on is idle power), then drains, each counted twice (the
        drain now, and the power-off once the machine is empty)."""
        left = budget.actions_left
        out: list[Proposal] = []
        for p in sorted(wanted, key=lambda q: isinstance(q.action, DrainMachine)):
            cost = 2 if isinstance(p.action, DrainMachine) else 1
            if cost > left:
                continue
            left -= cost
            out.append(p)
        return out

    def _growth(self, obs: Observation, findings: Sequence[Finding], reserved: float) -> float:
        """How much the workload's own load is forecast to grow over the horizon (>= 1)."""
        s = self.plan
        fc = next(
            (f for f in findings if f.kind == "demand_forecast" and f.target == "cluster"), None
        )
        if fc is None or "used_forecast" not in fc.detail:
            return 1.0
        used_now = float(obs.cpu_used[obs.powered].sum())
        if used_now <= s.used_floor_share * max(reserved, 1e-12):
            return 1.0  # almost nothing runs yet: a ratio of tiny numbers says nothing
        high = float(fc.detail["used_forecast"]) + s.k_std * float(fc.detail.get("used_std", 0.0))
        return max(1.0, high / used_now)

    def _choose_drains(
        self, obs: Observation, candidates: I64, stay_base: npt.NDArray[np.bool_], budget: float
    ) -> list[int]:
        """Best savings over disruption first, while FFD still places every drained machine's
        load in the room of the machines that stay; drains above the threshold ask a person."""
        s = self.plan
        cap = obs.cpu_capacity.astype(np.float64)
        # the staying machines hold what placement counts; a drained machine's tasks are placed
        # anew, and a task placed anew reserves its whole request: they move at their requests
        held_cpu = placement_counted(obs).astype(np.float64)
        held_mem = placement_counted(obs, "mem").astype(np.float64)
        req_cpu = obs.cpu_requested.astype(np.float64)
        req_mem = obs.mem_requested.astype(np.float64)
        score = drain_score(cap, obs.tasks_running, work_at_risk_s(obs), s.work_per_task_s)
        candidates = candidates[np.argsort(-score[candidates], kind="stable")]
        room = 1.0 - s.bin_headroom_share
        drains: list[int] = []
        self._ask = {}
        for m in candidates.tolist():
            if len(drains) >= s.max_drains:
                break
            if float(cap[m]) > budget:
                continue  # a smaller machine may still fit the budget
            trial = [*drains, m]
            stay = stay_base.copy()
            stay[trial] = False
            bins_cpu = np.maximum(0.0, cap * room - held_cpu)[stay]
            bins_mem = np.maximum(0.0, obs.mem_capacity.astype(np.float64) * room - held_mem)[stay]
            if first_fit_decreasing(req_cpu[trial], req_mem[trial], bins_cpu, bins_mem) is None:
                continue
            if not self._memory_room(obs, stay, trial):
                continue
            drains.append(m)
            budget -= float(cap[m])
            tasks = float(obs.tasks_running[m])
            if tasks > s.ask_human_tasks:
                self._ask[m] = tasks
        return drains

    def _memory_room(self, obs: Observation, stay: npt.NDArray[np.bool_], trial: list[int]) -> bool:
        """Whether the machines that stay keep ``min_free_share`` of their memory free for what
        is placed, what waits and the drained tasks at their requests: placed by requests,
        memory is what binds once CPU is placed by reservations (the gate checks the same)."""
        moving = np.zeros(obs.n_machines, dtype=bool)
        moving[trial] = True
        demand = taken_after_moves(obs, moving, "mem")
        cap = float(obs.mem_capacity[stay].sum())
        return cap > 0 and (cap - demand) / cap >= self.plan.min_free_share

    def _proposal(
        self,
        action: SetMachinePower | DrainMachine,
        now: float,
        reason: str,
        inputs: dict[str, float],
    ) -> Proposal:
        p = super()._proposal(action, now, reason, inputs)
        if not isinstance(action, DrainMachine) or action.machine not in self._ask:
            return p
        tasks = self._ask[action.machine]
        # the gate escalates a proposal that asks for a person, whatever its risk
        why = dataclasses.replace(
            p.justification,
            reason=f"{reason}; evicts {tasks:.0f} tasks, above {self.plan.ask_human_tasks:.0f}: "
            "a person decides",
            inputs={**p.justification.inputs, "disruption_tasks": tasks, "ask_human": True},
        )
        return dataclasses.replace(p, justification=why)
