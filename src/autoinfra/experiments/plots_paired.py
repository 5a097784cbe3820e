"""The answer as a figure: agents minus each baseline, paired by seed, with 95 % intervals.

One small panel per metric (their units differ), one row per baseline: a point at the mean paired
difference, a line over its 95 % interval, a vertical line at 0, and the agents' side of 0 shaded
green. A row whose interval lies wholly in the green holds; one wholly on the other side is
reversed. The seeds' own differences are drawn as small grey dots, so the interval can be read
against the data it came from. Read from ``summary.json["paired"]``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from autoinfra.experiments.paired import label_of


def paired_figure(paired: Mapping[str, Any], path: Path, save: Any) -> Path | None:
    """The forest plot, or None when the study has no paired comparison."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    baselines = list((paired.get("baselines") or {}).keys())
    if not baselines:
        return None
    keys = list(paired["baselines"][baselines[0]].keys())
    cols = min(4, len(keys))
    rows = math.ceil(len(keys) / cols)
    fig, axes = plt.subplots(
        rows, cols, figsize=(3.9 * cols, 0.55 * len(baselines) * rows + 1.6 * rows), squeeze=False
    )
    for i, key in enumerate(keys):
        ax = axes[i // cols][i % cols]
        label, unit, factor = label_of(key)
        better = paired["baselines"][baselines[0]][key]["better"]
        lows, highs = [0.0], [0.0]
        for y, baseline in enumerate(baselines):
            e = paired["baselines"][baseline][key]
            diffs = [d * factor for d in e.get("differences") or []]
            ax.scatter(diffs, [y] * len(diffs), s=10, color="0.6", zorder=2)
            lows += diffs
            highs += diffs
            if e.get("mean_difference") is None:
                continue
            mean = e["mean_difference"] * factor
            colour = {"holds": "C2", "reversed": "C3"}.get(str(e.get("verdict")), "C0")
            if e.get("ci95"):
                lo, hi = (v * factor for v in e["ci95"])
                ax.hlines(y, lo, hi, color=colour, lw=2.2, zorder=3)
                lows.append(lo)
                highs.append(hi)
            ax.scatter([mean], [y], s=36, color=colour, zorder=4)
        lo, hi = min(lows), max(highs)
        pad = (hi - lo) * 0.08 or 1.0
        ax.set_xlim(lo - pad, hi + pad)
        ax.axvline(0.0, color="black", lw=0.8)
        # shade the side of 0 where the agents are better
        if better == "higher":
            ax.axvspan(0.0, hi + pad, color="C2", alpha=0.08)
        else:
            ax.axvspan(lo - pad, 0.0, color="C2", alpha=0.08)
        ax.set_yticks(range(len(baselines)), baselines if i % cols == 0 else [""] * len(baselines))
        ax.set_ylim(len(baselines) - 0.4, -0.6)  # the first baseline on top
        unit_text = "points" if unit == "%" else unit
        ax.set_title(f"{label}\n({better} is better)", fontsize=9)
        ax.set_xlabel(f"agents - baseline ({unit_text})", fontsize=8)
        ax.tick_params(axis="x", labelsize=8)
        ax.xaxis.set_major_locator(MaxNLocator(nbins=4))  # long tick labels must not touch
        ax.grid(axis="x", alpha=0.3)
    for j in range(len(keys), rows * cols):
        axes[j // cols][j % cols].set_visible(False)
    title = (
        "Paired difference per seed (grey), its mean and 95 % t interval; green side: agents "
        "better (green interval: holds, red: reversed, blue: unclear)"
    )
    if all(
        (e.get("n") or 0) < 2 for metrics in paired["baselines"].values() for e in metrics.values()
    ):
        title += "\none seed: no intervals, nothing shown to hold (run more seeds)"
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    drawn: Path = save(fig, path)
    return drawn
