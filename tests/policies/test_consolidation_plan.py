"""Planned consolidation: headroom from boot delay x usage growth, power on ahead of a rise,
never below the headroom, savings against disruption, and a person for disruptive drains."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from types import MappingProxyType

import numpy as np
import pytest

from autoinfra.core.actions import Action, DrainMachine, SetMachinePower
from autoinfra.core.budget import GateBudget
from autoinfra.core.clock import SimClock
from autoinfra.core.observation import MachineState
from autoinfra.core.proposal import Decision, Finding
from autoinfra.oversight.gate import Gate, GateSettings
from autoinfra.policies.consolidation_plan import (
    PlannedConsolidationPolicy,
    PlannedConsolidationSettings,
    drain_score,
)
from tests.agents.fakes import FakeSim
from tests.oversight.observations import ScriptedSensor

SETTINGS = PlannedConsolidationSettings(idle_s=60.0, max_drains=3)


def _usage(world: FakeSim, used_forecast: float, std: float = 0.0) -> Finding:
    return Finding("demand_forecast", "cluster", 0.0, world.now_s,
                   {"cpu_forecast": 0.0, "cpu_std": 0.0, "used_forecast": used_forecast,
                    "used_std": std})  # fmt: skip


def _capacity_after(world: FakeSim, actions: Sequence[Action]) -> float:
    gone = {a.machine for a in actions if isinstance(a, (DrainMachine, SetMachinePower))}
    on = (world.state == MachineState.ON) & world.schedulable
    keep = [m for m in np.flatnonzero(on).tolist() if m not in gone]
    return float(world.cpu_capacity[keep].sum())


def test_never_removes_below_the_headroom_it_plans_for() -> None:
    world = FakeSim(n_machines=20)
    world.tasks[:] = 2  # 0.1 of 0.5 requested: lots to consolidate
    world.tasks[14:] = 0
    policy = PlannedConsolidationPolicy(SETTINGS)
    policy.decide(world.observe(), [])
    world.clock.advance(60)
    obs = world.observe()
    used = float(obs.cpu_used[obs.powered].sum())
    out = [p.action for p in policy.decide(obs, [_usage(world, used * 1.5)])]
    assert out, "an idle cell is consolidated in its first decisions"
    need = policy.last_need["need_cpu"]
    # the growth of usage, applied to the reservations placed now (the floor that must fit)
    assert need == pytest.approx(float(obs.cpu_requested.sum()) * 1.5, abs=1e-4)
    after = _capacity_after(world, out)
    assert after >= need / (1 - SETTINGS.min_free_share) - 1e-6


def test_powers_on_ahead_of_a_forecast_rise_not_on_reservations() -> None:
    world = FakeSim(n_machines=10)
    world.state[6:] = MachineState.OFF
    world.tasks[:6] = 6  # 0.3 of 0.5 requested on the six that are on: 40 % free
    policy = PlannedConsolidationPolicy(SETTINGS)
    obs = world.observe()
    used = float(obs.cpu_used[obs.powered].sum())
    assert policy.decide(obs, [_usage(world, used)]) == []  # steady: the band holds
    world.clock.advance(60)
    out = [p.action for p in policy.decide(world.observe(), [_usage(world, used * 1.6)])]
    assert out and all(isinstance(a, SetMachinePower) and a.on for a in out)
    # the reservations have not moved yet: only the usage forecast asked for the machines
    assert float(world.observe().cpu_requested.sum()) == float(obs.cpu_requested.sum())


def test_disruptive_drains_ask_a_person_and_the_gate_escalates_them() -> None:
    world = FakeSim(n_machines=12)
    world.cpu_capacity[:] = 4.0
    world.mem_capacity[:] = 4.0
    world.tasks[:] = 8  # 0.4 of 4.0: light machines with 8 tasks each
    world.cpu_per_task = 0.05
    settings = dataclasses.replace(SETTINGS, ask_human_tasks=5.0)
    policy = PlannedConsolidationPolicy(settings)
    drains = [p for p in policy.decide(world.observe(), []) if isinstance(p.action, DrainMachine)]
    assert drains and all(p.justification.inputs.get("ask_human") is True for p in drains)
    gate = Gate(GateSettings(), clock=SimClock(), sensor=ScriptedSensor(world.observe()))
    p = dataclasses.replace(drains[0], agent="energy", request_id="energy/1")
    verdict = gate.review(p)
    assert verdict.decision == Decision.ESCALATE and "asks for a person" in verdict.reason
    calm = PlannedConsolidationPolicy(SETTINGS)  # threshold 20 tasks: these drains go alone
    assert all("ask_human" not in q.justification.inputs for q in calm.decide(world.observe(), []))


def test_savings_over_disruption_ranks_big_quiet_machines_first() -> None:
    score = drain_score(np.array([0.5, 1.0, 1.0]), np.array([1, 1, 9], dtype=np.int32))
    assert list(np.argsort(-score)) == [1, 0, 2]


def test_drains_spare_machines_whose_batch_work_would_be_thrown_away() -> None:
    tasks = np.array([2, 2, 2], dtype=np.int32)
    cap = np.array([1.0, 1.0, 1.0])
    work = np.array([7200.0, 0.0, 600.0], dtype=np.float32)  # two hours of runs, none, 10 min
    assert list(np.argsort(-drain_score(cap, tasks, work), kind="stable")) == [1, 2, 0]
    assert list(np.argsort(-drain_score(cap, tasks), kind="stable")) == [0, 1, 2]  # unreported
    # in the policy: of equally loaded machines, it drains those whose tasks started last
    world = FakeSim(n_machines=20)
    world.tasks[:] = 1
    base = world.observe()
    old = np.full(20, 3 * 3600.0, dtype=np.float32)
    old[10:] = 600.0  # the later slots, which an equal score would leave for last
    obs = dataclasses.replace(base, extra={**base.extra, "work_at_risk_s": old})
    drained = [p.action.machine for p in PlannedConsolidationPolicy(SETTINGS).decide(obs, [])
               if isinstance(p.action, DrainMachine)]  # fmt: skip
    assert drained and all(m >= 10 for m in drained)


def test_no_removal_while_the_gate_would_refuse_every_one() -> None:
    world = FakeSim(n_machines=20)
    world.tasks[:] = 1
    world.state[15:] = MachineState.OFF  # 15 x 0.5 = 7.5 CPU on
    budget = GateBudget("energy", 0.0, 600.0, 60, 60, 10, MappingProxyType({}),
                        believed_demand_cpu=0.0, removals_blocked=True)  # fmt: skip
    policy = PlannedConsolidationPolicy(SETTINGS, budget=lambda: budget)
    assert policy.decide(world.observe(), []) == []
    # the demand the gate believes is a floor of the plan
    high = dataclasses.replace(budget, believed_demand_cpu=7.0, removals_blocked=False)
    policy = PlannedConsolidationPolicy(SETTINGS, budget=lambda: high)
    out = [p.action for p in policy.decide(world.observe(), [])]
    assert out and all(isinstance(a, SetMachinePower) and a.on for a in out)
    assert policy.last_need["need_cpu"] == 7.0


def _radius_run(machines_left: int, removals_left: int, idle: int) -> list[Action]:
    world = FakeSim(n_machines=20)
    world.tasks[:] = 1  # lightly loaded: drain candidates
    world.tasks[20 - idle :] = 0  # and these run nothing
    budget = GateBudget("energy", 0.0, 600.0, 60, 60, 10, MappingProxyType({}),
                        believed_demand_cpu=0.0, machines_left=machines_left,
                        removals_left=removals_left, machines_limit=50)  # fmt: skip
    policy = PlannedConsolidationPolicy(SETTINGS, budget=lambda: budget)
    policy.decide(world.observe(), [])
    world.clock.advance(60)
    return [p.action for p in policy.decide(world.observe(), [])]


def test_drains_stay_within_the_blast_radius_and_leave_half_to_repairs() -> None:
    def drains(machines_left: int, removals_left: int) -> int:
        out = _radius_run(machines_left, removals_left, idle=0)
        assert all(isinstance(a, DrainMachine) for a in out)
        return len(out)

    assert drains(50, 50) > 2
    assert drains(2, 50) == 2  # what this agent may still touch
    assert drains(50, 27) == 2  # 25 of the 50 cluster-wide removals are kept for repairs
    assert drains(50, 20) == 0


def test_switching_off_machines_that_run_nothing_takes_no_radius() -> None:
    # the gate does not count them (oversight.guards.counts_for_radius): no room is needed
    out = _radius_run(0, 0, idle=10)
    offs = [a for a in out if isinstance(a, SetMachinePower) and not a.on]
    assert len(offs) == 10 and not any(isinstance(a, DrainMachine) for a in out)
    assert {a.machine for a in offs} == set(range(10, 20))


@pytest.mark.parametrize("planned", [False, True], ids=["ffd", "plan"])
def test_a_drained_machine_is_powered_off_once_empty_even_inside_the_band(planned: bool) -> None:
    from autoinfra.policies.consolidation import ConsolidationPolicy, ConsolidationSettings

    world = FakeSim(n_machines=10)
    world.tasks[:] = 8  # 0.4 of 0.5 requested: 20 % free, inside both policies' bands
    world.tasks[3] = 0
    world.state[3] = MachineState.DRAINING  # this policy drained it; its tasks have moved
    world.schedulable[3] = False
    policy = (
        PlannedConsolidationPolicy(SETTINGS)
        if planned
        else ConsolidationPolicy(ConsolidationSettings(idle_s=60.0))
    )
    policy._drained.add(3)
    assert policy.decide(world.observe(), []) == []  # empty, but not yet for idle_s
    world.clock.advance(60)
    out = [p.action for p in policy.decide(world.observe(), [])]
    assert out == [SetMachinePower(machine=3, on=False)]


def test_proposals_stay_within_the_rate_guard_a_drain_counting_twice() -> None:
    def run(actions_left: int, idle: int) -> list[Action]:
        world = FakeSim(n_machines=20)
        world.tasks[:] = 1
        world.tasks[20 - idle :] = 0
        budget = GateBudget("energy", 0.0, 600.0, 60, actions_left, 10, MappingProxyType({}),
                            believed_demand_cpu=0.0, machines_left=50, removals_left=50,
                            machines_limit=50)  # fmt: skip
        policy = PlannedConsolidationPolicy(SETTINGS, budget=lambda: budget)
        policy.decide(world.observe(), [])
        world.clock.advance(60)
        return [p.action for p in policy.decide(world.observe(), [])]

    assert len(run(60, idle=0)) == 3  # max_drains
    assert len(run(5, idle=0)) == 2  # each drain asks again for its power-off
    assert len(run(1, idle=0)) == 0
    offs = run(4, idle=10)
    assert len(offs) == 4 and all(isinstance(a, SetMachinePower) for a in offs)


def test_empty_machines_go_as_fast_as_the_cluster_autoscaler_removes_them() -> None:
    from autoinfra.policies.kubernetes.cluster_autoscaler import CASettings

    ca, plan = CASettings(), PlannedConsolidationSettings()
    per_period = ca.max_empty_bulk_delete * plan.decision_period_s / ca.scan_interval_s
    assert plan.max_power_off == per_period
    world = FakeSim(n_machines=60)
    world.tasks[:] = 0
    world.tasks[:4] = 1  # four machines hold the little work there is
    policy = PlannedConsolidationPolicy(dataclasses.replace(plan, idle_s=60.0))
    policy.decide(world.observe(), [])
    world.clock.advance(60)
    offs = [p.action for p in policy.decide(world.observe(), [])
            if isinstance(p.action, SetMachinePower) and not p.action.on]  # fmt: skip
    # all but what the plan keeps for the work and its headroom go in one decision, where ten
    # a decision took six minutes
    assert len(offs) > 10
