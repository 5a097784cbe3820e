"""Placement: feasibility, priority order, preemption, first/best fit, who is a candidate."""

from __future__ import annotations

import numpy as np
import pytest

from autoinfra.core.observation import MachineState
from autoinfra.sim import SimSettings, Simulator
from tests.sim.builders import T, make_workload

EXACT = SimSettings(candidates=0)  # scan every machine in slot order: exact first/best fit


def _status(sim: Simulator) -> dict[int, str]:
    tasks = sim.results().tasks
    return dict(zip(tasks["task_id"], tasks["status"].astype(str), strict=True))


def test_a_task_goes_only_where_its_cpu_and_memory_fit() -> None:
    wl = make_workload(
        [(0.5, 0.5)],
        [T(cpu=0.6, mem=0.1), T(cpu=0.1, mem=0.6), T(cpu=0.4, mem=0.4)],
    )
    sim = Simulator(wl, EXACT)
    sim.run(until_s=60)
    assert _status(sim) == {0: "pending", 1: "pending", 2: "running"}
    assert sim.machine_task_count(0) == 1


def test_higher_priority_is_placed_first_then_earlier_submit() -> None:
    wl = make_workload(
        [(0.5, 0.5)],
        [T(0, cpu=0.4, priority=1), T(0, cpu=0.4, priority=5), T(0, cpu=0.4, priority=5)],
    )
    sim = Simulator(wl, SimSettings(candidates=0, preemption=False))
    assert _status(sim) == {0: "pending", 1: "running", 2: "pending"}


def test_preemption_evicts_lower_priority_and_counts_lost_work() -> None:
    wl = make_workload(
        [(0.5, 0.5)],
        [T(0, 1000, cpu=0.4, priority=0), T(10, 50, cpu=0.4, priority=5)],
    )
    sim = Simulator(wl, EXACT)
    sim.run(until_s=20)
    assert _status(sim) == {0: "pending", 1: "running"}
    sim.run(until_s=100)
    tasks = sim.results().tasks.set_index("task_id")
    assert tasks.loc[0, "evictions"] == 1
    assert tasks.loc[0, "work_lost_s"] == pytest.approx(10.0)
    assert tasks.loc[1, "end_reason"] == "finish"
    assert tasks.loc[1, "end_s"] == pytest.approx(60.0)
    assert tasks.loc[0, "status"] == "running"  # back on the machine once it was free
    assert sim.results().summary["preemptions"] == 1


def test_without_preemption_the_high_priority_task_waits() -> None:
    wl = make_workload(
        [(0.5, 0.5)],
        [T(0, 1000, cpu=0.4, priority=0), T(10, 50, cpu=0.4, priority=5)],
    )
    sim = Simulator(wl, SimSettings(candidates=0, preemption=False))
    sim.run(until_s=30)
    assert _status(sim) == {0: "running", 1: "pending"}


def test_production_tasks_do_not_preempt_each_other() -> None:
    wl = make_workload(
        [(0.5, 0.5)],
        [T(0, 1000, cpu=0.4, priority=9), T(10, 50, cpu=0.4, priority=11)],
    )
    sim = Simulator(wl, EXACT)
    sim.run(until_s=30)
    assert _status(sim) == {0: "running", 1: "pending"}


@pytest.mark.parametrize(("fit", "machine"), [("first", 0), ("best", 1)])
def test_first_fit_takes_the_first_machine_best_fit_the_tightest(fit: str, machine: int) -> None:
    wl = make_workload([(0.5, 1.0), (0.2, 1.0), (0.3, 1.0)], [T(cpu=0.15, mem=0.01)])
    sim = Simulator(wl, SimSettings(candidates=0, fit=fit))  # type: ignore[arg-type]
    counts = [sim.machine_task_count(m) for m in range(3)]
    assert counts == [1 if m == machine else 0 for m in range(3)]


def test_sampled_best_fit_still_places_everything_that_fits() -> None:
    tasks = [T(float(i), 500, cpu=0.1, mem=0.1) for i in range(30)]
    sim = Simulator(make_workload(10, tasks), SimSettings(candidates=2, scan_limit=4), seed=3)
    sim.run(until_s=40)
    assert set(_status(sim).values()) == {"running"}


def test_cordoned_and_off_machines_are_not_candidates() -> None:
    wl = make_workload(3, [T(10, 100, cpu=0.1), T(10, 100, cpu=0.1), T(10, 100, cpu=0.1)])
    sim = Simulator(wl, EXACT)
    sim.writer.cordon(0, False, by="test")
    sim.writer.power_off(1, by="test")
    sim.run(until_s=20)
    assert sim.machine_state(1) == MachineState.OFF
    assert [sim.machine_task_count(m) for m in range(3)] == [0, 0, 3]


def test_scheduling_delay_is_recorded_per_task() -> None:
    wl = make_workload([(0.5, 0.5)], [T(0, 100, cpu=0.4), T(0, 100, cpu=0.4)])
    sim = Simulator(wl, EXACT)
    sim.run(until_s=150)
    tasks = sim.results().tasks.set_index("task_id")
    assert tasks.loc[0, "sched_delay_s"] == 0.0
    assert tasks.loc[1, "sched_delay_s"] == pytest.approx(100.0)
    assert tasks.loc[1, "start_s"] == pytest.approx(100.0)


def test_equal_requests_spread_over_the_sample_rather_than_pile_up() -> None:
    # twelve identical tasks and four empty machines: best fit from one sample would stack them
    # on one machine; each machine of the sample takes one task per search instead
    sim = Simulator(make_workload(4, [T(0, 500, cpu=0.05, mem=0.05)] * 12), SimSettings(), seed=1)
    counts = np.array([sim.machine_task_count(m) for m in range(4)])
    assert counts.sum() == 12
    assert counts.max() - counts.min() <= 1
