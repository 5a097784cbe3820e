"""``autoinfra trace info``: JSON keys and counts, the human tables, bad files and --lenient."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from autoinfra.cli.trace import app
from autoinfra.traces import default_trace_dir

BAD = Path(__file__).resolve().parent.parent / "data" / "bad_traces"


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def bad_trace_dir(tmp_path: Path) -> Path:
    """A trace folder whose task_events part has a bad row at line 7."""
    (tmp_path / "machine_events").symlink_to(default_trace_dir() / "machine_events")
    (tmp_path / "task_events").mkdir()
    shutil.copy(
        BAD / "task_events_unknown_event_line7.csv",
        tmp_path / "task_events" / "part-00000-of-00001.csv",
    )
    return tmp_path


def test_info_json_keys_and_counts(runner: CliRunner) -> None:
    result = runner.invoke(app, ["info", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    for key in (
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
    ):
        assert key in data
    assert data["machines"] == 12_583 and data["machine_events"] == 37_780
    assert data["task_events"] == 803_964 and data["task_usage"] == 10_000


def test_info_tables_for_people(runner: CliRunner) -> None:
    result = runner.invoke(app, ["info"])
    assert result.exit_code == 0, result.output
    for text in (
        "task_events rows",
        "803,964",
        "12,583",
        "Events by type",
        "Platforms",
        "Usage / request",
        "from the trace's start",
    ):
        assert text in result.stdout


def test_info_says_when_a_folder_starts_mid_life(runner: CliRunner, tmp_path: Path) -> None:
    from tests.traces.midlife import mid_life_trace

    later = mid_life_trace(tmp_path / "later", first_part=2)
    result = runner.invoke(app, ["info", "--trace", str(later)], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "starts mid-life" in result.stdout and "--silent-tasks" in result.stdout


def test_bad_file_exits_non_zero_naming_file_and_line(
    runner: CliRunner, bad_trace_dir: Path
) -> None:
    result = runner.invoke(app, ["info", "--trace", str(bad_trace_dir)])
    assert result.exit_code == 2
    assert "part-00000-of-00001.csv" in result.stderr and "line 7" in result.stderr
    assert "event_type" in result.stderr


def test_lenient_reports_what_it_skipped(runner: CliRunner, bad_trace_dir: Path) -> None:
    result = runner.invoke(app, ["info", "--trace", str(bad_trace_dir), "--lenient", "--json"])
    assert result.exit_code == 0, result.output
    assert "skipped 1 bad rows" in result.stderr and "unknown_event 1" in result.stderr
    data = json.loads(result.stdout)
    assert data["skipped_rows"] == 1 and data["task_events"] == 11
    assert sorted(data["missing"]) == ["job_events", "task_usage"]


def test_missing_tables_are_shown(runner: CliRunner, bad_trace_dir: Path) -> None:
    result = runner.invoke(app, ["info", "--trace", str(bad_trace_dir), "--lenient"])
    assert result.exit_code == 0
    assert "missing tables" in result.stdout and "job_events" in result.stdout


def test_calibrate_writes_where_asked(runner: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "cal.json"
    result = runner.invoke(app, ["calibrate", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text())["machines_at_start"] == 12_477
