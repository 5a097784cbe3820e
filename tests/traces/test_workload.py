"""The workload model: instance semantics on hand-written events, invariants on the slice and on
random event histories (Hypothesis), and the service rule."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from autoinfra.core.errors import ConfigError
from autoinfra.traces import MachineEventType, TaskEnd, Workload, load_workload
from autoinfra.traces.instances import task_instances
from autoinfra.traces.schema import TaskEventType as E
from autoinfra.traces.tasks import build_task_tables
from autoinfra.traces.usage import RatioTables
from autoinfra.traces.workload import history_warning
from tests.traces.midlife import mid_life_trace

US = 1_000_000
RATIOS = RatioTables.from_ratios(
    pd.DataFrame(
        {"priority": [0, 9], "band": [0, 2], "cpu_ratio": [0.1, 0.5], "mem_ratio": [0.5, 0.8]}
    )
)


def events(rows: list[tuple[float, int, int, int, float | None]]) -> pd.DataFrame:
    """task_events rows from (time_s, job, task, event, cpu request); priority 9, class 2."""
    return pd.DataFrame(
        {
            "time": np.array([int(r[0] * US) for r in rows], dtype=np.int64),
            "job_id": np.array([r[1] for r in rows], dtype=np.int64),
            "task_index": np.array([r[2] for r in rows], dtype=np.int64),
            "event_type": np.array([r[3] for r in rows], dtype=np.int64),
            "cpu_request": np.array([np.nan if r[4] is None else r[4] for r in rows]),
            "memory_request": np.full(len(rows), 0.01),
            "priority": np.full(len(rows), 9, dtype=np.int64),
            "scheduling_class": np.full(len(rows), 2.0),
        }
    )


def one(frame: pd.DataFrame, job: int = 1, task: int = 0) -> pd.DataFrame:
    return frame[(frame["job_id"] == job) & (frame["task_index"] == task)].reset_index(drop=True)


def test_evictions_continue_the_instance_and_runs_are_summed() -> None:
    ev = events(
        [
            (100, 1, 0, E.SUBMIT, 0.1),
            (110, 1, 0, E.SCHEDULE, None),
            (120, 1, 0, E.EVICT, None),
            (125, 1, 0, E.SUBMIT, None),
            (130, 1, 0, E.SCHEDULE, None),
            (150, 1, 0, E.FINISH, None),
        ]
    )
    inst, anomalies = task_instances(ev, 0, 1000 * US)
    assert len(inst) == 1
    row = inst.iloc[0]
    assert row["run_s"] == pytest.approx(10 + 20)
    assert row["end"] == TaskEnd.FINISH and row["submit_s"] == 100 and row["end_s"] == 150
    assert anomalies["evictions_not_replayed"] == 1


def test_resubmission_after_fail_is_a_new_instance() -> None:
    ev = events(
        [
            (0, 1, 0, E.SUBMIT, 0.1),
            (10, 1, 0, E.SCHEDULE, None),
            (40, 1, 0, E.FAIL, None),
            (50, 1, 0, E.SUBMIT, 0.2),
            (60, 1, 0, E.SCHEDULE, None),
            (90, 1, 0, E.FINISH, None),
        ]
    )
    inst, _ = task_instances(ev, 0, 1000 * US)
    assert list(inst["end"]) == [TaskEnd.FAIL, TaskEnd.FINISH]
    assert list(inst["run_s"]) == pytest.approx([30, 30])
    assert list(inst["cpu_request"]) == pytest.approx([0.1, 0.2])


def test_running_at_the_window_start_enters_at_zero_with_its_remaining_run() -> None:
    ev = events(
        [(0, 1, 0, E.SUBMIT, 0.1), (0, 1, 0, E.SCHEDULE, None), (900, 1, 0, E.FINISH, None)]
    )
    inst, _ = task_instances(ev, 600 * US, 2000 * US)
    row = one(inst).iloc[0]
    assert row["submit_s"] == 0 and row["open_s"] < 0
    assert row["run_s"] == pytest.approx(300)  # from the window start to the FINISH at 900 s


def test_no_end_in_the_window_is_censored_up_to_the_window_end() -> None:
    ev = events(
        [(700, 1, 0, E.SUBMIT, 0.1), (710, 1, 0, E.SCHEDULE, None), (1500, 1, 0, E.FINISH, None)]
    )
    inst, _ = task_instances(ev, 600 * US, 1000 * US)
    row = one(inst).iloc[0]
    assert row["end"] == TaskEnd.CENSORED and np.isnan(row["end_s"])
    assert row["running_at_end"]
    assert row["run_s"] == pytest.approx(1000 - 710)
    assert row["submit_s"] == pytest.approx(100)


def test_history_before_the_window_is_not_workload() -> None:
    ev = events(
        [
            (0, 1, 0, E.SUBMIT, 0.1),
            (0, 1, 0, E.SCHEDULE, None),
            (300, 1, 0, E.FINISH, None),
            (700, 2, 0, E.SUBMIT, 0.1),
        ]
    )
    inst, anomalies = task_instances(ev, 600 * US, 1000 * US)
    assert list(inst["job_id"]) == [2]
    assert anomalies["instances_before_window"] == 1


def test_requests_come_from_the_latest_event_carrying_them() -> None:
    ev = events(
        [
            (0, 1, 0, E.SUBMIT, 0.1),
            (5, 1, 0, E.SCHEDULE, None),
            (20, 1, 0, E.UPDATE_RUNNING, 0.3),
            (30, 1, 0, E.UPDATE_RUNNING, None),
        ]
    )
    inst, _ = task_instances(ev, 0, 100 * US)
    assert inst.iloc[0]["cpu_request"] == pytest.approx(0.3)


def test_killed_while_pending_ran_for_nothing() -> None:
    ev = events([(0, 1, 0, E.SUBMIT, 0.1), (40, 1, 0, E.KILL, None)])
    inst, _ = task_instances(ev, 0, 100 * US)
    assert inst.iloc[0]["run_s"] == 0 and inst.iloc[0]["end"] == TaskEnd.KILL


def test_service_rule_whole_jobs() -> None:
    rows = [  # job 1: production, there at the start, running at the end -> service (2 tasks)
        (0, 1, 0, E.SUBMIT, 0.1),
        (0, 1, 0, E.SCHEDULE, None),
        (0, 1, 1, E.SUBMIT, 0.1),
        (0, 1, 1, E.SCHEDULE, None),
        (200, 1, 1, E.FAIL, None),
        (210, 1, 1, E.SUBMIT, None),
        (220, 1, 1, E.SCHEDULE, None),
        # job 2: production, there at the start, but a task FINISHes -> batch
        (0, 2, 0, E.SUBMIT, 0.1),
        (0, 2, 0, E.SCHEDULE, None),
        (300, 2, 0, E.FINISH, None),
        (0, 2, 1, E.SUBMIT, 0.1),
        (0, 2, 1, E.SCHEDULE, None),
        # job 3: arrives later -> batch even though it runs to the end
        (500, 3, 0, E.SUBMIT, 0.1),
        (510, 3, 0, E.SCHEDULE, None),
    ]
    inst, _ = task_instances(events(rows), 0, 1000 * US)
    built = build_task_tables(inst, RATIOS, 5, np.random.default_rng(0))
    t, s = built.tasks, built.services
    assert len(s) == 1 and built.job_ids[s.job[0]] == 1
    svc_rows = t.service == 0
    assert svc_rows.sum() == 2  # one row per task, not per instance (job 1 task 1 restarted)
    assert np.all(np.isinf(t.duration_s[svc_rows])) and np.all(t.end[svc_rows] == TaskEnd.CENSORED)
    assert s.initial_replicas[0] == 2 and s.max_replicas[0] == 8 and s.min_replicas[0] == 1
    assert s.base_cpu_demand[0] == pytest.approx(2 * 0.1 * t.cpu_usage_ratio[svc_rows][0])
    assert np.all(np.isfinite(t.duration_s[~svc_rows]))


event_row = st.tuples(
    st.integers(0, 400),  # time in 10 s steps
    st.integers(1, 3),  # job
    st.integers(0, 2),  # task index
    st.sampled_from([int(e) for e in E]),
    st.one_of(st.none(), st.floats(0.0, 1.0)),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(event_row, min_size=1, max_size=40), st.integers(0, 300), st.integers(1, 200))
def test_invariants_on_random_event_histories(
    rows: list[tuple[int, int, int, int, float | None]], start: int, length: int
) -> None:
    rows = sorted(rows, key=lambda r: r[0])  # a part is time-sorted
    ev = events([(10.0 * r[0], r[1], r[2], r[3], r[4]) for r in rows])
    start_us, end_us = start * 10 * US, (start + length) * 10 * US
    inst, _ = task_instances(ev, start_us, end_us)
    window_s = (end_us - start_us) / US
    assert (inst["run_s"] >= 0).all() and (inst["run_s"] <= window_s + 1e-6).all()
    assert (inst["submit_s"] >= 0).all() and (inst["submit_s"] <= window_s).all()
    censored = inst["end"] == TaskEnd.CENSORED
    assert inst.loc[censored, "end_s"].isna().all()
    assert (inst.loc[~censored, "end_s"] > 0).all() | (inst.loc[~censored, "open_s"] >= 0).all()
    if inst.empty:
        return
    built = build_task_tables(inst, RATIOS, 5, np.random.default_rng(1))
    t = built.tasks
    assert np.all(np.diff(t.submit_s) >= 0)
    assert np.all(t.duration_s >= 0)
    for req in (t.cpu_request, t.mem_request):
        assert np.all((req > 0) & (req <= 1))
    svc = t.service >= 0
    assert np.all(np.isinf(t.duration_s[svc])) and np.all(np.isfinite(t.duration_s[~svc]))
    assert np.all(t.job < len(built.job_ids)) and np.all(t.service < len(built.services))
    assert np.all((t.cpu_usage_ratio >= 0) & (t.cpu_usage_ratio <= 2))


def test_slice_workload_invariants(slice_workload: Workload) -> None:
    w = slice_workload
    t, s, m = w.tasks, w.services, w.machines
    assert w.start_s == 0.0 and w.meta["trace_offset_s"] == 600.0
    assert w.end_s == pytest.approx(20_644.631187 - 600.0)
    assert np.all(np.diff(t.submit_s) >= 0) and t.submit_s[0] == 0.0
    assert np.all(t.duration_s >= 0)
    assert np.all((t.cpu_request > 0) & (t.cpu_request <= 1))
    assert np.all((t.mem_request > 0) & (t.mem_request <= 1))
    svc = t.service >= 0
    assert svc.any() and np.all(np.isinf(t.duration_s[svc]))
    assert np.all(t.end[svc] == TaskEnd.CENSORED)
    batch_finite = t.duration_s[~svc]
    assert np.all(np.isfinite(batch_finite)) and batch_finite.max() <= w.end_s + 1e-3
    at_start = np.bincount(t.service[svc & (t.submit_s == 0)], minlength=len(s))
    np.testing.assert_array_equal(at_start, s.initial_replicas)
    assert np.all(s.max_replicas >= s.initial_replicas) and np.all(s.min_replicas == 1)
    # machines: the cell at the window start as ADDs at 0, then the window's own events
    assert np.all(np.diff(m.time_s) >= 0)
    added_at_0 = (m.time_s == 0) & (m.event == MachineEventType.ADD)
    assert added_at_0.sum() == 12_477 == w.meta["machines"]["at_start"]
    assert np.all(m.time_s <= w.end_s)
    assert len(m.platforms) == 4 and m.platform.max() < 4
    # every instance of the window is a row, or folded into its service's one row per task
    info = w.meta["instances"]
    assert info["batch_rows"] + info["service_rows"] == len(t)
    assert info["services"] == len(s)


def test_a_later_window_starts_from_the_cell_at_that_time(slice_workload: Workload) -> None:
    w = load_workload(start_s=5_000.0, end_s=6_000.0)
    assert w.meta["trace_offset_s"] == 5_000.0 and w.end_s == pytest.approx(1_000.0)
    assert np.all(w.tasks.submit_s <= 1_000.0)
    finite = np.isfinite(w.tasks.duration_s)
    assert np.all(w.tasks.submit_s[finite] + w.tasks.duration_s[finite] <= 1_000.0 + 1e-3)
    assert (w.tasks.submit_s == 0).sum() > 100_000  # a busy cell is already running


def test_windows_outside_the_trace_are_refused() -> None:
    with pytest.raises(ConfigError, match="past the last task event"):
        load_workload(end_s=30_000.0)
    with pytest.raises(ConfigError, match="start_s < end_s"):
        load_workload(start_s=9_000.0, end_s=8_000.0)


def test_same_seed_same_workload_other_seed_other_draws(slice_workload: Workload) -> None:
    other = load_workload(seed=1)
    np.testing.assert_array_equal(other.tasks.submit_s, slice_workload.tasks.submit_s)
    np.testing.assert_array_equal(other.tasks.duration_s, slice_workload.tasks.duration_s)
    assert not np.array_equal(other.tasks.cpu_usage_ratio, slice_workload.tasks.cpu_usage_ratio)


def test_data_that_starts_mid_life_counts_the_runs_its_first_events_show() -> None:
    # the data starts at 500 s, in the middle of these tasks' runs (their SCHEDULEs came before)
    ev = events(
        [
            (500, 9, 0, E.SUBMIT, 0.1),  # a task that arrives with the data: unchanged
            (520, 9, 0, E.SCHEDULE, None),
            (600, 1, 0, E.FINISH, 0.2),  # was running: from the data's start to its FINISH
            (700, 2, 0, E.UPDATE_RUNNING, 0.3),  # was running, still is at the window end
            (650, 3, 0, E.EVICT, 0.1),  # was running, then waits and runs again
            (660, 3, 0, E.SCHEDULE, None),
            (690, 3, 0, E.FINISH, None),
            (580, 4, 0, E.UPDATE_PENDING, 0.1),  # was waiting: nothing ran
            (590, 4, 0, E.KILL, None),
            (900, 9, 0, E.FINISH, None),
        ]
    )
    inst, anomalies = task_instances(ev, 500 * US, 1000 * US)
    assert anomalies["running_at_data_start"] == 3
    assert anomalies["finish_or_fail_without_schedule"] == 0
    run = {int(r.job_id): r for r in inst.itertuples()}
    assert run[1].run_s == pytest.approx(100) and run[1].end == TaskEnd.FINISH
    assert run[1].submit_s == 0 and run[1].cpu_request == pytest.approx(0.2)
    assert run[2].run_s == pytest.approx(500) and run[2].end == TaskEnd.CENSORED
    assert run[3].run_s == pytest.approx(150 + 30)
    assert run[4].run_s == 0 and run[9].run_s == pytest.approx(380)
    # the same window read with the history from the trace's start gives the same runs
    history = events(
        [(0, 1, 0, E.SUBMIT, 0.2), (0, 1, 0, E.SCHEDULE, None), (0, 2, 0, E.SUBMIT, 0.3),
         (0, 2, 0, E.SCHEDULE, None), (100, 3, 0, E.SUBMIT, 0.1), (200, 3, 0, E.SCHEDULE, None)]
    )  # fmt: skip
    full, full_anomalies = task_instances(pd.concat([history, ev]), 500 * US, 1000 * US)
    assert full_anomalies["running_at_data_start"] == 0
    by_job = full.set_index("job_id")["run_s"]
    for job in (1, 2, 3):
        assert by_job[job] == pytest.approx(run[job].run_s)


def test_a_trace_read_from_mid_life_says_so_and_the_slice_does_not(
    slice_workload: Workload, tmp_path: Path
) -> None:
    assert slice_workload.meta["history"]["complete"] is True
    assert history_warning(slice_workload) is None
    later = mid_life_trace(tmp_path / "later")
    workload = load_workload(later, cache=False)
    hist = workload.meta["history"]
    assert hist["complete"] is False and hist["running_at_data_start"] > 1000
    assert hist["first_event_trace_s"] > 15_000
    warning = history_warning(workload)
    assert warning is not None and "mid-life" in warning and "part-00000" in warning
    assert "--trace-span" in warning
