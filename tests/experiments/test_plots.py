"""Figures that show the comparison: log recovery axis, fault marks, whiskers in range."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from autoinfra.experiments import plots
from autoinfra.experiments.paired import paired_results
from autoinfra.experiments.plots_paired import paired_figure
from autoinfra.experiments.plots_recovery import points, recovery_figure, run_ends

SYSTEMS = ["agents", "kubernetes-defaults", "human", "noop"]
SAVE = plots._save  # the real one, kept before any test patches it


def _faults() -> pd.DataFrame:
    rows = []
    for seed in (0, 1):
        for k, system in enumerate(SYSTEMS):
            for kind in ("cpu_hog", "node_failure"):
                recovered = system != "noop"
                rows.append(
                    {
                        "system": system,
                        "scenario": "storm",
                        "seed": seed,
                        "kind": kind,
                        "origin": "scenario",
                        "target": "machine:1",
                        "injected_s": 1500.0,
                        "detect_s": 10.0 * (k + 1) if recovered else float("nan"),
                        "mitigate_s": 15.0 * (k + 1) if recovered else float("nan"),
                        "recovery_s": 20.0 * (k + 1) if recovered else float("nan"),
                        # the human's cpu hog ran out by itself
                        "self_cleared": system == "human" and kind == "cpu_hog",
                    }
                )
    return pd.DataFrame(rows)


def _ticks() -> pd.DataFrame:
    rows = []
    for seed in (0, 1):
        for system in SYSTEMS:
            for scenario in ("none", "storm"):
                for t in range(0, 2701, 300):
                    rows.append(
                        {
                            "system": system,
                            "scenario": scenario,
                            "seed": seed,
                            "time_s": float(t),
                            "cpu_util": 0.2 + 0.01 * seed,
                            "mem_util": 0.5,
                        }
                    )
    return pd.DataFrame(rows)


def _no_overlapping_labels(fig: Any) -> None:
    """No two tick labels of an axis, and no two axes' titles, share any pixels."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    for ax in fig.axes:
        if not ax.get_visible():
            continue
        for labels in (ax.get_xticklabels(), ax.get_yticklabels()):
            boxes = [t.get_window_extent(renderer) for t in labels if t.get_text()]
            for i, a in enumerate(boxes):
                for b in boxes[i + 1 :]:
                    assert not a.overlaps(b), (ax.get_title(), a, b)
    titles = [ax.title.get_window_extent(renderer) for ax in fig.axes if ax.get_title()]
    for i, a in enumerate(titles):
        for b in titles[i + 1 :]:
            assert not a.overlaps(b)


def _checking_save(seen: list[Any]) -> Any:
    def save(fig: Any, path: Path) -> Path:
        _no_overlapping_labels(fig)
        seen.append(fig)
        return SAVE(fig, path)

    return save


def test_recovery_is_on_a_log_axis_and_marks_censored_and_self_cleared(tmp_path: Path) -> None:
    faults, ticks = _faults(), _ticks()
    ends = run_ends(ticks)
    seconds, reached, cleared = points(faults, ends, "noop", "cpu_hog", "recovery_s")
    assert list(seconds) == [1200.0, 1200.0] and not reached.any()  # censored at the end
    _, reached, cleared = points(faults, ends, "human", "cpu_hog", "recovery_s")
    assert reached.all() and cleared.all()
    _, _, cleared = points(faults, ends, "human", "cpu_hog", "detect_s")
    assert not cleared.any()  # clearing by itself is a recovery, never a detection
    seen: list[Any] = []
    path = recovery_figure(faults, ticks, SYSTEMS, tmp_path / "r.png", _checking_save(seen))
    assert path.stat().st_size > 0
    (fig,) = seen
    assert all(ax.get_yscale() == "log" for ax in fig.axes)
    labels = {t.get_text() for t in fig.legends[0].get_texts()}
    assert {"cleared by itself", "not by the window's end"} <= labels


def test_the_time_series_marks_the_faults_and_the_burn_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[Any] = []
    monkeypatch.setattr(plots, "_save", _checking_save(seen))
    plots.utilization_over_time(
        _ticks(), SYSTEMS, ["none", "storm"], tmp_path / "u.png", faults=_faults(), burn_in_s=900
    )
    (fig,) = seen
    assert plots.injection_times(_faults(), "storm") == [1500.0]
    storm_cpu = fig.axes[1]  # row 0 (CPU), column 1 (storm)
    marks = [line for line in storm_cpu.get_lines() if line.get_linestyle() == "--"]
    assert len(marks) == 1 and marks[0].get_xdata()[0] == pytest.approx(25.0)  # minutes
    assert not [line for line in fig.axes[0].get_lines() if line.get_linestyle() == "--"]
    assert storm_cpu.patches or storm_cpu.collections  # the burn-in's shading


def test_bar_whiskers_stay_within_the_seeds_range(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # std 0.3 around a mean of 0.1 would reach below 0; the seeds lie in [0.0, 0.5]
    stat = {"mean": 0.1, "std": 0.3, "min": 0.0, "max": 0.5, "n": 3}
    summary = {s: {"energy_kwh": stat, "energy_kwh_per_task": stat} for s in SYSTEMS}
    seen: list[Any] = []
    monkeypatch.setattr(plots, "_save", _checking_save(seen))
    plots.energy(summary, SYSTEMS, tmp_path / "e.png")
    (fig,) = seen
    for ax in fig.axes:
        for collection in ax.collections:  # the error bars' line segments
            for segment in collection.get_segments():
                ys = [y for _, y in segment]
                assert min(ys) >= 0.0 - 1e-9 and max(ys) <= 0.5 + 1e-9


def test_the_paired_figure_has_a_panel_per_metric(tmp_path: Path) -> None:
    runs = []
    for seed in (0, 1, 2):
        for system, cpu in (("agents", 0.3 + 0.01 * seed), ("kubernetes-defaults", 0.2)):
            runs.append(
                {
                    "system": system,
                    "scenario": "storm",
                    "seed": seed,
                    "metrics": {
                        "utilization_cpu": cpu,
                        "utilization_mem": 0.5,
                        "energy_kwh": 2.0 + seed,
                        "energy_kwh_per_task": 0.1,
                        "slo_violation_rate": 0.01 * seed,
                        "faults": {"cpu_hog": {"recovery_lower_bound_s": 10.0 + seed}},
                    },
                }
            )
    paired = paired_results(runs, ["agents", "kubernetes-defaults"])
    seen: list[Any] = []
    path = paired_figure(paired, tmp_path / "p.png", _checking_save(seen))
    assert path is not None and path.stat().st_size > 0
    (fig,) = seen
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert len(visible) == 6  # five scalar metrics and one fault kind
    assert paired_figure({"baselines": {}}, tmp_path / "none.png", plots._save) is None


def test_the_time_series_shows_the_machines_in_service_when_the_ticks_have_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[Any] = []
    monkeypatch.setattr(plots, "_save", _checking_save(seen))
    ticks = _ticks()
    plots.utilization_over_time(ticks, SYSTEMS, ["none", "storm"], tmp_path / "a.png")
    ticks["machines_on"] = np.where(ticks["system"] == SYSTEMS[0], 40.0, 50.0)
    ticks["machines_draining"] = 2.0
    plots.utilization_over_time(ticks, SYSTEMS, ["none", "storm"], tmp_path / "b.png")
    without, with_machines = seen
    assert len(without.axes) == 4 and len(with_machines.axes) == 6  # a third row, per scenario
    bottom = with_machines.axes[4]  # row 2, column 0
    assert bottom.get_ylabel() == "machines in service"
    levels = sorted({float(line.get_ydata()[0]) for line in bottom.get_lines()})
    assert levels == [42.0, 52.0]  # on + draining
    assert bottom.get_ylim()[1] >= 52.0
