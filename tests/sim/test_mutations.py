"""Mutations (``sim.writer``): what actors may do, what they refuse, that every call is logged."""

from __future__ import annotations

import pytest

from autoinfra.core.cluster import WRITE_OPS, ClusterHandle, ClusterWriter, cluster_parts
from autoinfra.core.errors import SimulationError
from autoinfra.core.observation import MachineState
from autoinfra.sim import SimSettings, Simulator
from tests.sim.builders import S, T, make_workload


def _sim(**cfg: object) -> Simulator:
    wl = make_workload(
        4, [T(0, 10_000, cpu=0.1)] * 2, [S(replicas=2, min_replicas=1, max_replicas=4)], end_s=3600
    )
    return Simulator(wl, SimSettings(candidates=0, **cfg))  # type: ignore[arg-type]


def test_the_simulator_owns_its_mutations_and_hands_them_out_as_its_writer() -> None:
    sim = _sim()
    assert isinstance(sim, ClusterHandle) and isinstance(sim.writer, ClusterWriter)
    reader, writer, clock = cluster_parts(sim)
    assert reader is sim and writer is sim.writer and clock is sim.clock
    # the simulator's own surface carries no mutation: they live on its writer only
    assert not [op for op in WRITE_OPS if hasattr(sim, op)]
    # a fork's writer changes the fork, never the original
    fork = sim.fork()
    busy = next(m for m in range(4) if sim.machine_task_count(m) > 0)
    fork.writer.drain(busy, by="what-if")
    assert fork.machine_state(busy) == MachineState.DRAINING
    assert sim.machine_state(busy) == MachineState.ON


def test_a_boot_scheduled_by_a_mutation_runs_on_the_simulators_timeline() -> None:
    sim = _sim(boot_delay_s=12.0, tick_s=5.0)
    sim.writer.power_off(3, by="energy")
    sim.writer.power_on(3, by="energy")
    sim.run(until_s=10.0)
    assert sim.machine_state(3) == MachineState.BOOTING
    sim.step()  # 15 s: past the 12 s boot
    assert sim.machine_state(3) == MachineState.ON


def test_power_cycle_respects_the_boot_delay() -> None:
    sim = _sim(boot_delay_s=180)
    sim.writer.power_off(3, by="energy")
    assert sim.machine_state(3) == MachineState.OFF
    sim.writer.power_on(3, by="energy")
    sim.run(until_s=175)
    assert sim.machine_state(3) == MachineState.BOOTING
    assert not sim.observe().schedulable[3]
    sim.run(until_s=180)
    assert sim.machine_state(3) == MachineState.ON
    ticks = sim.results().ticks
    assert ticks["machines_booting"].max() == 1 and ticks["machines_off"].iloc[-1] == 0


def test_refused_calls_raise_and_are_logged() -> None:
    sim = _sim()
    busy = next(m for m in range(4) if sim.machine_task_count(m) > 0)
    with pytest.raises(SimulationError, match="still runs"):
        sim.writer.power_off(busy, by="energy")
    with pytest.raises(SimulationError, match="not OFF"):
        sim.writer.power_on(busy, by="energy")
    with pytest.raises(SimulationError, match="not FAILED"):
        sim.writer.evict_stranded(busy, by="healer")
    with pytest.raises(SimulationError, match="no rogue process"):
        sim.writer.kill_rogue(busy, by="healer")
    with pytest.raises(SimulationError, match="no machine 9"):
        sim.writer.cordon(9, False, by="x")
    with pytest.raises(SimulationError, match="not an uplink of rack 0"):
        sim.writer.reroute(0, away_from_link=5, by="net")
    with pytest.raises(SimulationError, match="outside"):
        sim.writer.set_service_replicas(0, 9, by="scaler")
    events = sim.results().events
    assert len(events) == 7 and not events["ok"].any()
    assert events["by"].tolist()[:2] == ["energy", "energy"]
    assert events["target"].tolist()[0] == f"machine:{busy}"


def test_drain_moves_tasks_and_cordons() -> None:
    sim = _sim()
    busy = next(m for m in range(4) if sim.machine_task_count(m) > 0)
    n = sim.machine_task_count(busy)
    assert sim.writer.drain(busy, by="balancer") == n
    assert sim.machine_state(busy) == MachineState.DRAINING
    sim.step()
    assert sim.machine_task_count(busy) == 0
    assert sim.results().summary["evictions"] == n
    sim.writer.power_off(busy, by="energy")  # drained machines may be powered off
    assert sim.machine_state(busy) == MachineState.OFF


def test_cordon_and_uncordon() -> None:
    sim = _sim()
    sim.writer.cordon(2, False, by="op")
    assert not sim.observe().schedulable[2]
    sim.writer.cordon(2, True, by="op")
    assert sim.observe().schedulable[2]
    events = sim.results().events
    assert events["detail"].tolist() == ["cordoned", "schedulable"]


def test_scaling_a_service_adds_and_removes_replicas() -> None:
    sim = _sim()
    sim.writer.set_service_replicas(0, 4, by="scaler")
    sim.step()
    obs = sim.observe()
    assert obs.service_replicas[0] == 4 and obs.service_running[0] == 4
    sim.writer.set_service_replicas(0, 1, by="scaler")
    obs = sim.observe()
    assert obs.service_replicas[0] == 1 and obs.service_running[0] == 1
    tasks = sim.results().tasks
    replicas = tasks[tasks["service"] == 0]
    assert len(replicas) == 4
    assert (replicas["end_reason"] == "scaled_down").sum() == 3
    assert sim.results().summary["tasks_scaled_down"] == 3


def test_reroute_moves_the_weight_to_the_other_uplink() -> None:
    sim = _sim()
    sim.writer.reroute(0, away_from_link=1, by="net")
    obs = sim.observe()
    assert obs.link_utilization[1] == 0.0 and obs.link_utilization[0] > 0.0
    assert sim.results().events["detail"].iloc[0].startswith("weight 0.50 moved to links [0]")
