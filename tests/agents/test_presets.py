"""The autonomous preset end to end on the fake world, the registries, and the scaling fallback."""

from __future__ import annotations

import pytest

from autoinfra.agents import list_systems, make_system, register_system
from autoinfra.agents.autonomous import ScalingAgent
from autoinfra.agents.presets import build_autonomous
from autoinfra.agents.registry import AGENTS_ID
from autoinfra.core.errors import ConfigError
from autoinfra.core.lifecycle import ActionStatus
from autoinfra.core.registry import Registry
from autoinfra.oversight import DelayedApprover
from autoinfra.policies.scaling.target import TargetTrackingPolicy
from autoinfra.telemetry import SimSensor
from tests.agents.fakes import FakeSim

S = ActionStatus


def _run(world: FakeSim, system, seconds: float) -> None:  # type: ignore[no-untyped-def]
    end = world.now_s + seconds
    while world.now_s < end:
        world.step()
        system.tick()


def _world() -> FakeSim:
    return FakeSim(n_machines=40, rack_size=10, noise=0.05, churn=True, seed=1)


def test_healing_evicts_a_lost_machine_within_seconds() -> None:
    world = _world()
    system = build_autonomous(world, seed=0, params={"scaling_policy": "target"})
    _run(world, system, 300)
    world.fail(12)
    _run(world, system, 60)
    evicts = [e for e in world.events if e[2] == "evict_stranded" and e[3] == 12]
    assert evicts and evicts[0][0] - 300 <= 30  # 15 s threshold + 5 s period + latency tick
    rec = next(r for r in system.records if r.action.kind == "evict_tasks")
    assert rec.status == S.SUCCEEDED and rec.proposed_by == "healing"
    assert system.audit.verify()
    assert world.stranded[12] == 0


def test_hog_is_killed_and_intruder_isolated() -> None:
    world = _world()
    # energy would consolidate the fake cell's idle machines meanwhile; these agents are the topic
    system = build_autonomous(world, seed=0, params={"agents": ["security", "healing"]})
    _run(world, system, 300)
    world.hog[5] = 1.0
    world.egress_extra[30] = 900.0
    _run(world, system, 60)
    ops = {(e[2], e[3]) for e in world.events}
    assert ("kill_rogue", 5) in ops
    assert ("isolate", 30) in ops
    isolate = next(r for r in system.records if r.action.kind == "isolate_machine")
    assert isolate.proposed_by == "security"


def test_energy_agent_powers_off_idle_machines_and_keeps_headroom() -> None:
    world = FakeSim(n_machines=20, rack_size=10, seed=2)
    world.tasks[:] = 2
    world.tasks[10:] = 0  # half the cell idle
    system = build_autonomous(world, seed=0, params={"scaling_policy": "target"})
    _run(world, system, 900)
    off = [e[3] for e in world.events if e[2] == "power_off"]
    assert off, "idle machines should be powered off"
    on = (world.state == 3) & world.schedulable
    free = float((world.cpu_capacity[on] - world.tasks[on] * world.cpu_per_task).sum())
    assert free / float(world.cpu_capacity[on].sum()) >= 0.10  # the gate's headroom guard


def test_escalations_wait_for_the_approver() -> None:
    world = _world()
    system = build_autonomous(
        world,
        seed=3,
        params={
            "agents": ["security"],
            "escalate_risk": 0.45,  # isolation (0.5+) now needs a person
            "approver": DelayedApprover(lambda rng: 120.0, seed=3),
        },
    )
    _run(world, system, 300)
    world.egress_extra[30] = 900.0
    _run(world, system, 60)
    isolate = next(r for r in system.records if r.action.kind == "isolate_machine")
    assert isolate.status == S.AWAITING_APPROVAL
    _run(world, system, 120)
    assert isolate.status == S.SUCCEEDED
    who = [t.by for t in isolate.history]
    assert "human-model" in who


def test_params_are_validated() -> None:
    world = FakeSim()
    with pytest.raises(ConfigError, match="'nope': unknown key"):
        build_autonomous(world, seed=0, params={"nope": 1})
    with pytest.raises(ConfigError, match="api_latency_s"):
        build_autonomous(world, seed=0, params={"api_latency_s": -1})
    with pytest.raises(ConfigError, match="failure_train_window_s"):
        build_autonomous(world, seed=0, params={"predictive_drain": True})


def test_registry_is_lazy_and_versioned() -> None:
    assert {"agents", "agents-v1"} <= set(list_systems())
    system = make_system("agents", FakeSim(), seed=0, params={"scaling_policy": "target"})
    assert system.name == "agents-v1" and "healing" in system.description
    assert system.registry_id == AGENTS_ID  # the alias resolves to the one id, stamped
    reg: Registry[object] = Registry("system")
    reg.register("system.x-v1", "no.such.module:build")
    with pytest.raises(ConfigError, match="cannot import"):
        reg.make("system.x-v1", sim=None, seed=0)
    with pytest.raises(ConfigError, match="unknown system"):
        make_system("nope", None, seed=0)
    with pytest.raises(ConfigError, match="already registered"):
        register_system(AGENTS_ID, "other.module:build")
    with pytest.raises(ConfigError, match="already stands for"):
        register_system("system.other-v1", "other.module:build", aliases=("agents",))
    assert "system.other-v1" not in list_systems()  # a refused registration leaves nothing
    register_system(AGENTS_ID, "autoinfra.agents.presets:build_autonomous")  # same entry: fine


def test_scaling_agent_falls_back_only_without_the_qtable_module(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import autoinfra.agents.autonomous as autonomous

    monkeypatch.setattr(autonomous, "qtable_available", lambda: False)
    agent = ScalingAgent(SimSensor(FakeSim()))
    assert isinstance(agent.policy, TargetTrackingPolicy)
    assert "FALLBACK" in agent.description


def test_predictive_drain_trains_only_on_an_earlier_window() -> None:
    from types import SimpleNamespace

    world = FakeSim()
    params = {"agents": ["healing"], "predictive_drain": True}
    with pytest.raises(ConfigError, match="overlaps the run"):
        build_autonomous(world, seed=0, params={**params, "failure_train_window_s": [0, 86400]})
    world.workload = SimpleNamespace(meta={"trace_offset_s": 10 * 86400.0})  # type: ignore[attr-defined]
    system = build_autonomous(
        world, seed=0, params={**params, "failure_train_window_s": [600, 4 * 86400]}
    )
    (healing,) = system.agents
    assert "FailureDrainPolicy" in healing.description


def test_a_trained_table_is_given_at_build_time(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from autoinfra.policies.scaling.qtable import QTablePolicy

    path = QTablePolicy.zeros(provenance={"trained": "here"}).save(tmp_path / "study.json")
    system = make_system("agents", FakeSim(), seed=0, params={"qtable_path": str(path)})
    (scaling,) = [a for a in system.agents if a.agent_id == "scaling"]
    assert isinstance(scaling.policy, QTablePolicy)
    assert scaling.policy.provenance == {"trained": "here"}  # this file, not the shipped table
    assert scaling.policy.registry_id == "scaling.qtable-v1"  # type: ignore[attr-defined]
    assert system.description.endswith("Q-table: study.json (trained on the training window).")
    shipped = make_system("agents", FakeSim(), seed=0)
    (default,) = [a for a in shipped.agents if a.agent_id == "scaling"]
    assert default.policy.provenance != {"trained": "here"}  # type: ignore[attr-defined]
    assert "Q-table:" not in shipped.description


def test_agents_place_non_production_work_against_reservations_on_a_simulator() -> None:
    from autoinfra.sim import Simulator
    from autoinfra.traces import generate_cell

    cell = generate_cell(machines=20, hours=0.2, seed=3)
    sim = Simulator(cell, seed=0)
    system = build_autonomous(sim, seed=0, params={"scaling_policy": "target"})
    assert sim.config.placement == "reservations"
    assert "placed by reservations" in system.description
    assert system.runtime.trust is not None
    assert system.runtime.trust.trust.settings.cpu_overcommit
    (record,) = system.audit.where("placement_set")
    assert record.data == {"placement": "reservations"} and system.audit.verify()
    other = Simulator(cell, seed=0)
    build_autonomous(other, seed=0, params={"scaling_policy": "target", "placement": "requests"})
    assert other.config.placement == "requests"
    from autoinfra.experiments.systems import ensure_registered

    ensure_registered()
    baseline = Simulator(cell, seed=0)
    make_system("kubernetes-defaults", baseline, seed=0)
    assert baseline.config.placement == "requests"  # Kubernetes places by requests
    with pytest.raises(ConfigError, match="placement"):
        build_autonomous(_world(), seed=0, params={"placement": "limits"})
