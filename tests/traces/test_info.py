"""trace_info: the slice's true counts, and a folder with tables missing."""

from __future__ import annotations

from pathlib import Path

import pytest

from autoinfra.core.errors import TraceError
from autoinfra.traces import trace_info

KEYS = {
    "machines",
    "machine_events",
    "job_events",
    "task_events",
    "task_usage",
    "jobs",
    "tasks",
    "start_s",
    "end_s",
    "events_by_type",
    "platforms",
    "usage_calibration",
    "missing",
    "skipped",
    "skipped_rows",
    "trace_dir",
}


def test_slice_info_counts(slice_dir: Path) -> None:
    info = trace_info(slice_dir)
    assert info.keys() >= KEYS
    assert info["machines"] == 12_583
    assert info["machine_events"] == 37_780
    assert info["task_events"] == 803_964
    assert info["task_usage"] == 10_000
    assert info["jobs"] == 8_464 and info["tasks"] == 274_536
    assert info["start_s"] == 0.0 and info["end_s"] == pytest.approx(20_644.631187)
    assert sum(info["events_by_type"]["task_events"].values()) == 803_964
    assert info["events_by_type"]["machine_events"]["ADD"] == 21_443
    assert sum(p["machines"] for p in info["platforms"]) >= 12_583
    usage = info["usage_calibration"]
    assert usage["overall"]["tasks"] == 10_000
    assert usage["overall"]["cpu_median"] == pytest.approx(0.124, abs=0.001)
    assert {"free", "middle", "production"} <= usage.keys()
    assert info["missing"] == [] and info["skipped_rows"] == 0


def test_missing_tables_are_reported_not_fatal(tmp_path: Path, slice_dir: Path) -> None:
    (tmp_path / "machine_events").symlink_to(slice_dir / "machine_events")
    info = trace_info(tmp_path)
    assert sorted(info["missing"]) == ["job_events", "task_events", "task_usage"]
    assert info["task_events"] is None and info["tasks"] is None
    assert info["machines"] == 12_583 and info["usage_calibration"] is None


def test_a_folder_without_any_table_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(TraceError, match="no trace table"):
        trace_info(tmp_path)
