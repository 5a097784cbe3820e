"""The measurement's steadiness check: a system still falling from the cold start is named."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from autoinfra.experiments.steadiness import MOVED_SHARE, capacity_drift, drift_warnings

BURN_IN_S, WINDOW_S = 600.0, 1200.0


def _ticks(system: str, machines_on: np.ndarray, draining: float = 0.0) -> pd.DataFrame:
    t = np.arange(len(machines_on), dtype=float) * 30.0
    return pd.DataFrame(
        {
            "system": system,
            "time_s": t,
            "machines_on": machines_on,
            "machines_draining": draining,
        }
    )


def _falling(start: float, per_s: float) -> np.ndarray:
    t = np.arange(0.0, BURN_IN_S + WINDOW_S, 30.0)
    return np.maximum(start - per_s * t, 0.0)


def test_a_system_still_falling_is_named_and_a_steady_one_is_not() -> None:
    ticks = pd.concat(
        [
            _ticks("agents", _falling(300.0, 0.1)),  # 30 machines fewer every 300 s
            _ticks("kubernetes-defaults", np.full(60, 290.0)),
        ]
    )
    drift = capacity_drift(ticks, BURN_IN_S, WINDOW_S)
    # ticks every 30 s: the first quarter [600, 900) averages the machines at 735 s, the whole
    # window [600, 1800) those at 1185 s
    first, whole = 300.0 - 0.1 * 735.0, 300.0 - 0.1 * 1185.0
    assert drift["agents"] == pytest.approx((first - whole) / whole, rel=1e-6)
    assert drift["kubernetes-defaults"] == 0.0
    warnings = drift_warnings(ticks, BURN_IN_S, WINDOW_S, ["agents", "kubernetes-defaults"])
    assert len(warnings) == 1 and warnings[0].startswith("`agents`")
    assert "--burn-in-s" in warnings[0] and "600 s" in warnings[0]


def test_swings_around_a_level_are_demand_and_draining_machines_serve() -> None:
    # a system that follows demand up and down around 200 machines is at its operating point
    t = np.arange(60) * 30.0
    swinging = 200.0 + 15.0 * np.sin(2 * np.pi * t / 300.0)
    assert drift_warnings(_ticks("agents", swinging), BURN_IN_S, WINDOW_S, ["agents"]) == []
    # machines moving from on to draining are still in service: no drift
    ticks = _ticks("agents", np.full(60, 200.0))
    late = ticks["time_s"] >= 1200.0
    ticks.loc[late, "machines_on"] = 190.0
    ticks.loc[late, "machines_draining"] = 10.0
    assert capacity_drift(ticks, BURN_IN_S, WINDOW_S)["agents"] == 0.0
    # a first quarter off the window's mean by more than the threshold is reported
    step = np.r_[np.full(30, 200.0 * (1 + 3 * MOVED_SHARE)), np.full(30, 200.0)]
    assert len(drift_warnings(_ticks("agents", step), BURN_IN_S, WINDOW_S, ["agents"])) == 1
    within = np.r_[np.full(30, 200.0 * (1 + MOVED_SHARE)), np.full(30, 200.0)]
    assert drift_warnings(_ticks("agents", within), BURN_IN_S, WINDOW_S, ["agents"]) == []


def test_no_ticks_no_verdict() -> None:
    assert capacity_drift(pd.DataFrame(), BURN_IN_S, WINDOW_S) == {}
    # ticks that end before the measured window give no figure for that system
    short = _ticks("agents", np.full(20, 100.0))  # up to 570 s
    assert capacity_drift(short, BURN_IN_S, WINDOW_S) == {}


def test_a_study_from_the_cold_start_warns_of_the_agents_descent(tmp_path: Path) -> None:
    from autoinfra.experiments.harness import run_experiment
    from tests.experiments.test_harness import tiny

    spec = tiny(systems="agents,noop", faults="none", machines=40, window_s=2400, burn_in_s=0)
    summary = run_experiment(spec, tmp_path / "cold")
    measured = summary["measurement"]
    # from all machines on, the agents power down at once; noop never changes anything
    assert measured["capacity_drift"]["agents"] > MOVED_SHARE
    assert measured["capacity_drift"]["noop"] == 0.0
    assert [w.split("`")[1] for w in measured["warnings"]] == ["agents"]
    report = (tmp_path / "cold" / "report.md").read_text()
    assert report.index("Warning: the measurement") < report.index("## Answer")
