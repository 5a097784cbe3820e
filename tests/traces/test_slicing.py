"""window, sample_cell and split_windows: what they keep, what they cut, and their records."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autoinfra.core.errors import ConfigError
from autoinfra.traces import TaskEnd, Workload, sample_cell, split_windows, window
from autoinfra.traces.workload import window as window_from_workload_module


@settings(max_examples=200, deadline=None)
@given(st.floats(1.0, 1e7, allow_nan=False), st.floats(0.01, 0.99))
def test_split_windows_never_overlap_and_cover(duration: float, fraction: float) -> None:
    train, evaluation = split_windows(duration, fraction)
    assert train.start_s == 0.0 and evaluation.end_s == duration
    assert train.end_s == evaluation.start_s  # half-open: [0, cut) and [cut, d)
    assert train.start_s < train.end_s and evaluation.start_s < evaluation.end_s


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1, 1.5])
def test_split_windows_refuses_degenerate_fractions(fraction: float) -> None:
    with pytest.raises(ConfigError, match="train_fraction"):
        split_windows(3600.0, fraction)


def test_window_is_exported_from_the_workload_module_too() -> None:
    assert window_from_workload_module is window


@settings(max_examples=25, deadline=None)
@given(st.floats(0.0, 0.9), st.floats(0.05, 1.0))
def test_window_invariants(small_cell: Workload, start_frac: float, len_frac: float) -> None:
    w = small_cell
    start = start_frac * w.end_s
    end = min(w.end_s, start + len_frac * w.end_s)
    if end <= start:
        return
    cut = window(w, start, end)
    t = cut.tasks
    length = end - start
    assert cut.start_s == 0.0 and cut.end_s == pytest.approx(length)
    assert np.all(np.diff(t.submit_s) >= 0) and np.all(t.submit_s >= 0)
    assert np.all(t.submit_s < length)
    assert np.all(t.duration_s >= 0)
    finite = np.isfinite(t.duration_s)
    assert np.all(t.submit_s[finite] + t.duration_s[finite] <= length * (1 + 1e-6) + 1e-3)
    svc = t.service >= 0
    assert np.all(~finite == svc)  # only services run forever
    assert len(cut.services) == len(w.services)  # services are there from 0, so in every window
    at_start = np.bincount(t.service[svc & (t.submit_s == 0)], minlength=len(cut.services))
    np.testing.assert_array_equal(np.maximum(at_start, 1), cut.services.initial_replicas)
    assert cut.meta["window"]["start_s"] == start


def test_window_keeps_running_tasks_with_their_remaining_work(small_cell: Workload) -> None:
    w = small_cell
    t = w.tasks
    mid = w.end_s / 2
    cut = window(w, mid, w.end_s)
    finish = t.submit_s + t.duration_s.astype(np.float64)
    running = (t.submit_s < mid) & (finish > mid) & (t.service < 0)
    later = (t.submit_s >= mid) & (t.service < 0)
    batch = cut.tasks.service < 0
    assert batch.sum() == running.sum() + later.sum()
    entered = batch & (cut.tasks.submit_s == 0)
    assert entered.sum() >= running.sum()
    remaining = np.sort(cut.tasks.duration_s[entered].astype(np.float64))
    expected = np.sort(np.concatenate([finish[running] - mid,
                                       t.duration_s[later & (t.submit_s == mid)]]))  # fmt: skip
    np.testing.assert_allclose(remaining, expected, rtol=1e-5, atol=1e-2)


def test_window_cuts_tasks_at_its_end_and_censors_them(small_cell: Workload) -> None:
    w = small_cell
    t = w.tasks
    mid = w.end_s / 2
    cut = window(w, 0.0, mid)
    finish = t.submit_s + t.duration_s.astype(np.float64)
    batch = t.service < 0
    overlapping = batch & (t.submit_s < mid) & ((finish > 0) | (t.submit_s >= 0))
    past_end = overlapping & (finish > mid)
    already = overlapping & ~past_end & (t.end == TaskEnd.CENSORED)
    cut_batch = cut.tasks.service < 0
    assert past_end.sum() > 0
    assert (cut.tasks.end[cut_batch] == TaskEnd.CENSORED).sum() == past_end.sum() + already.sum()
    done = cut_batch & (cut.tasks.end != TaskEnd.CENSORED)
    assert np.all(cut.tasks.submit_s[done] + cut.tasks.duration_s[done] <= mid + 1e-3)


def test_window_rejects_bounds_outside_the_workload(small_cell: Workload) -> None:
    with pytest.raises(ConfigError):
        window(small_cell, -1.0, 10.0)
    with pytest.raises(ConfigError):
        window(small_cell, 10.0, small_cell.end_s + 1)


def test_window_carries_the_trace_offset(slice_workload: Workload) -> None:
    cut = window(slice_workload, 1_000.0, 2_000.0)
    assert cut.meta["trace_offset_s"] == pytest.approx(1_600.0)
    # the cell at 1,000 s: every machine present is one ADD at 0
    m = cut.machines
    assert len(np.unique(m.machine_id[m.time_s == 0])) == int((m.time_s == 0).sum())


def test_sample_cell_draws_machines_and_thins_tasks(slice_workload: Workload) -> None:
    w = slice_workload
    cut = sample_cell(w, 400, seed=11)
    ids = np.unique(cut.machines.machine_id)
    assert ids.shape[0] == 400 and np.all(np.isin(ids, w.machines.machine_id))
    info = cut.meta["slicing"]
    assert info["machines"] == 400 and info["seed"] == 11
    p = info["task_probability"]
    assert p == pytest.approx(400 / info["of_machines"])
    # about p of the tasks are kept (binomial: within 5 standard deviations)
    n = len(w.tasks)
    assert abs(len(cut.tasks) - p * n) < 5 * np.sqrt(n * p * (1 - p))
    # load per machine stays the cell's: requests at the start per unit of capacity within 25 %
    def load(x: Workload) -> float:
        at0 = x.tasks.submit_s <= 0
        cap = x.machines.cpu[x.machines.event == 0].sum()
        return float(x.tasks.cpu_request[at0].sum() / cap)

    assert load(cut) == pytest.approx(load(w), rel=0.25)
    # services keep only the replicas drawn, and never more than they had
    for k in range(len(cut.services)):
        orig = np.searchsorted(w.job_ids, cut.job_ids[cut.services.job[k]])
        orig_svc = int(np.flatnonzero(w.services.job == orig)[0])
        assert 1 <= cut.services.initial_replicas[k] <= w.services.initial_replicas[orig_svc]
        assert cut.services.max_replicas[k] >= cut.services.initial_replicas[k]
    assert np.all(np.diff(cut.tasks.submit_s) >= 0)


def test_sample_cell_is_deterministic_for_a_seed(small_cell: Workload) -> None:
    a, b, c = (sample_cell(small_cell, 50, seed=s) for s in (3, 3, 4))
    np.testing.assert_array_equal(a.machines.machine_id, b.machines.machine_id)
    np.testing.assert_array_equal(a.job_ids, b.job_ids)
    assert not np.array_equal(a.machines.machine_id, c.machines.machine_id)


def test_sample_cell_refuses_more_machines_than_the_cell(small_cell: Workload) -> None:
    with pytest.raises(ConfigError, match="machines"):
        sample_cell(small_cell, 10_000, seed=0)
