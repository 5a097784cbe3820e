"""Paired faults: every system of a seed meets the same fault, on the same machine, at one time."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from autoinfra.core.incidents import IncidentKind
from autoinfra.experiments.inputs import load_inputs
from autoinfra.experiments.run import RunSettings, execute_run
from autoinfra.experiments.spec import RunSpec, build_spec
from autoinfra.experiments.systems import ensure_registered
from autoinfra.faults import builtin_scenarios, load_scenario, scenario_from_dict
from autoinfra.faults.schedule import OPEN_ENDED_HOLD_S, draw_schedule
from autoinfra.sim import SimSettings, Simulator
from tests.sim.builders import T, make_workload

SYSTEMS = ("agents", "kubernetes-defaults", "human", "noop")
WINDOW_S = 1500.0  # long enough for every built-in's window (faults from 900 s)


def _fired(frame: Any) -> list[tuple[str, str, float]]:
    rows = frame[frame["origin"] == "scenario"]
    cols = zip(rows.kind, rows.target, rows.injected_s, strict=True)
    return [(str(k), str(t), float(s)) for k, t, s in cols]


def test_every_system_meets_the_same_faults_in_every_scenario() -> None:
    spec = build_spec(
        {
            "scale": "quick",
            "machines": 16,
            "window_s": WINDOW_S,
            "systems": ",".join(SYSTEMS),
            "faults": ",".join(builtin_scenarios()),
            "seeds": "3",
            "jobs": 1,
        },
        known_systems=ensure_registered(),
    )
    workload = load_inputs(spec).slices[3]
    settings = RunSettings(window_s=WINDOW_S, tick_s=5.0, record_every_s=60.0)
    for scenario in builtin_scenarios():
        seen = {
            system: _fired(execute_run(RunSpec(system, scenario, 3), workload, settings).faults)
            for system in SYSTEMS
        }
        expected = len(Simulator(workload, scenario=load_scenario(scenario), seed=3).fault_schedule)
        first = seen[SYSTEMS[0]]
        assert len(first) == expected, scenario  # every scheduled fault was injected
        for system in SYSTEMS[1:]:
            assert seen[system] == first, (scenario, system)


def test_the_schedule_does_not_depend_on_what_a_system_did() -> None:
    wl = make_workload(10, [T(0, 50_000, cpu=0.1)] * 6, end_s=3000)
    scenario = load_scenario("storm")
    cfg = SimSettings(candidates=0, rack_size=5)
    a = Simulator(wl, cfg, scenario=scenario, seed=5)
    b = Simulator(wl, cfg, scenario=scenario, seed=5)
    for m in range(10):  # one system powers off every idle machine first thing
        if b.machine_task_count(m) == 0:
            b.writer.power_off(m, by="energy")
    a.run(until_s=3000)
    b.run(until_s=3000)
    fa, fb = _fired(a.results().faults), _fired(b.results().faults)
    assert fa == fb and len(fa) == 6
    assert [(str(f.kind), f.target, f.at_s) for f in a.fault_schedule] == fa
    # two of each kind, distinct machines for the machine faults
    kinds = [k for k, _, _ in fa]
    assert {k: kinds.count(k) for k in kinds} == {
        "node_failure": 2,
        "cpu_hog": 2,
        "network_congestion": 2,
    }
    machines = [t for k, t, _ in fa if k != IncidentKind.NETWORK_CONGESTION]
    assert len(set(machines)) == len(machines)
    # the two congested uplinks serve different racks (10 machines in racks of 5)
    links = [int(t.split(":")[1]) for k, t, _ in fa if k == IncidentKind.NETWORK_CONGESTION]
    assert len({int(a.observe().link_rack[link]) for link in links}) == 2
    assert Simulator(wl, cfg, scenario=scenario, seed=6).fault_schedule != a.fault_schedule


def test_one_rack_gets_its_congestion_on_one_uplink_so_the_other_stays_a_remedy() -> None:
    wl = make_workload(6, [], end_s=3000)  # one rack of the default 40, two uplinks
    scenario = scenario_from_dict(
        {"faults": [{"kind": "network_congestion", "count": 3, "window_s": [10, 20]}]}
    )
    targets = {f.target for f in Simulator(wl, scenario=scenario, seed=2).fault_schedule}
    assert len(targets) == 1


def test_times_fall_in_the_window_and_leave_room_to_recover() -> None:
    scenario = scenario_from_dict(
        {
            "faults": [
                {"kind": "cpu_hog", "count": 20, "window_s": [100, None], "duration_s": 300},
                {"kind": "node_failure", "count": 20, "window_s": [100, None]},
                {"kind": "intrusion", "count": 20, "window_s": [50, 80]},
            ]
        }
    )
    rng = np.random.default_rng(0)
    out = draw_schedule(
        scenario,
        rng,
        run_end_s=2000.0,
        machines_at=lambda _t: np.arange(30),
        link_rack=np.repeat(np.arange(2), 2),
        machine_rack=np.arange(30) // 15,
    )
    assert [f.at_s for f in out] == sorted(f.at_s for f in out)
    for f in out:
        assert f.count == 1 and f.window_s is None and f.target.startswith("machine:")
        assert f.at_s == int(f.at_s)  # granularity 1 s by default
        if f.kind == IncidentKind.CPU_HOG:
            assert 100 <= f.at_s <= 2000 - 300
        elif f.kind == IncidentKind.NODE_FAILURE:
            assert 100 <= f.at_s <= 2000 - OPEN_ENDED_HOLD_S
        else:
            assert 50 <= f.at_s <= 80
    # 60 machine faults on 30 machines: distinct while they last, then repeats
    assert len({f.target for f in out}) == 30


def test_the_trace_decides_which_machines_can_be_drawn() -> None:
    # machine 2 leaves the cell at 100 s: a fault after that never targets it
    wl = make_workload(3, [], end_s=5000, machine_events=[(100.0, 2, 1, 0.5, 0.5)])
    scenario = scenario_from_dict(
        {"faults": [{"kind": "cpu_hog", "count": 40, "window_s": [200, 4000]}]}
    )
    sim = Simulator(wl, scenario=scenario, seed=1)
    assert {f.target for f in sim.fault_schedule} == {"machine:0", "machine:1"}


@pytest.mark.parametrize("name", ["storm", "node-failure", "cpu-hog", "network-congestion"])
def test_builtins_inject_several_faults_at_seeded_times(name: str) -> None:
    sc = load_scenario(name)
    assert sum(f.count for f in sc.faults) >= 2
    assert all(f.window_s is not None for f in sc.faults)
    wl = make_workload(8, [T(0, 50_000, cpu=0.1)] * 4, end_s=3600)
    times = {f.at_s for f in Simulator(wl, scenario=sc, seed=0).fault_schedule}
    assert len(times) > 1
