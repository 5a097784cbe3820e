"""The healing agent's reroutes on the simulator: planned on predicted loads, so a rack whose
uplinks are all loaded by its own traffic is left alone, and a fault on one uplink is still
rerouted around once.

Measured before the plan (600 machines, seed 1 of the shipped slice): the bare rule flipped a
rack of large machines between its two uplinks every 20 s for the rest of the run, each time
with its whole egress on one link."""

from __future__ import annotations

import numpy as np

from autoinfra.agents import make_system
from autoinfra.faults import scenario_from_dict
from autoinfra.sim import SimSettings, Simulator
from tests.sim.builders import T, make_workload


def _run(scenario: dict | None, egress_per_cpu: float) -> tuple[Simulator, list]:
    # one rack of four machines; two tasks of 0.4 CPU each
    wl = make_workload(4, [T(0, 10_000, cpu=0.4)] * 2, end_s=900)
    config = SimSettings(candidates=0, egress_mbps_per_cpu=egress_per_cpu)
    sc = scenario_from_dict(scenario) if scenario else None
    sim = Simulator(wl, config, scenario=sc, seed=0)
    system = make_system("agents", sim, seed=0, params={"agents": ["healing"]})
    # findings reach the fault timeline, as in an experiment's run
    system.runtime.on_finding = lambda _agent, f: sim.record_detection(
        f.target, by=_agent, kind=f.kind
    )
    while not sim.done:
        sim.step()
        system.tick()
    return sim, [r for r in system.records if r.action.kind in ("reroute", "restore_routes")]


def test_a_rack_loaded_on_every_uplink_is_not_moved_onto_one() -> None:
    # 0.8 CPU x 26,000 Mbit/s per CPU over two 10 Gbit/s uplinks: 1.04 on each, congested by
    # the rack's own traffic; putting it all on one link would make that link 2.08
    sim, reroutes = _run(None, 26_000.0)
    assert reroutes == []
    util = sim.observe().link_utilization
    assert np.allclose(util, util[0]) and util[0] > 1.0


def test_a_fault_on_one_uplink_is_rerouted_once_and_mitigated() -> None:
    fault = {"kind": "network_congestion", "at_s": 60, "target": "link:0", "load": 1.5}
    sim, reroutes = _run({"faults": [fault]}, 1000.0)
    assert [r.action.away_from_link for r in reroutes if r.action.kind == "reroute"] == [0]
    assert reroutes[0].status.value == "succeeded"
    row = sim.results().faults.iloc[0]
    assert row["mitigated_op"] == "reroute" and str(row["mitigated_by"]).startswith("healing")


def test_the_equal_split_comes_back_after_the_fault_clears() -> None:
    # 0.8 CPU x 10,000 Mbit/s per CPU: 0.4 on each uplink, 0.8 on one after the reroute
    fault = {
        "kind": "network_congestion", "at_s": 60, "target": "link:0", "load": 1.5,
        "duration_s": 300,
    }  # fmt: skip
    sim, routes = _run({"faults": [fault]}, 10_000.0)
    assert [(r.action.kind, r.status.value) for r in routes] == [
        ("reroute", "succeeded"),
        ("restore_routes", "succeeded"),
    ]
    restored_s = routes[1].history[0].at_s
    assert restored_s >= 360.0  # not while the fault was active
    util = sim.observe().link_utilization
    assert np.allclose(util, [0.4, 0.4], atol=0.05)  # both uplinks carry the rack again
