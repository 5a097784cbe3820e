"""The report's figures, drawn with matplotlib (Agg, no display) from the combined run tables.

Five PNGs, each answering one question of the study: the answer itself (agents minus each
baseline, paired by seed, with 95 % intervals: ``plots_paired``), how busy the powered machines were
over time (per system, per scenario, with the burn-in shaded and every fault's injection marked),
how long each system took to detect, mitigate and recover from each fault (``plots_recovery``: one
point per fault on a log axis, self-cleared and unrecovered faults marked), how much energy each
used, and what the service saw (scheduling delay, SLO violations). Bars are means over seeds with
whiskers from the smallest to the largest seed's value, so a whisker never leaves the data's range
(a standard deviation bar can reach below zero for a quantity that cannot).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from autoinfra.core.atomic import atomic_path

PLOTS = {
    "paired": "paired_differences.png",
    "utilization": "utilization_over_time.png",
    "recovery": "recovery_time.png",
    "energy": "energy.png",
    "service": "scheduling_and_slo.png",
}


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> Path:
    plt = _pyplot()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return path


def injection_times(faults: pd.DataFrame | None, scenario: str) -> list[float]:
    """Distinct injection seconds of a scenario's faults (over systems and seeds)."""
    if faults is None or faults.empty or "injected_s" not in faults:
        return []
    rows = faults[faults["scenario"] == scenario]
    if "origin" in rows:
        rows = rows[rows["origin"] == "scenario"]
    return sorted({float(t) for t in rows["injected_s"].dropna()})


def utilization_over_time(
    ticks: pd.DataFrame,
    systems: Sequence[str],
    scenarios: Sequence[str],
    path: Path,
    *,
    faults: pd.DataFrame | None = None,
    burn_in_s: float = 0.0,
) -> Path:
    """CPU and memory utilisation of powered machines and the machines in service (on or
    draining), mean over seeds; one column per scenario.

    The burn-in is shaded grey (replayed, not measured) and each fault injection is a dashed
    vertical line, so a dip can be read against what caused it; the bottom row shows whether
    each system had reached its operating point when measuring began (``steadiness``).
    """
    plt = _pyplot()
    cols = max(1, len(scenarios))
    panels: list[tuple[str, str, float]] = [
        ("cpu_util", "CPU used / capacity (%)", 100.0),
        ("mem_util", "memory used / capacity (%)", 100.0),
    ]
    if "machines_on" in ticks:
        ticks = ticks.assign(
            serving=ticks["machines_on"] + ticks.get("machines_draining", 0)
        )
        panels.append(("serving", "machines in service", 1.0))
    rows_n = len(panels)
    fig, axes = plt.subplots(
        rows_n, cols, figsize=(3.6 * cols + 1, 2.8 * rows_n), sharex=True, squeeze=False
    )
    top = float(ticks["serving"].max()) if "serving" in ticks and len(ticks) else 0.0
    for j, scenario in enumerate(scenarios):
        times = injection_times(faults, scenario)
        for i, (column, label, factor) in enumerate(panels):
            ax = axes[i][j]
            if burn_in_s > 0:
                ax.axvspan(0.0, burn_in_s / 60.0, color="0.85", alpha=0.6, lw=0)
            for t in times:
                ax.axvline(t / 60.0, color="black", ls="--", lw=0.8, alpha=0.7)
            for k, system in enumerate(systems):
                rows = ticks[(ticks["system"] == system) & (ticks["scenario"] == scenario)]
                if rows.empty:
                    continue
                mean = rows.groupby("time_s")[column].mean()
                ax.plot(mean.index / 60.0, mean.to_numpy() * factor, color=f"C{k}", lw=1.2)
            ax.set_ylim(0, 100 if factor == 100.0 else max(1.0, top * 1.05))
            ax.grid(alpha=0.3)
            if i == 0:
                ax.set_title(scenario, fontsize=10)
            if j == 0:
                ax.set_ylabel(label)
            if i == rows_n - 1:
                ax.set_xlabel("minutes")
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles: list[Any] = [Line2D([], [], color=f"C{k}", label=s) for k, s in enumerate(systems)]
    handles.append(Line2D([], [], color="black", ls="--", lw=0.8, label="fault injected"))
    if burn_in_s > 0:
        handles.append(Patch(color="0.85", label="burn-in (not measured)"))
    # below the panels: a legend inside one would cover its lines
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=8, frameon=False)
    fig.suptitle("Utilisation and machines in service over time (mean over seeds)")
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    return _save(fig, path)


def _scalar_bars(
    summary: Mapping[str, Any],
    systems: Sequence[str],
    metrics: Sequence[tuple[str, str, float]],
    title: str,
    path: Path,
) -> Path:
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(metrics), figsize=(5 * len(metrics), 4), squeeze=False)
    for ax, (metric, label, factor) in zip(axes[0], metrics, strict=True):
        y, below, above = [], [], []
        for s in systems:
            stat = summary[s][metric]
            if stat["mean"] is None:
                y.append(np.nan)
                below.append(0.0)
                above.append(0.0)
                continue
            mean = stat["mean"] * factor
            y.append(mean)
            # whiskers from the smallest to the largest seed: never outside the data
            below.append(mean - stat["min"] * factor)
            above.append(stat["max"] * factor - mean)
        x = np.arange(len(systems))
        ax.bar(
            x,
            np.nan_to_num(y),
            yerr=[below, above],
            capsize=3,
            color=[f"C{i}" for i in range(len(systems))],
        )
        # long names break at their hyphens: rotated labels' boxes overlap their neighbours
        ax.set_xticks(x, [name.replace("-", "-\n") for name in systems], fontsize=9)
        ax.set_ylabel(label)
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, path)


def energy(summary: Mapping[str, Any], systems: Sequence[str], path: Path) -> Path:
    return _scalar_bars(
        summary,
        systems,
        [
            ("energy_kwh", "facility energy (kWh)", 1.0),
            ("energy_kwh_per_task", "kWh per finished task", 1.0),
        ],
        "Energy per system (mean over seeds; whiskers: min to max seed)",
        path,
    )


def service(summary: Mapping[str, Any], systems: Sequence[str], path: Path) -> Path:
    return _scalar_bars(
        summary,
        systems,
        [
            ("scheduling_delay_p95_s", "scheduling delay p95 (s)", 1.0),
            ("slo_violation_rate", "service-ticks violating the SLO (%)", 100.0),
        ],
        "What the workload saw (mean over seeds; whiskers: min to max seed)",
        path,
    )


def draw_all(
    out_dir: Path,
    ticks: pd.DataFrame,
    summary: Mapping[str, Any],
    systems: Sequence[str],
    scenarios: Sequence[str],
    *,
    faults: pd.DataFrame | None = None,
    paired: Mapping[str, Any] | None = None,
    burn_in_s: float = 0.0,
) -> dict[str, Path]:
    """Every figure of the report, written under ``out_dir``; returns name -> path."""
    from autoinfra.experiments.plots_paired import paired_figure
    from autoinfra.experiments.plots_recovery import recovery_figure

    _pyplot()  # selects the Agg backend before the other modules import pyplot
    frame = faults if faults is not None else pd.DataFrame()
    out = {
        "utilization": utilization_over_time(
            ticks,
            systems,
            scenarios,
            out_dir / PLOTS["utilization"],
            faults=faults,
            burn_in_s=burn_in_s,
        ),
        "recovery": recovery_figure(frame, ticks, systems, out_dir / PLOTS["recovery"], _save),
        "energy": energy(summary, systems, out_dir / PLOTS["energy"]),
        "service": service(summary, systems, out_dir / PLOTS["service"]),
    }
    drawn = paired_figure(paired or {}, out_dir / PLOTS["paired"], _save)
    if drawn is not None:
        out["paired"] = drawn
    return out
