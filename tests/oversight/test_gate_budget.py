"""The gate's read-only budget, and the reservation cuts it approved lowering its demand floor."""

from __future__ import annotations

import dataclasses

import numpy as np

from autoinfra.core.actions import DrainMachine, ScaleService
from autoinfra.core.clock import SimClock
from autoinfra.core.observation import Observation
from autoinfra.core.proposal import Decision, Justification, Proposal
from autoinfra.oversight.gate import Gate, GateSettings
from tests.oversight.observations import ScriptedSensor, make_obs

N = 10


def _cell(t: float, requested_each: float) -> Observation:
    obs = make_obs(t, np.ones(N), np.ones(N, dtype=bool), np.full(N, requested_each), 0.0)
    return dataclasses.replace(
        obs,
        service_replicas=np.full(1, 4, dtype=np.int32),
        service_cpu_request=np.ones(1, dtype=np.float32),
    )


def _p(action: object, agent: str, k: int) -> Proposal:
    return Proposal(action, agent, 50, Justification("t", {}, ""), 0.95,  # type: ignore[arg-type]
                    request_id=f"{agent}/{k}")  # fmt: skip


def _gate() -> tuple[Gate, ScriptedSensor, SimClock]:
    clock = SimClock()
    sensor = ScriptedSensor(_cell(0.0, 0.5))  # 5.0 CPU requested of 10
    return Gate(GateSettings(), clock=clock, sensor=sensor), sensor, clock


def test_the_budget_reports_the_rate_blast_radius_and_headroom_views() -> None:
    gate, _, _ = _gate()
    b = gate.remaining_budget("energy")
    assert (b.actions_cap, b.actions_left, b.per_target_limit) == (60, 60, 10)
    assert b.believed_demand_cpu is not None and abs(b.believed_demand_cpu - 5.0) < 1e-6
    assert not b.removals_blocked and b.machines_left == b.removals_left == b.machines_limit == 50
    assert gate.review(_p(DrainMachine(machine=3), "energy", 0)).decision == Decision.APPROVE
    after = gate.remaining_budget("energy")
    assert after.actions_left == 59 and after.machines_left == 49 and after.removals_left == 49
    assert after.per_target_used == {"machine:3": 1}


def test_an_approved_scale_down_is_not_read_as_a_spoofed_fall() -> None:
    gate, sensor, clock = _gate()
    gate.remaining_budget("energy")  # the gate sees the true demand: 5.0
    clock.advance(5.0)
    sensor.obs = _cell(5.0, 0.35)  # 30 % less, faster than any honest replay falls
    assert gate.remaining_budget("energy").removals_blocked
    assert gate.review(_p(DrainMachine(machine=0), "energy", 1)).decision == Decision.REJECT
    # the scaler's cut of 2 replicas x 1.0 CPU was approved by this gate: the fall is explained
    assert gate.review(_p(ScaleService(service=0, delta_replicas=-2), "scaling", 2)).decision == (
        Decision.APPROVE
    )
    assert not gate.remaining_budget("energy").removals_blocked
    assert gate.review(_p(DrainMachine(machine=0), "energy", 3)).decision == Decision.APPROVE


def test_the_credit_for_approved_cuts_is_capped_by_what_the_peak_showed() -> None:
    gate, sensor, clock = _gate()
    # the honest peak: 5.0 CPU requested, of which the services reserve 1 replica x 1.0
    sensor.obs = dataclasses.replace(_cell(0.0, 0.5), service_replicas=np.ones(1, dtype=np.int32))
    gate.remaining_budget("energy")
    clock.advance(5.0)
    sensor.obs = _cell(5.0, 0.5)  # a later picture claims 4 replicas, so a cut of 3 "frees" 3.0
    scale = _p(ScaleService(service=0, delta_replicas=-3), "scaling", 0)
    assert gate.review(scale).decision == Decision.APPROVE
    clock.advance(5.0)
    sensor.obs = _cell(10.0, 0.25)  # 50 % less: only 0.8 of the "3.0" is credited (4.0 - 0.8)
    assert gate.remaining_budget("energy").removals_blocked
    verdict = gate.review(_p(DrainMachine(machine=0), "energy", 1))
    assert verdict.decision == Decision.REJECT and "believed" in verdict.reason
