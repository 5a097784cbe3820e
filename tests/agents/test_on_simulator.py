"""The autonomous agents end to end on the real simulator: each paper fault is detected,
mitigated by the right agent and recovered, every record moved legally, the audit chain holds."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from autoinfra.agents import make_system
from autoinfra.core.lifecycle import TRANSITIONS
from autoinfra.core.proposal import Finding

sim_mod = pytest.importorskip("autoinfra.sim")
faults_mod = pytest.importorskip("autoinfra.faults")
traces_mod = pytest.importorskip("autoinfra.traces")


@pytest.fixture(scope="module")
def workload() -> Any:
    return traces_mod.generate_cell(machines=160, hours=0.5, seed=7)


def _run(workload: Any, scenario: str, until_s: float = 1200.0) -> tuple[Any, Any, list[Any]]:
    sim = sim_mod.Simulator(
        workload,
        config=sim_mod.SimSettings(tick_s=5.0, until_s=until_s),
        scenario=faults_mod.load_scenario(scenario),
        seed=3,
    )
    system = make_system("agents", sim, seed=3, params={"scaling_policy": "target"})
    false_alarms: list[Any] = []

    def on_finding(agent_id: str, f: Finding) -> None:
        if not sim.record_detection(f.target, by=agent_id, kind=f.kind):
            false_alarms.append((sim.now_s, agent_id, f.kind, f.target))

    system.runtime.on_finding = on_finding
    while not sim.done:
        sim.step()
        system.tick()
    return sim, system, false_alarms


def _check_records(system: Any) -> None:
    assert system.audit.verify()
    for rec in system.records:
        path = [t.status for t in rec.history]
        assert all(b in TRANSITIONS[a] for a, b in itertools.pairwise(path))


@pytest.mark.slow
def test_storm_faults_are_found_mitigated_and_recovered(workload: Any) -> None:
    sim, system, false_alarms = _run(workload, "storm")
    faults = sim.results().faults
    faults = faults[(faults["origin"] == "scenario") & ~faults["no_effect"]]
    expect = {"node_failure": "healing", "cpu_hog": "healing", "network_congestion": "healing"}
    assert set(faults["kind"]) == set(expect)  # storm: two of each, from 900 s
    for _, row in faults.iterrows():
        kind, agent = row["kind"], expect[row["kind"]]
        assert row["detected_by"] == agent, kind
        assert row["detect_s"] <= 30.0, kind  # seconds, not minutes
        assert str(row["mitigated_by"]).startswith(agent), kind
        assert row["recovery_s"] <= 300.0, kind
    _check_records(system)
    print("storm false alarms:", false_alarms)


@pytest.mark.slow
def test_intrusion_is_isolated_by_the_security_agent(workload: Any) -> None:
    sim, system, _ = _run(workload, "intrusion")
    row = sim.results().faults.iloc[0]
    assert row["detected_by"] == "security" and row["mitigated_op"] == "isolate"
    assert row["detect_s"] <= 30.0 and row["recovery_s"] <= 60.0
    _check_records(system)


@pytest.mark.slow
def test_scaling_and_energy_act_on_a_quiet_cell(workload: Any) -> None:
    sim, system, false_alarms = _run(workload, "none")
    ticks = sim.results().ticks
    done = {(r.proposed_by, r.action.kind) for r in system.records if r.status.value == "succeeded"}
    assert ("energy", "set_machine_power") in done and ("scaling", "scale_service") in done
    assert ticks["machines_on"].iloc[-1] < ticks["machines_on"].iloc[0]  # capacity followed demand
    assert ticks["pending_tasks"].iloc[-1] <= max(5, ticks["pending_tasks"].iloc[0])
    assert not [f for f in false_alarms if f[2] == "node_failure"]  # powered-off is not down
    _check_records(system)
