"""Every fault kind's effect and timeline: injected, detected, mitigated, recovered."""

from __future__ import annotations

import math
from typing import Any

import pytest

from autoinfra.core.errors import ConfigError
from autoinfra.core.observation import MachineState
from autoinfra.faults import scenario_from_dict
from autoinfra.sim import SimSettings, Simulator
from tests.sim.builders import T, make_workload


def _sim(faults: list[dict[str, Any]], config: SimSettings | None = None, **kw: Any) -> Simulator:
    tasks = [T(0, 100_000, cpu=0.1, mem=0.1)] * 4
    wl = make_workload(4, tasks, end_s=3600, **kw)
    cfg = config or SimSettings(candidates=0)
    return Simulator(wl, cfg, scenario=scenario_from_dict({"faults": faults}), seed=0)


def _fault(sim: Simulator, i: int = 0) -> Any:
    return sim.results().faults.iloc[i]


def test_node_failure_strands_tasks_until_evicted_then_they_run_elsewhere() -> None:
    sim = _sim([{"kind": "node_failure", "at_s": 10, "target": "machine:0"}])
    stranded = sim.machine_task_count(0)
    assert stranded == 4  # exact first fit packed everything on machine 0
    sim.run(until_s=60)
    assert sim.machine_state(0) == MachineState.FAILED
    obs = sim.observe()
    assert obs.machine_state[0] == MachineState.ON  # monitoring does not see FAILED
    assert obs.heartbeat_age_s[0] >= 50.0 and obs.heartbeat_age_s[1] == 0.0
    ticks = sim.results().ticks
    assert ticks["stranded_tasks"].iloc[-1] == 4 and ticks["running_tasks"].iloc[-1] == 0
    assert sim.record_detection("machine:0", by="healer", kind="node_failure")
    assert not sim.record_detection("machine:2", by="healer")  # a false alarm
    assert sim.writer.evict_stranded(0, by="healer") == 4
    sim.step()
    f = _fault(sim)
    assert (f["kind"], f["target"], f["origin"]) == ("node_failure", "machine:0", "scenario")
    assert f["detect_s"] == pytest.approx(50.0) and f["detected_by"] == "healer"
    assert f["mitigate_s"] == pytest.approx(50.0) and f["mitigated_op"] == "evict_stranded"
    assert f["recovery_s"] == pytest.approx(55.0) and not f["self_cleared"]
    assert sim.results().summary["false_alarms"] == 1
    assert sim.machine_task_count(0) == 0
    assert sim.results().tasks["work_lost_s"].tolist() == pytest.approx([10.0] * 4)


def test_node_failure_of_a_machine_holding_no_tasks_is_no_effect_not_open_forever() -> None:
    # found by the default study: a failure of an empty (consolidated) machine stayed "open"
    sim = _sim([{"kind": "node_failure", "at_s": 10, "target": "machine:3"}])
    assert sim.machine_task_count(3) == 0  # exact first fit packed everything on machine 0
    sim.run(until_s=60)
    assert sim.machine_state(3) == MachineState.FAILED
    f = _fault(sim)
    assert f["no_effect"] and f["resolution"] == "no_effect", f.to_dict()
    assert f["recovered_s"] == pytest.approx(10.0)


def test_node_failure_with_a_duration_comes_back_and_counts_as_self_cleared() -> None:
    sim = _sim([{"kind": "node_failure", "at_s": 10, "target": "machine:0", "duration_s": 30}])
    sim.run(until_s=45)
    assert sim.machine_state(0) == MachineState.ON
    f = _fault(sim)
    assert f["self_cleared"] and f["recovered_s"] == pytest.approx(40.0)
    assert math.isnan(f["mitigated_s"])


def test_auto_eviction_resubmits_stranded_tasks_by_itself() -> None:
    sim = _sim(
        [{"kind": "node_failure", "at_s": 10, "target": "machine:0"}],
        SimSettings(candidates=0, auto_evict_failed_after_s=20),
    )
    sim.run(until_s=40)
    f = _fault(sim)
    assert f["mitigated_by"] == "sim:auto-evict" and f["mitigate_s"] == pytest.approx(20.0)
    assert f["recovery_s"] == pytest.approx(20.0)  # placed again at the same tick


def test_cpu_hog_throttles_until_killed() -> None:
    sim = _sim([{"kind": "cpu_hog", "at_s": 10, "target": "machine:0", "cpu_share": 1.0}])
    sim.run(until_s=30)
    obs = sim.observe()
    # 0.4 of task demand + a hog wanting the whole 0.5: everything served 0.5 / 0.9
    assert obs.cpu_used[0] == pytest.approx(0.5)
    assert obs.cpu_throttled_share[0] == pytest.approx(0.4 / 0.9)
    assert sim.record_detection("machine:0", by="watcher")
    sim.writer.kill_rogue(0, by="healer")
    assert sim.observe().cpu_throttled_share[0] == 0.0
    f = _fault(sim)
    assert f["mitigated_op"] == "kill_rogue" and f["recovery_s"] == pytest.approx(20.0)
    assert f["detect_s"] == pytest.approx(20.0) and not f["self_cleared"]


def test_cpu_hog_recovers_when_its_tasks_move_away() -> None:
    sim = _sim([{"kind": "cpu_hog", "at_s": 10, "target": "machine:0"}])
    sim.run(until_s=20)
    assert sim.record_detection("machine:0", by="healer", kind="cpu_hog")
    sim.writer.drain(0, by="healer")
    sim.step()
    f = _fault(sim)
    assert f["mitigated_op"] == "drain" and f["resolution"] == "mitigated"
    assert f["recovered_s"] == pytest.approx(20.0)  # no task left there to throttle


def test_an_action_aimed_elsewhere_earns_no_mitigation_credit() -> None:
    # the Cluster Autoscaler drains a hog's machine to save power; nobody detected the hog
    sim = _sim([{"kind": "cpu_hog", "at_s": 10, "target": "machine:0"}])
    sim.run(until_s=20)
    sim.writer.drain(0, by="kubernetes/ca")
    sim.step()
    f = _fault(sim)
    assert math.isnan(f["mitigated_s"]) and f["mitigated_op"] == ""
    assert (f["incidental_op"], f["incidental_by"]) == ("drain", "kubernetes/ca")
    # the world healed all the same: recovery is judged from the state, and it cleared by itself
    assert f["recovered_s"] == pytest.approx(20.0)
    assert f["resolution"] == "incidental" and f["self_cleared"]


def test_a_finding_of_another_kind_does_not_detect_the_fault() -> None:
    sim = _sim([{"kind": "intrusion", "at_s": 10, "target": "machine:0"}])
    sim.run(until_s=20)
    assert sim.record_detection("machine:0", by="watcher", kind="cpu_hog")  # not a false alarm
    sim.writer.kill_rogue(0, by="watcher")
    f = _fault(sim)
    assert math.isnan(f["detected_s"]) and math.isnan(f["mitigated_s"])
    assert f["incidental_op"] == "kill_rogue" and f["resolution"] == "incidental"


def test_cpu_hog_with_a_duration_self_clears() -> None:
    sim = _sim([{"kind": "cpu_hog", "at_s": 10, "target": "machine:0", "duration_s": 30}])
    sim.run(until_s=60)
    f = _fault(sim)
    assert f["self_cleared"] and f["recovery_s"] == pytest.approx(30.0)
    assert sim.observe().cpu_throttled_share[0] == 0.0


def test_intrusion_shows_as_cpu_and_egress_and_isolation_stops_it() -> None:
    sim = _sim(
        [
            {
                "kind": "intrusion",
                "at_s": 10,
                "target": "machine:0",
                "cpu_share": 0.2,
                "egress_mbps": 500,
            }
        ]
    )
    before = sim.observe()
    sim.run(until_s=20)
    obs = sim.observe()
    assert obs.cpu_used[0] == pytest.approx(before.cpu_used[0] + 0.1)
    assert obs.egress_mbps[0] == pytest.approx(before.egress_mbps[0] + 500.0)
    assert obs.cpu_requested[0] == before.cpu_requested[0]  # no task accounts for it
    assert sim.record_detection("machine:0", by="security", kind="intrusion")
    moved = sim.writer.isolate(0, by="security")
    assert moved == 4
    obs = sim.observe()
    assert obs.egress_mbps[0] == 0.0 and not obs.schedulable[0]
    f = _fault(sim)
    assert f["mitigated_op"] == "isolate" and f["recovery_s"] == pytest.approx(10.0)


def test_random_targets_are_drawn_with_the_seed_among_the_traces_machines() -> None:
    faults = [{"kind": "cpu_hog", "at_s": 5}, {"kind": "intrusion", "at_s": 5}]
    schedules = []
    for _ in range(2):
        wl = make_workload(8, [T(0, 10_000, cpu=0.4)] * 3, end_s=100)
        sim = Simulator(wl, scenario=scenario_from_dict({"faults": faults}), seed=11)
        schedules.append([(f.kind, f.target, f.at_s) for f in sim.fault_schedule])
        sim.run(until_s=10)
        injected = sim.results().faults
        assert injected["target"].tolist() == [t for _, t, _ in schedules[-1]]
        assert len(set(injected["target"])) == 2  # distinct machines
    assert schedules[0] == schedules[1]


def test_a_drawn_machine_that_is_off_takes_the_fault_as_a_recorded_no_op() -> None:
    wl = make_workload(4, [T(0, 10_000, cpu=0.1)], end_s=100)
    faults = [{"kind": "node_failure", "at_s": 10}, {"kind": "cpu_hog", "at_s": 10}]
    sim = Simulator(wl, SimSettings(candidates=0), scenario=scenario_from_dict({"faults": faults}))
    targets = [int(f.target.split(":")[1]) for f in sim.fault_schedule]
    for m in targets:
        if sim.machine_task_count(m) == 0:
            sim.writer.power_off(m, by="energy")
    sim.run(until_s=15)
    res = sim.results().faults
    assert res["target"].tolist() == [f"machine:{m}" for m in targets]  # not redrawn
    for m, row in zip(targets, res.itertuples(), strict=True):
        if sim.machine_state(m) == MachineState.OFF:
            assert row.no_effect and row.resolution == "no_effect" and "OFF" in row.detail


def test_no_machine_in_the_cell_is_recorded_not_invented() -> None:
    wl = make_workload(
        2, [], end_s=100, machine_events=[(0.0, 0, 1, 0.5, 0.5), (0.0, 1, 1, 0.5, 0.5)]
    )
    sim = Simulator(wl, scenario=scenario_from_dict({"faults": [{"kind": "cpu_hog", "at_s": 5}]}))
    sim.run(until_s=10)
    faults = sim.results().faults
    f = faults[faults["origin"] == "scenario"].iloc[0]
    assert f["target"] == "none" and f["no_effect"]


def test_explicit_targets_must_exist() -> None:
    wl = make_workload(2, [], end_s=100)
    bad = scenario_from_dict(
        {"faults": [{"kind": "cpu_hog", "at_s": 5, "target": "machine:7"}]}, source="mine.yaml"
    )
    with pytest.raises(ConfigError, match=r"faults\[0\]\.target") as info:
        Simulator(wl, scenario=bad)
    assert info.value.source == "mine.yaml"


def test_the_traces_own_removals_resubmit_at_once_and_are_recorded() -> None:
    # machine 0 (slot 0) is removed by the trace at 20 s
    wl = make_workload(
        3, [T(0, 10_000, cpu=0.1)] * 2, end_s=200, machine_events=[(20.0, 0, 1, 0.5, 0.5)]
    )
    sim = Simulator(wl, SimSettings(candidates=0))
    assert sim.machine_task_count(0) == 2
    sim.run(until_s=25)
    assert sim.machine_state(0) == MachineState.ABSENT
    res = sim.results()
    f = res.faults.iloc[0]
    assert (f["origin"], f["kind"], f["mitigated_by"]) == ("trace", "node_failure", "trace")
    assert f["recovery_s"] == pytest.approx(0.0)
    assert res.summary["faults_injected"] == 0 and res.summary["trace_removals"] == 1
    assert (res.tasks["status"] == "running").all() and res.tasks["evictions"].tolist() == [1, 1]
    assert res.events["op"].tolist() == ["machine_remove"]
