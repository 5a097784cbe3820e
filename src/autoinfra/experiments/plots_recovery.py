"""The fault figure: every fault's time to detect, mitigate and recover, per kind and system.

One point per fault (not a mean with an error bar), on a log axis: recovery times run from a tick
(5 s) to the whole window (an hour), and on a linear axis the fast systems' points all sit on the
floor. A system's mean over the faults that got there is a short horizontal line. Three kinds of
point, so censoring and luck cannot pass for speed:

- a filled circle: the fault got there (detected, mitigated, recovered) this many seconds after
  injection;
- an open triangle pointing up at the window's end: it never got there within the window (the
  time is a lower bound);
- a cross: the fault cleared by itself (its duration ran out) before anyone fixed it: the time
  is the world's, not the system's.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

FIELDS: tuple[tuple[str, str], ...] = (
    ("detect_s", "time to detect"),
    ("mitigate_s", "time to mitigate"),
    ("recovery_s", "time to recover"),
)
FLOOR_S = 1.0  # a log axis has no 0: a time below a second is drawn at 1 s


def run_ends(ticks: pd.DataFrame) -> dict[tuple[str, str, int], float]:
    """(system, scenario, seed) -> the last recorded second of that run."""
    if ticks.empty:
        return {}
    out: dict[tuple[str, str, int], float] = {}
    for row in (
        ticks.groupby(["system", "scenario", "seed"], as_index=False)["time_s"].max().itertuples()
    ):
        out[(str(row.system), str(row.scenario), int(row.seed))] = float(row.time_s)
    return out


def scenario_faults(faults: pd.DataFrame) -> pd.DataFrame:
    """The scenario's faults that found a target and did harm (not the trace's own removals)."""
    if faults.empty:
        return faults
    out = faults
    if "origin" in out:
        out = out[out["origin"] == "scenario"]
    if "target" in out:
        out = out[out["target"].astype(str) != ""]
    if "no_effect" in out:
        # a fault that found nothing to harm is left out of every time, as in the metrics
        out = out[~out["no_effect"].astype(bool)]
    return out


def points(
    faults: pd.DataFrame,
    ends: dict[tuple[str, str, int], float],
    system: str,
    kind: str,
    field: str,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(seconds, reached, self_cleared) for one system's faults of one kind; censored at the end."""
    rows = faults[(faults["system"] == system) & (faults["kind"] == kind)]
    if rows.empty:
        empty = np.zeros(0)
        return empty, empty.astype(bool), empty.astype(bool)
    values = rows[field].to_numpy(dtype=np.float64)
    injected = rows["injected_s"].to_numpy(dtype=np.float64)
    end = np.asarray(
        [
            ends.get((str(sy), str(sc), int(se)), np.nan)
            for sy, sc, se in zip(rows["system"], rows["scenario"], rows["seed"], strict=True)
        ],
        dtype=np.float64,
    )
    reached = ~np.isnan(values)
    seconds = np.where(reached, values, end - injected)
    cleared = (
        rows["self_cleared"].astype(bool).to_numpy()
        if "self_cleared" in rows
        else np.zeros(len(rows), dtype=bool)
    )
    if field != "recovery_s":
        cleared = np.zeros(
            len(rows), dtype=bool
        )  # clearing by itself is a recovery, not a detection
    return np.maximum(seconds, FLOOR_S), reached, cleared & reached


def recovery_figure(
    faults: pd.DataFrame, ticks: pd.DataFrame, systems: Sequence[str], path: Path, save: Any
) -> Path:
    """Three log-axis panels, fault kinds along x, one column of points per system."""
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    faults = scenario_faults(faults)
    ends = run_ends(ticks)
    kinds = sorted(faults["kind"].astype(str).unique()) if not faults.empty else []
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.8), squeeze=False, sharey=True)
    width = 0.8 / max(1, len(systems))
    rng = np.random.default_rng(0)  # jitter only spreads overlapping points sideways
    top = FLOOR_S * 10
    for ax, (field, title) in zip(axes[0], FIELDS, strict=True):
        for k, system in enumerate(systems):
            for g, kind in enumerate(kinds):
                seconds, reached, cleared = points(faults, ends, system, kind, field)
                if seconds.size == 0:
                    continue
                top = max(top, float(np.nanmax(seconds)))
                x = g + k * width + rng.uniform(-0.25, 0.25, seconds.size) * width
                colour = f"C{k}"
                got = reached & ~cleared
                ax.scatter(x[got], seconds[got], s=18, color=colour, zorder=3)
                ax.scatter(
                    x[~reached], seconds[~reached], s=30, marker="^",
                    facecolors="none", edgecolors=colour, zorder=3,
                )  # fmt: skip
                ax.scatter(x[cleared], seconds[cleared], s=30, marker="x", color=colour, zorder=3)
                if got.any():
                    centre = g + k * width
                    mean = float(np.mean(seconds[got]))
                    ax.hlines(mean, centre - width * 0.45, centre + width * 0.45, color=colour)
        ax.set_yscale("log")
        ax.set_title(title)
        ax.set_xticks(np.arange(len(kinds)) + width * (len(systems) - 1) / 2, kinds, fontsize=9)
        ax.grid(axis="y", which="both", alpha=0.25)
    axes[0][0].set_ylabel("seconds after injection (log)")
    axes[0][0].set_ylim(FLOOR_S * 0.8, top * 1.6)
    handles = [
        Line2D([], [], color=f"C{k}", marker="o", ls="", label=s) for k, s in enumerate(systems)
    ]
    handles += [
        Line2D([], [], color="grey", marker="o", ls="", label="got there"),
        Line2D(
            [], [], color="grey", marker="^", ls="", mfc="none", label="not by the window's end"
        ),
        Line2D([], [], color="grey", marker="x", ls="", label="cleared by itself"),
        Line2D([], [], color="grey", ls="-", label="mean of those that got there"),
    ]
    # the legend goes below the panels so it never covers a point
    fig.legend(handles=handles, loc="lower center", ncol=min(len(handles), 8), fontsize=8,
               frameon=False, bbox_to_anchor=(0.5, -0.06))  # fmt: skip
    fig.suptitle("Faults: one point per fault and seed, log axis")
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    drawn: Path = save(fig, path)
    return drawn
