"""Observation as monitoring sees it, fork isolation, results and their Parquet files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from autoinfra.core.observation import Observation
from autoinfra.sim import SimSettings, Simulator
from autoinfra.sim.results import TICK_COLUMNS
from tests.sim.builders import S, T, make_workload


def _sim(seed: int = 0) -> Simulator:
    tasks = [T(float(i), 200 + 10 * i, cpu=0.05, mem=0.05, priority=i % 3) for i in range(40)]
    wl = make_workload(6, tasks, [S(replicas=3)], end_s=900)
    return Simulator(wl, SimSettings(), scenario="storm", seed=seed)


def test_observation_has_the_right_shapes_and_is_a_snapshot() -> None:
    sim = _sim()
    obs = sim.observe()
    assert isinstance(obs, Observation)
    assert obs.n_machines == 6 and obs.machine_ids.tolist() == list(range(1000, 1006))
    assert obs.link_rack.tolist() == [0, 0] and obs.service_ids.shape == (1,)
    assert obs.cpu_used.dtype == np.float32 and obs.tasks_running.dtype == np.int32
    assert obs.pending_tasks == 0 and obs.power_w > 0
    before = obs.cpu_requested.copy()
    sim.run(until_s=120)
    assert np.array_equal(obs.cpu_requested, before)  # the old snapshot did not move
    assert obs.time_s == 0.0 and sim.observe().time_s == 120.0
    assert sim.clock.now_s() == 120.0


def test_fork_is_independent_of_the_original() -> None:
    sim = _sim()
    sim.run(until_s=300)
    snapshot = sim.results()
    fork = sim.fork()
    fork.run(until_s=900)
    fork.writer.drain(0, by="what-if")
    assert sim.now_s == 300.0 and fork.now_s == 900.0
    again = sim.results()
    pd.testing.assert_frame_equal(again.ticks, snapshot.ticks)
    pd.testing.assert_frame_equal(again.tasks, snapshot.tasks)
    assert len(again.events) == len(snapshot.events)
    # and the original, run on, matches the fork's own path (same seed, same history)
    sim.run(until_s=900)
    pd.testing.assert_frame_equal(sim.results().ticks, fork.results().ticks)


def test_the_same_seed_gives_the_same_run() -> None:
    a, b = _sim(seed=4), _sim(seed=4)
    a.run()
    b.run()
    ra, rb = a.results(), b.results()
    pd.testing.assert_frame_equal(ra.ticks, rb.ticks)
    pd.testing.assert_frame_equal(ra.tasks, rb.tasks)
    pd.testing.assert_frame_equal(ra.faults, rb.faults)


def test_results_columns_and_parquet_round_trip(tmp_path: Path) -> None:
    sim = _sim()
    sim.run()
    assert sim.done
    res = sim.results()
    assert tuple(res.ticks.columns) == TICK_COLUMNS
    assert res.ticks["time_s"].iloc[-1] == 900.0 and len(res.ticks) == 181
    for col in (
        "submit_s",
        "start_s",
        "end_s",
        "end_reason",
        "sched_delay_s",
        "evictions",
        "work_lost_s",
        "priority",
        "service",
    ):
        assert col in res.tasks.columns
    for col in (
        "injected_s",
        "detected_s",
        "mitigated_s",
        "recovered_s",
        "detect_s",
        "mitigate_s",
        "recovery_s",
        "self_cleared",
    ):
        assert col in res.faults.columns
    paths = res.to_parquet(tmp_path / "out")
    assert sorted(p.name for p in paths.values()) == [
        "events.parquet",
        "faults.parquet",
        "summary.json",
        "tasks.parquet",
        "ticks.parquet",
    ]
    back = pd.read_parquet(paths["ticks"])
    pd.testing.assert_frame_equal(back, res.ticks)
    assert not list((tmp_path / "out").glob(".*tmp"))  # no temporary files left behind


def test_record_every_s_thins_the_tick_rows() -> None:
    wl = make_workload(2, [T(0, 100)], end_s=600)
    sim = Simulator(wl, SimSettings(tick_s=5, record_every_s=60))
    sim.run()
    assert sim.results().ticks["time_s"].tolist() == [60.0 * k for k in range(11)]


@pytest.mark.parametrize("until", [0.0, 7.0])
def test_until_s_ends_the_run(until: float) -> None:
    sim = Simulator(make_workload(2, [T(0, 100)], end_s=600), SimSettings(until_s=until))
    sim.run()
    assert sim.done and sim.now_s == (0.0 if until == 0 else 10.0)


def test_work_at_risk_counts_the_run_time_of_batch_tasks_and_restarts_with_a_drain() -> None:
    # two batch tasks at 0 s and one at 100 s; the services' replicas run but finish nothing
    wl = make_workload(
        [(1.0, 1.0), (1.0, 1.0)],
        [T(0, 10_000, cpu=0.3), T(0, 10_000, cpu=0.3), T(100, 10_000, cpu=0.3)],
        [S(replicas=4, cpu=0.05, mem=0.05)],
    )
    sim = Simulator(wl, SimSettings(candidates=0, fit="first", tick_s=5.0))
    sim.run(until_s=400.0)
    risk = sim.observe().extra["work_at_risk_s"]
    assert isinstance(risk, np.ndarray) and risk.dtype == np.float32 and risk.shape == (2,)
    # each task is placed in the tick it arrives: its age is the time since submission, to a tick
    assert float(risk.sum()) == pytest.approx(400 + 400 + 300, abs=3 * 5.0)
    busy = int(np.argmax(risk))
    sim.writer.drain(busy, by="test")
    sim.run(until_s=410.0)
    after = sim.observe().extra["work_at_risk_s"]
    assert isinstance(after, np.ndarray) and after[busy] == 0.0
    # the moved tasks start over: the other machine gains at most 10 s for each of the three
    assert float(after[1 - busy]) <= float(risk[1 - busy]) + 10.0 + 3 * 10.0
    assert float(after.sum()) < float(risk.sum())
