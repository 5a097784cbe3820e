"""The report's figures, drawn with matplotlib (Agg, no display) from the combined run tables.

Four PNGs, each answering one question of the study: how busy the powered machines were over time
(per system, per scenario), how long each system took to detect, mitigate and recover from each
fault kind, how much energy each used, and what the service saw (scheduling delay, SLO
violations). Error bars are the standard deviation across seeds; a bar that is hatched is a lower
bound (some faults were not recovered within the window).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from autoinfra.core.atomic import atomic_path

PLOTS = {
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


def utilization_over_time(
    ticks: pd.DataFrame, systems: Sequence[str], scenarios: Sequence[str], path: Path
) -> Path:
    """CPU and memory utilisation of powered machines, mean over seeds; one column per scenario."""
    plt = _pyplot()
    cols = max(1, len(scenarios))
    fig, axes = plt.subplots(2, cols, figsize=(3.6 * cols + 1, 5.6), sharex=True, squeeze=False)
    for j, scenario in enumerate(scenarios):
        for i, (column, label) in enumerate((("cpu_util", "CPU"), ("mem_util", "memory"))):
            ax = axes[i][j]
            for system in systems:
                rows = ticks[(ticks["system"] == system) & (ticks["scenario"] == scenario)]
                if rows.empty:
                    continue
                mean = rows.groupby("time_s")[column].mean()
                ax.plot(mean.index / 60.0, mean.to_numpy() * 100.0, label=system, lw=1.2)
            ax.set_ylim(0, 100)
            ax.grid(alpha=0.3)
            if i == 0:
                ax.set_title(scenario, fontsize=10)
            if j == 0:
                ax.set_ylabel(f"{label} used / capacity (%)")
            if i == 1:
                ax.set_xlabel("minutes")
    axes[0][0].legend(fontsize=8, loc="best")
    fig.suptitle("Utilisation of powered machines over time (mean over seeds)")
    return _save(fig, path)


def _bars(
    ax: Any,
    groups: Sequence[str],
    systems: Sequence[str],
    values: Mapping[tuple[str, str], tuple[float, float, bool]],
    ylabel: str,
) -> None:
    width = 0.8 / max(1, len(systems))
    x = np.arange(len(groups))
    for k, system in enumerate(systems):
        means, errs, hatches = [], [], []
        for g in groups:
            mean, std, lower_bound = values.get((g, system), (np.nan, 0.0, False))
            means.append(mean)
            errs.append(std)
            hatches.append(lower_bound)
        bars = ax.bar(
            x + k * width,
            np.nan_to_num(means),
            width,
            yerr=errs,
            label=system,
            capsize=2,
            color=f"C{k}",
        )
        for bar, hatch, mean in zip(bars, hatches, means, strict=True):
            if hatch:
                bar.set_hatch("//")
            if np.isnan(mean):
                bar.set_alpha(0.0)
    ax.set_xticks(x + width * (len(systems) - 1) / 2, groups, fontsize=9)
    ax.set_ylabel(ylabel)
    ax.grid(axis="y", alpha=0.3)


def _legend(ax: Any, systems: Sequence[str]) -> None:
    # handles drawn here: a system whose first bar is missing would otherwise get an invisible one
    from matplotlib.patches import Patch

    handles = [Patch(color=f"C{k}", label=s) for k, s in enumerate(systems)]
    ax.legend(handles=handles, fontsize=8)


def recovery_time(summary: Mapping[str, Any], systems: Sequence[str], path: Path) -> Path:
    """Detect, mitigate and recover times per fault kind and system (hatched: lower bound)."""
    plt = _pyplot()
    kinds = sorted({k for s in systems for k in summary[s]["recovery_s"]})
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2), squeeze=False)
    for ax, field, title in zip(
        axes[0],
        ("detect_s", "mitigate_s", "recovery_s"),
        ("time to detect", "time to mitigate", "time to recover"),
        strict=True,
    ):
        values: dict[tuple[str, str], tuple[float, float, bool]] = {}
        for system in systems:
            for kind in kinds:
                entry = summary[system]["recovery_s"].get(kind)
                if entry is None:
                    continue
                stat = entry[field]
                lower = False
                if field == "recovery_s" and entry["recovered"] < entry["faults"]:
                    stat, lower = entry["recovery_lower_bound_s"], True
                mean = np.nan if stat["mean"] is None else stat["mean"]
                values[(kind, system)] = (mean, stat["std"] or 0.0, lower)
        _bars(ax, kinds, systems, values, "seconds after injection")
        ax.set_title(title)
    _legend(axes[0][0], systems)
    fig.suptitle(
        "Faults: mean over seeds, std as error bars; hatched = some not recovered "
        "(lower bound); missing bar = never happened"
    )
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
        means = [summary[s][metric]["mean"] for s in systems]
        stds = [summary[s][metric]["std"] or 0.0 for s in systems]
        y = [np.nan if m is None else m * factor for m in means]
        ax.bar(
            systems,
            np.nan_to_num(y),
            yerr=[e * factor for e in stds],
            capsize=3,
            color=[f"C{i}" for i in range(len(systems))],
        )
        ax.set_ylabel(label)
        ax.grid(axis="y", alpha=0.3)
        ax.tick_params(axis="x", labelrotation=15)
    fig.suptitle(title)
    return _save(fig, path)


def energy(summary: Mapping[str, Any], systems: Sequence[str], path: Path) -> Path:
    return _scalar_bars(
        summary,
        systems,
        [
            ("energy_kwh", "facility energy (kWh)", 1.0),
            ("energy_kwh_per_task", "kWh per finished task", 1.0),
        ],
        "Energy per system (mean over seeds, std as error bars)",
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
        "What the workload saw (mean over seeds, std as error bars)",
        path,
    )


def draw_all(
    out_dir: Path,
    ticks: pd.DataFrame,
    summary: Mapping[str, Any],
    systems: Sequence[str],
    scenarios: Sequence[str],
) -> dict[str, Path]:
    """Every figure of the report, written under ``out_dir``; returns name -> path."""
    return {
        "utilization": utilization_over_time(
            ticks, systems, scenarios, out_dir / PLOTS["utilization"]
        ),
        "recovery": recovery_time(summary, systems, out_dir / PLOTS["recovery"]),
        "energy": energy(summary, systems, out_dir / PLOTS["energy"]),
        "service": service(summary, systems, out_dir / PLOTS["service"]),
    }
