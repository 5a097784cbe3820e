"""``autoinfra simulate``: runs on the shipped slice and on a synthetic cell, writes Parquet, and
fails cleanly (exit 2, one line naming the file) on a bad scenario file."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from autoinfra.cli.simulate import simulate


@pytest.fixture
def app() -> typer.Typer:
    cli = typer.Typer()
    cli.command()(simulate)
    return cli


def test_simulates_a_sample_of_the_shipped_slice_and_writes_parquet(
    app: typer.Typer, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    args = ["--machines", "40", "--hours", "0.5", "--faults", "node-failure", "--out", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "SLO violation rate" in result.output and "node-failure" in result.output
    ticks = pd.read_parquet(out / "ticks.parquet")
    assert ticks["time_s"].iloc[-1] == pytest.approx(1800.0)
    summary = json.loads((out / "summary.json").read_text())
    # node-failure: two machines fail at seeded times in [900 s, 1800 s - 600 s]
    assert summary["machines"] == 40 and summary["faults_injected"] == 2
    assert summary["config"]["auto_evict_failed_after_s"] == 0.0  # nobody acts here
    faults = pd.read_parquet(out / "faults.parquet")
    scen = faults[faults["origin"] == "scenario"]
    assert scen["injected_s"].between(900.0, 1200.0).all()
    assert scen["mitigated_by"].tolist() == ["sim:auto-evict"] * 2


def test_simulates_a_synthetic_cell(app: typer.Typer) -> None:
    result = CliRunner().invoke(
        app, ["--synthetic", "--machines", "30", "--hours", "0.1", "--tick-s", "10"]
    )
    assert result.exit_code == 0, result.output
    assert "synthetic" in result.output


def test_a_bad_scenario_file_fails_with_its_name(app: typer.Typer, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("faults:\n  - {kind: cpu_hog, at_s: -1}\n")
    result = CliRunner().invoke(app, ["--synthetic", "--machines", "10", "--faults", str(bad)])
    assert result.exit_code == 2
    assert str(bad) in result.output and "faults[0].at_s" in result.output


def test_placement_by_reservations_is_a_setting(app: typer.Typer, tmp_path: Path) -> None:
    out = tmp_path / "run"
    args = ["--machines", "40", "--hours", "0.25", "--placement", "reservations", "--out", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "placed by reservations" in result.output
    assert json.loads((out / "summary.json").read_text())["config"]["placement"] == "reservations"
    bad = CliRunner().invoke(app, ["--placement", "limits"])
    assert bad.exit_code == 2 and "placement" in bad.output


def test_a_trace_cut_from_the_middle_is_warned_about(app: typer.Typer, tmp_path: Path) -> None:
    from tests.traces.midlife import mid_life_trace

    trace = mid_life_trace(tmp_path / "later")
    args = ["--trace", str(trace), "--machines", "10", "--hours", "0.05"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "warning:" in result.output and "mid-life" in result.output
    shipped = CliRunner().invoke(app, ["--machines", "10", "--hours", "0.05"])
    assert shipped.exit_code == 0 and "warning:" not in shipped.output
