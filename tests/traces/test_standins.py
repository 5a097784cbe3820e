"""Stand-ins for the running tasks that mid-life data cannot show (traces.standins)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autoinfra.core.errors import ConfigError
from autoinfra.traces import default_trace_dir, load_workload, standins
from autoinfra.traces.instances import task_instances
from autoinfra.traces.reader import part_files, read_table
from autoinfra.traces.schema import TaskEventType as E
from autoinfra.traces.standins import (
    load_standins,
    measure_silent,
    running_at,
    stand_in_instances,
)
from autoinfra.traces.workload import history_warning
from tests.traces.midlife import mid_life_trace

US = 1_000_000


def _events(rows: list[tuple[int, int, int, int, float | None]]) -> pd.DataFrame:
    """task_events rows (time s, job, task index, event type, CPU request)."""
    return pd.DataFrame(
        {
            "time": [r[0] * US for r in rows],
            "job_id": [r[1] for r in rows],
            "task_index": [r[2] for r in rows],
            "event_type": [int(r[3]) for r in rows],
            "cpu_request": [np.nan if r[4] is None else r[4] for r in rows],
            "memory_request": [np.nan if r[4] is None else r[4] / 2 for r in rows],
            "priority": [9 for _ in rows],
            "scheduling_class": [1.0 for _ in rows],
        }
    )


def test_running_at_tells_silent_tasks_from_those_a_later_event_shows() -> None:
    ev = _events(
        [
            (0, 1, 0, E.SUBMIT, 0.1), (10, 1, 0, E.SCHEDULE, None),  # silent: runs on
            (0, 2, 0, E.SUBMIT, 0.2), (10, 2, 0, E.SCHEDULE, None),
            (900, 2, 0, E.FINISH, None),  # running at 500, then a later event shows it
            (0, 3, 0, E.SUBMIT, 0.3), (10, 3, 0, E.SCHEDULE, None),
            (400, 3, 0, E.FINISH, None),  # ended before 500: not running
            (0, 4, 0, E.SUBMIT, 0.4),  # waiting, never placed: not running
            (0, 5, 0, E.SUBMIT, 0.5), (10, 5, 0, E.SCHEDULE, None),
            (300, 5, 0, E.EVICT, None), (350, 5, 0, E.SCHEDULE, None),  # evicted, runs again
        ]
    )  # fmt: skip
    run = running_at(ev, 500 * US).set_index("job_id")
    assert sorted(run.index) == [1, 2, 5]
    assert not run.loc[1, "seen_after"] and run.loc[2, "seen_after"]
    assert not run.loc[5, "seen_after"]
    assert run.loc[5, "cpu_request"] == pytest.approx(0.5)


def _mix(jobs: list[tuple[int, float, float]]) -> dict[str, Any]:
    """A stand-ins file with one group per job: (tasks, CPU request, memory request)."""
    return {
        "at_trace_s": 1000.0,
        "source": "test",
        "running": {"cpu_per_capacity": 1.0, "mem_per_capacity": 0.8, "tasks": 0},
        "mix": {
            "job": list(range(len(jobs))),
            "count": [j[0] for j in jobs],
            "cpu_request": [j[1] for j in jobs],
            "mem_request": [j[2] for j in jobs],
            "priority": [9 if i % 2 else 0 for i in range(len(jobs))],
            "sched_class": [1 for _ in jobs],
        },
    }


def _no_instances() -> pd.DataFrame:
    return pd.DataFrame(
        {"open_s": [], "end_s": [], "cpu_request": [], "mem_request": []}, dtype=float
    )


def test_stand_ins_fill_to_the_level_by_whole_jobs_and_follow_the_seed() -> None:
    cal = _mix([(5, 0.1, 0.05), (3, 0.2, 0.1), (40, 0.01, 0.01), (1, 0.5, 0.1)])
    capacity = (10.0, 10.0)  # levels: CPU 10, memory 8
    frame, info = stand_in_instances(_no_instances(), capacity, 3600.0, seed=4, standins=cal)
    assert frame["cpu_request"].sum() <= 10.0 + 1e-9 and frame["mem_request"].sum() <= 8.0
    assert frame["cpu_request"].sum() > 10.0 - 0.5  # within one job of the level
    assert info["tasks"] == len(frame) and frame["stand_in"].all()
    # whole jobs, numbered 0..n-1 within each, never a trace job id (those are >= 0)
    assert (frame["job_id"] < 0).all()
    for _, tasks in frame.groupby("job_id"):
        assert sorted(tasks["task_index"]) == list(range(len(tasks)))
        assert len(tasks) in (5, 3, 40, 1)
    # they run through the window and are there at its start
    assert (frame["open_s"] == 0).all() and (frame["run_s"] == 3600.0).all()
    assert frame["running_at_end"].all() and frame["end_s"].isna().all()
    again, _ = stand_in_instances(_no_instances(), capacity, 3600.0, seed=4, standins=cal)
    pd.testing.assert_frame_equal(frame, again)
    orders = {
        tuple(stand_in_instances(_no_instances(), capacity, 3600.0, seed=s, standins=cal)[0]
              .drop_duplicates("job_id")["cpu_request"].round(3))
        for s in range(8)
    }  # fmt: skip
    assert len(orders) > 1  # the seed decides the order jobs are taken in


def test_what_the_data_shows_counts_towards_the_level() -> None:
    cal = _mix([(1, 0.1, 0.1)] * 50)
    seen = pd.DataFrame(
        {"open_s": [0.0, -10.0, 5.0], "end_s": [np.nan, 100.0, np.nan],
         "cpu_request": [3.0, 2.0, 4.0], "mem_request": [1.0, 1.0, 1.0]}
    )  # fmt: skip
    frame, info = stand_in_instances(seen, (10.0, 100.0), 600.0, seed=0, standins=cal)
    # 5 of the 10 CPU are running at the start (the task opening at 5 s is not)
    assert info["seen_cpu_per_capacity"] == pytest.approx(0.5)
    assert frame["cpu_request"].sum() == pytest.approx(5.0)
    full = pd.DataFrame(
        {"open_s": [0.0], "end_s": [np.nan], "cpu_request": [12.0], "mem_request": [1.0]}
    )
    none, info = stand_in_instances(full, (10.0, 100.0), 600.0, seed=0, standins=cal)
    assert none.empty and info["tasks"] == 0


@settings(max_examples=60, deadline=None)
@given(
    jobs=st.lists(
        st.tuples(
            st.integers(1, 50),
            st.floats(1e-4, 0.5, allow_nan=False),
            st.floats(1e-4, 0.5, allow_nan=False),
        ),
        min_size=1,
        max_size=30,
    ),
    cap=st.floats(0.0, 200.0, allow_nan=False),
    seed=st.integers(0, 2**16),
)
def test_stand_ins_never_pass_either_level(
    jobs: list[tuple[int, float, float]], cap: float, seed: int
) -> None:
    frame, info = stand_in_instances(_no_instances(), (cap, cap), 60.0, seed, standins=_mix(jobs))
    assert frame["cpu_request"].sum() <= cap * 1.0 + 1e-9
    assert frame["mem_request"].sum() <= cap * 0.8 + 1e-9
    if info["passes"] == standins.MAX_PASSES:
        return  # a level far above this mix: filled as far as MAX_PASSES go
    # and stop short only where no whole job still fits
    left_cpu = cap - frame["cpu_request"].sum()
    left_mem = cap * 0.8 - frame["mem_request"].sum()
    fits = [n * c <= left_cpu + 1e-9 and n * m <= left_mem + 1e-9 for n, c, m in jobs]
    assert not any(fits)


def test_the_level_measured_before_a_point_fills_the_cell_seen_after_it(tmp_path: Path) -> None:
    """Held out: stand-ins measured on parts 0-1 alone (at part 1's first event) fill the cell
    read from part 2 on to within a few per cent of what the full history has running there."""
    root = default_trace_dir()
    parts = part_files(root, "task_events")
    early_dir = tmp_path / "early"
    for table, files in (("task_events", parts[:2]), ("machine_events", None)):
        (early_dir / table).mkdir(parents=True)
        for p in files if files is not None else part_files(root, table):
            (early_dir / table / p.name).symlink_to(p)
    boundary_1 = int(read_table("task_events", parts[1], False)[0]["time"].min())
    cal = measure_silent(early_dir, at_s=boundary_1 / US)

    early = pd.concat([read_table("task_events", p, False)[0] for p in parts[:2]])
    later = pd.concat([read_table("task_events", p, False)[0] for p in parts[2:]])
    machine_events, _ = read_table("machine_events", root, False)
    t2 = int(later["time"].min())
    inst, _ = task_instances(later, t2, int(later["time"].max()))
    capacity = standins._capacity_at(machine_events, t2)
    frame, info = stand_in_instances(inst, capacity, 3600.0, seed=0, standins=cal)
    truth = running_at(pd.concat([early, later]), t2)
    assert info["seen_cpu_per_capacity"] < 0.2  # the data alone shows little of the cell
    for res, col, cap in (("cpu", "cpu_request", capacity[0]), ("mem", "memory_request",
                                                                 capacity[1])):  # fmt: skip
        filled = info[f"seen_{res}_per_capacity"] + info[f"{res}_request"] / cap
        true = float(truth[col].sum()) / cap
        assert filled == pytest.approx(true, rel=0.05), res
    # and the jobs keep their shape: silent production jobs of many tasks among them
    sizes = frame.groupby("job_id").size()
    assert sizes.max() > 100 and (frame["priority"] >= 9).mean() > 0.2


def test_the_shipped_file_is_what_measure_silent_makes_of_the_shipped_slice() -> None:
    shipped = load_standins()
    again = measure_silent()
    assert again["at_trace_s"] == pytest.approx(shipped["at_trace_s"], abs=0.01)
    for key in ("cpu_per_capacity", "mem_per_capacity"):
        assert again["running"][key] == pytest.approx(shipped["running"][key], rel=1e-4)
    assert again["mix"]["count"] == shipped["mix"]["count"]


def test_mid_life_data_gets_stand_ins_and_services_complete_data_none(tmp_path: Path) -> None:
    later = mid_life_trace(tmp_path / "later", first_part=2)
    filled = load_workload(later, cache=False)
    fill = filled.meta["history"]["stand_ins"]
    assert fill["tasks"] > 50_000 and filled.meta["instances"]["stand_ins"] == fill["tasks"]
    warning = history_warning(filled)
    assert warning is not None and "stand-ins" in warning and "--silent-tasks none" in warning
    bare = load_workload(later, cache=False, silent_tasks="none")
    assert "stand_ins" not in bare.meta["history"]
    assert len(filled.tasks.submit_s) - len(bare.tasks.submit_s) == fill["tasks"]
    # silent production jobs become services, as they were
    assert len(filled.services.initial_replicas) > len(bare.services.initial_replicas) + 100
    assert "they are left out" in (history_warning(bare) or "")
    whole = load_workload(default_trace_dir(), end_s=6000.0, cache=False)
    assert "stand_ins" not in whole.meta["history"]
    with pytest.raises(ConfigError) as err:
        load_workload(later, silent_tasks="invent")
    assert err.value.field == "silent_tasks"


def test_measuring_needs_the_history_from_the_start(tmp_path: Path) -> None:
    later = mid_life_trace(tmp_path / "later", first_part=1)
    with pytest.raises(ConfigError, match="mid-life") as err:
        measure_silent(later, at_s=12_000.0)
    assert err.value.field == "trace"
