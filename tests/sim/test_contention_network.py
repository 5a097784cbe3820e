"""CPU contention, memory pressure, network congestion and rerouting, service levels."""

from __future__ import annotations

import numpy as np
import pytest

from autoinfra.faults import scenario_from_dict
from autoinfra.sim import SimSettings, Simulator
from tests.sim.builders import S, T, make_workload


def test_cpu_demand_above_capacity_throttles_proportionally_and_slows_progress() -> None:
    # two tasks requesting 0.2 but using 0.4 each on a 0.5-CPU machine: served 0.5 / 0.8
    wl = make_workload([(0.5, 0.5)], [T(0, 100, cpu=0.2, cpu_ratio=2.0)] * 2, end_s=400)
    sim = Simulator(wl)
    obs = sim.observe()
    assert obs.cpu_used[0] == pytest.approx(0.5)
    assert obs.cpu_throttled_share[0] == pytest.approx(0.375)
    sim.run()
    res = sim.results()
    assert res.ticks["throttled_share"].iloc[0] == pytest.approx(0.375)
    assert res.tasks["end_s"].tolist() == pytest.approx([160.0, 160.0])  # 100 s of work at 62.5 %


def test_memory_above_capacity_kills_the_lowest_priority_first() -> None:
    # each task requests 0.2 of memory but uses 0.4: both fit by request, not by use
    tasks = [T(0, 1000, mem=0.2, mem_ratio=2.0, priority=4), T(0, 1000, mem=0.2, mem_ratio=2.0)]
    sim = Simulator(make_workload([(1.0, 0.5)], tasks), SimSettings(candidates=0))
    for _ in range(6):
        obs = sim.observe()
        assert obs.mem_used[0] <= obs.mem_capacity[0] + 1e-6
        sim.step()
    res = sim.results()
    by_id = res.tasks.set_index("task_id")
    assert by_id.loc[0, "status"] == "running" and by_id.loc[0, "evictions"] == 0
    assert by_id.loc[1, "evictions"] >= 1
    assert res.summary["memory_kills"] >= 1


def _congested(load: float = 1.5) -> Simulator:
    scenario = scenario_from_dict(
        {"faults": [{"kind": "network_congestion", "at_s": 10, "target": "link:0", "load": load}]}
    )
    wl = make_workload(4, [T(0, 10_000, cpu=0.4)] * 2, end_s=1000)
    return Simulator(wl, SimSettings(candidates=0), scenario=scenario)


def test_link_utilisation_is_offered_traffic_plus_background_over_capacity() -> None:
    sim = _congested()
    obs = sim.observe()
    # 0.8 CPU served x 1000 Mbit/s per CPU, split over two 10 Gbit/s uplinks
    assert obs.link_utilization.tolist() == pytest.approx([0.04, 0.04])
    assert obs.egress_mbps.sum() == pytest.approx(800.0)
    sim.run(until_s=10)
    assert sim.observe().link_utilization[0] == pytest.approx(1.54)


def test_congestion_slows_the_racks_tasks_and_reroute_fixes_it() -> None:
    sim = _congested()
    sim.run(until_s=50)
    ticks = sim.results().ticks
    assert ticks["net_slowed_tasks"].iloc[-1] == 2
    assert ticks["max_link_util"].iloc[-1] == pytest.approx(1.54)
    assert sim.record_detection("link:0", by="agent", kind="network_congestion")
    sim.writer.reroute(0, away_from_link=0, by="agent")
    obs = sim.observe()
    assert obs.link_utilization[1] == pytest.approx(0.08)  # all traffic on the other uplink
    sim.run(until_s=60)
    assert sim.results().ticks["net_slowed_tasks"].iloc[-1] == 0
    fault = sim.results().faults.iloc[0]
    assert fault["mitigated_by"] == "agent" and fault["mitigated_op"] == "reroute"
    assert fault["recovered_s"] == pytest.approx(50.0)


def test_restore_routes_splits_the_rack_equally_again_and_mitigates_nothing() -> None:
    from autoinfra.core.errors import SimulationError

    sim = _congested()
    sim.run(until_s=50)
    sim.writer.reroute(0, away_from_link=0, by="agent")  # not detected: no credit either way
    sim.writer.restore_routes(0, by="agent")
    obs = sim.observe()
    assert obs.link_utilization[1] == pytest.approx(0.04)  # half the rack's 800 Mbit/s again
    assert obs.link_utilization[0] == pytest.approx(1.54)  # and half back on the faulted link
    with pytest.raises(SimulationError, match="no rack 9"):
        sim.writer.restore_routes(9, by="agent")
    assert sim.results().faults.iloc[0]["mitigated_op"] == ""
    events = sim.results().events
    assert "restore_routes" in set(events["op"])


def test_slowed_tasks_progress_at_the_network_share() -> None:
    scenario = scenario_from_dict(
        {"faults": [{"kind": "network_congestion", "at_s": 0, "target": "link:0", "load": 1.98}]}
    )
    wl = make_workload(2, [T(0, 100, cpu=0.4, cpu_ratio=1.0)], end_s=400)
    sim = Simulator(wl, SimSettings(candidates=0), scenario=scenario)
    sim.run()
    # link 0 carries 200 Mbit/s + 19.8 Gbit/s background: utilisation 2.0, half speed
    assert sim.results().tasks["end_s"].iloc[0] == pytest.approx(200.0)


def test_a_service_short_of_replicas_violates_until_scaled_up() -> None:
    # demand 0.4 on one replica limited to its 0.2 request: half of it is unserved
    wl = make_workload(4, [], [S(replicas=1, cpu=0.2, demand=0.4)], end_s=600)
    sim = Simulator(wl)
    obs = sim.observe()
    assert obs.service_cpu_used[0] == pytest.approx(0.2)
    assert obs.extra["service_slo_violating"].tolist() == [True]
    sim.writer.set_service_replicas(0, 2, by="autoscaler")
    sim.step()
    obs = sim.observe()
    assert obs.service_running[0] == 2
    assert obs.service_cpu_used[0] == pytest.approx(0.4)
    assert sim.results().ticks["services_violating"].iloc[-1] == 0


def test_service_demand_follows_the_usage_shape() -> None:
    shapes = np.array([[0.5, 1.5]], dtype=np.float32)
    wl = make_workload(4, [], [S(replicas=4, cpu=0.2, demand=0.4)], shapes=shapes, end_s=600)
    sim = Simulator(wl)
    assert sim.observe().extra["service_cpu_demand"][0] == pytest.approx(0.2)
    sim.run(until_s=300)
    obs = sim.observe()
    assert obs.extra["service_cpu_demand"][0] == pytest.approx(0.6)
    assert obs.service_cpu_used[0] == pytest.approx(0.6)


def test_a_hogs_cpu_is_not_utilisation_but_it_draws_power() -> None:
    def run(faults: list[dict[str, object]]) -> tuple[float, float]:
        wl = make_workload(2, [T(0, 10_000, cpu=0.1, cpu_ratio=1.0)], end_s=1000)
        scenario = scenario_from_dict({"faults": faults})
        sim = Simulator(wl, SimSettings(candidates=0), scenario=scenario)
        sim.run(until_s=60)
        last = sim.results().ticks.iloc[-1]
        return float(last["cpu_util"]), float(last["power_w"])

    calm_util, calm_w = run([])
    hog_util, hog_w = run(
        [{"kind": "cpu_hog", "at_s": 10, "target": "machine:0", "cpu_share": 0.5}]
    )
    assert hog_util == pytest.approx(calm_util) and calm_util > 0  # the task's 0.1 only
    assert hog_w > calm_w  # the hog still heats the machine
