"""The synthetic cell: deterministic for a seed, the scale its calibration implies, and a
calibration that is what the shipped slice measures."""

from __future__ import annotations

import json

import numpy as np
import pytest

from autoinfra.core.errors import ConfigError
from autoinfra.traces import TaskEnd, Workload, generate_cell
from autoinfra.traces.archive import to_arrays
from autoinfra.traces.calibration import _dumps, calibration_from_workload, km_table
from autoinfra.traces.calibration_file import load_calibration


def test_same_seed_same_cell_other_seed_other_cell(small_cell: Workload) -> None:
    again = generate_cell(machines=300, hours=3.0, seed=7)
    a, _ = to_arrays(small_cell)
    b, _ = to_arrays(again)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    other = generate_cell(machines=300, hours=3.0, seed=8)
    assert not np.array_equal(other.tasks.submit_s, small_cell.tasks.submit_s)


def test_small_cell_scale_follows_the_calibration(small_cell: Workload) -> None:
    cal = load_calibration()
    w = small_cell
    t = w.tasks
    assert len(np.unique(w.machines.machine_id)) == 300 and np.all(w.machines.time_s == 0)
    assert len(w.services) == round(cal["services"]["per_machine"] * 300)
    batch_at_start = (t.service < 0) & (t.submit_s == 0)
    assert batch_at_start.sum() == round(cal["batch_at_start"]["per_machine"] * 300)
    np.testing.assert_array_equal(
        np.bincount(t.service[t.service >= 0], minlength=len(w.services)),
        w.services.initial_replicas,
    )
    assert np.all(w.services.initial_replicas <= 300)  # no job larger than the cell
    events = w.meta["task_events"]
    assert events["total"] == events["submit"] + events["schedule"] + events["end"]
    assert events["submit"] == int((t.submit_s > 0).sum())
    assert events["end"] == int((t.end != TaskEnd.CENSORED).sum())


def test_synthetic_invariants(small_cell: Workload) -> None:
    t = small_cell.tasks
    assert np.all(np.diff(t.submit_s) >= 0) and t.submit_s.max() < small_cell.end_s
    assert np.all(t.duration_s >= 0)
    finite = np.isfinite(t.duration_s)
    assert np.all(~finite == (t.service >= 0))
    assert np.all(t.submit_s[finite] + t.duration_s[finite] <= small_cell.end_s * (1 + 1e-6))
    for req in (t.cpu_request, t.mem_request):
        assert np.all((req > 0) & (req <= 1))
    assert np.all((t.cpu_usage_ratio >= 0) & (t.cpu_usage_ratio <= 2))
    assert np.all((t.mem_usage_ratio >= 0) & (t.mem_usage_ratio <= 1))
    assert t.job.max() < len(small_cell.job_ids) and t.profile.max() < 100


def test_full_cell_at_the_defaults_is_about_a_google_cell() -> None:
    w = generate_cell()
    running = w.meta["nominal_running"]
    # about 150k tasks at once in a 12.5k-machine cell (the slice has ~144k at its start)
    assert 120_000 <= running["at_start"] <= 200_000
    assert 120_000 <= running["mean"] <= 220_000
    assert w.meta["task_events"]["total"] > 1_000_000
    assert len(w.machines) == 12_500


def test_bad_sizes_are_refused() -> None:
    with pytest.raises(ConfigError, match="machines"):
        generate_cell(machines=0)
    with pytest.raises(ConfigError, match="hours"):
        generate_cell(machines=10, hours=0.0)


def test_shipped_calibration_is_what_the_slice_measures(slice_workload: Workload) -> None:
    measured = json.loads(_dumps(calibration_from_workload(slice_workload)))
    assert measured == load_calibration()


def test_kaplan_meier_without_censoring_is_the_empirical_distribution() -> None:
    d = np.arange(1.0, 101.0)
    table = km_table(d, np.ones(100, dtype=bool))
    assert table["tail_share"] == pytest.approx(0.0)
    assert np.interp(0.5, table["probs"], table["values"]) == pytest.approx(50.0, abs=1.0)


def test_kaplan_meier_keeps_what_censoring_hides_as_a_tail() -> None:
    d = np.array([1.0, 2.0, 3.0, 10.0, 10.0, 10.0])
    observed = np.array([True, True, True, False, False, False])
    table = km_table(d, observed)
    assert table["tail_share"] == pytest.approx(0.5)
    assert max(table["values"]) <= 3.0
