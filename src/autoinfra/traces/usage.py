"""The usage model, stated in one place: ``usage = request x ratio x shape(t)``.

Why this shape: the shipped Google slice measures usage in one 5-minute window only (600-900 s,
10,000 tasks), enough to say how usage relates to requests, not how it moves. So

- ``ratio`` (usage / request) is drawn once per task from the empirical distribution observed in
  that window for the task's priority band (free 0-1, middle 2-8, production 9-11). CPU and memory
  ratios are drawn independently (their rank correlation in the window is weak, about 0.27). A band
  with fewer than ``MIN_BAND_SAMPLES`` measured tasks uses the distribution of all tasks (the
  excerpt has 5 middle-band tasks), and says so in the calibration.
- ``shape(t)`` is a row of the Azure Public Dataset V1 CPU readings (Cortez et al., "Resource
  Central", SOSP 2017): 100 VMs, 5-minute steps over 27.8 days, each divided by its own mean so
  every row has mean 1.0. It carries real daily cycles and bursts the Google slice lacks. A task's
  profile is drawn uniformly; step ``int(t // 300) % 8004``. The shape moves CPU only: memory
  stays at ``memory request x memory ratio`` (memory in the Google trace moves far less than CPU,
  and a shaped memory would cross the request, which Borg answers with an OOM kill).

Clipping: CPU ratios are clipped to [0, ``CPU_RATIO_MAX`` = 2]. CPU is compressible and Borg lets a
task use idle CPU beyond its request, so ratios above 1 are real (2.5 % of measured tasks); the rare
ratios far above (up to 4.6, and infinite for zero requests) come from requests near the trace's
smallest unit, where a sliver of usage is a huge ratio, and would let one tiny task claim a whole
machine. Memory ratios are clipped to [0, ``MEM_RATIO_MAX`` = 1]: memory is not compressible and a
task above its limit is killed, so the 0.8 % of readings above 1 are transient. Tasks with a zero
request give no ratio and are left out of the distributions.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from autoinfra.core.errors import TraceError
from autoinfra.traces.paths import default_azure_path
from autoinfra.traces.tables import UsageModel

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]

BAND_NAMES = ("free", "middle", "production")
CPU_RATIO_MAX = 2.0
MEM_RATIO_MAX = 1.0
MIN_BAND_SAMPLES = 50
SHAPE_STEP_S = 300.0  # the Azure V1 readings are 5-minute averages
MODEL_NAME = "google2011-ratio-x-azure2017-shape"
_QUANTILE_PROBS = np.linspace(0.0, 1.0, 201)


def priority_band(priority: npt.ArrayLike) -> npt.NDArray[np.int8]:
    """0 free (priorities 0-1), 1 middle (2-8), 2 production (9-11)."""
    p = np.asarray(priority)
    return np.where(p >= 9, 2, np.where(p >= 2, 1, 0)).astype(np.int8)


def observed_ratios(task_usage: pd.DataFrame, task_events: pd.DataFrame) -> pd.DataFrame:
    """usage / request per measured task: columns ``priority, band, cpu_ratio, mem_ratio``.

    Usage is the task's mean CPU rate and canonical memory usage over its measurement windows;
    the request is the latest one in task_events at or before the end of those windows. Ratios
    are NaN where the request is zero or missing (no ratio exists), and not clipped here.
    """
    if task_usage.empty:
        return pd.DataFrame({"priority": [], "band": [], "cpu_ratio": [], "mem_ratio": []})
    end_us = int(task_usage["end_time"].max())
    ev = task_events.loc[task_events["time"] <= end_us]
    keys = ["job_id", "task_index"]
    requests = ev.groupby(keys, sort=False).agg(
        cpu_request=("cpu_request", "last"),
        memory_request=("memory_request", "last"),
        priority=("priority", "last"),
    )
    usage = task_usage.groupby(keys, sort=False).agg(
        cpu=("cpu_rate", "mean"), mem=("canonical_memory_usage", "mean")
    )
    joined = usage.join(requests, how="inner")
    cpu_req = joined["cpu_request"].where(joined["cpu_request"] > 0)
    mem_req = joined["memory_request"].where(joined["memory_request"] > 0)
    return pd.DataFrame(
        {
            "priority": joined["priority"].to_numpy(np.int64),
            "band": priority_band(joined["priority"].to_numpy()),
            "cpu_ratio": (joined["cpu"] / cpu_req).to_numpy(np.float64),
            "mem_ratio": (joined["mem"] / mem_req).to_numpy(np.float64),
        }
    )


def ratio_stats(ratios: pd.DataFrame) -> dict[str, dict[str, float | int]]:
    """Median and p90 of the observed (unclipped) ratios, overall and per priority band."""
    out: dict[str, dict[str, float | int]] = {}
    groups = {"overall": np.ones(len(ratios), dtype=np.bool_)}
    groups |= {name: (ratios["band"] == b).to_numpy() for b, name in enumerate(BAND_NAMES)}
    for name, mask in groups.items():
        row: dict[str, float | int] = {"tasks": int(mask.sum())}
        for res in ("cpu", "mem"):
            vals = ratios.loc[mask, f"{res}_ratio"].to_numpy(np.float64)
            vals = vals[np.isfinite(vals)]
            row[f"{res}_median"] = float(np.median(vals)) if vals.size else float("nan")
            row[f"{res}_p90"] = float(np.quantile(vals, 0.9)) if vals.size else float("nan")
        out[name] = row
    return out


@dataclass(frozen=True, slots=True, eq=False)
class RatioTables:
    """Quantile tables of the clipped usage/request ratios per band, for inverse-CDF draws."""

    probs: F64  # (q,)
    cpu: F64  # (3, q) per band
    mem: F64  # (3, q)
    samples: tuple[int, ...]  # measured tasks per band
    pooled: tuple[bool, ...]  # True where a band uses all tasks' distribution (too few samples)

    @classmethod
    def from_ratios(cls, ratios: pd.DataFrame) -> RatioTables:
        cpu_all = np.clip(ratios["cpu_ratio"].to_numpy(np.float64), 0.0, CPU_RATIO_MAX)
        mem_all = np.clip(ratios["mem_ratio"].to_numpy(np.float64), 0.0, MEM_RATIO_MAX)
        bands = ratios["band"].to_numpy()
        cpu_rows, mem_rows, samples, pooled = [], [], [], []
        for b in range(len(BAND_NAMES)):
            in_band = bands == b
            n = int(in_band.sum())
            use = in_band if n >= MIN_BAND_SAMPLES else np.ones_like(in_band)
            cpu_rows.append(_quantiles(cpu_all[use]))
            mem_rows.append(_quantiles(mem_all[use]))
            samples.append(n)
            pooled.append(n < MIN_BAND_SAMPLES)
        return cls(
            _QUANTILE_PROBS.copy(),
            np.vstack(cpu_rows),
            np.vstack(mem_rows),
            tuple(samples),
            tuple(pooled),
        )

    def draw(self, priority: npt.ArrayLike, rng: np.random.Generator) -> tuple[F32, F32]:
        """One (cpu, mem) ratio per task, from its band's distribution (independent draws)."""
        band = priority_band(priority)
        n = int(band.shape[0])
        u_cpu = rng.random(size=n)
        u_mem = rng.random(size=n)
        cpu = np.empty(n, dtype=np.float32)
        mem = np.empty(n, dtype=np.float32)
        for b in range(len(BAND_NAMES)):
            m = band == b
            cpu[m] = np.interp(u_cpu[m], self.probs, self.cpu[b])
            mem[m] = np.interp(u_mem[m], self.probs, self.mem[b])
        return cpu, mem

    def to_dict(self) -> dict[str, Any]:
        return {
            "probs": [round(float(p), 6) for p in self.probs],
            "cpu": {n: [float(v) for v in self.cpu[b]] for b, n in enumerate(BAND_NAMES)},
            "mem": {n: [float(v) for v in self.mem[b]] for b, n in enumerate(BAND_NAMES)},
            "samples": dict(zip(BAND_NAMES, self.samples, strict=True)),
            "pooled": dict(zip(BAND_NAMES, self.pooled, strict=True)),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RatioTables:
        return cls(
            np.asarray(data["probs"], dtype=np.float64),
            np.vstack([np.asarray(data["cpu"][n], dtype=np.float64) for n in BAND_NAMES]),
            np.vstack([np.asarray(data["mem"][n], dtype=np.float64) for n in BAND_NAMES]),
            tuple(int(data["samples"][n]) for n in BAND_NAMES),
            tuple(bool(data["pooled"][n]) for n in BAND_NAMES),
        )


def _quantiles(values: F64) -> F64:
    v = values[np.isfinite(values)]
    if v.size == 0:  # nothing measured: usage equal to request is the neutral assumption
        return np.ones_like(_QUANTILE_PROBS)
    return np.quantile(v, _QUANTILE_PROBS)


def azure_shapes(path: str | Path | None = None) -> F32:
    """Azure V1 CPU readings as usage shapes: (100 profiles, 8004 steps), each row mean 1.0."""
    p = Path(path) if path is not None else default_azure_path()
    try:
        frame = pd.read_csv(p, engine="c")
    except (OSError, ValueError) as exc:
        raise TraceError(f"cannot read the Azure CPU readings: {exc}", path=str(p)) from exc
    if frame.columns[0] != "timestamp" or frame.shape[1] < 2:
        raise TraceError(
            "expected a header 'timestamp,<vm id>,...'",
            path=str(p),
            line=1,
            field="timestamp",
            kind="field_count",
        )
    values = frame.iloc[:, 1:]
    numeric = values.apply(pd.to_numeric, errors="coerce").to_numpy(np.float64)
    bad = ~np.isfinite(numeric) | (numeric < 0)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise TraceError(
            "expected a CPU percentage >= 0",
            path=str(p),
            line=int(row) + 2,
            field=str(values.columns[col]),
            kind="not_numeric",
        )
    shapes = numeric.T
    means = shapes.mean(axis=1, keepdims=True)
    # a VM that never used CPU has no shape: it stays flat at its (zero) mean's stand-in, 1.0
    shapes = np.where(means > 0, shapes / np.where(means > 0, means, 1.0), 1.0)
    return shapes.astype(np.float32)


def build_usage_model(
    tables: RatioTables,
    shapes: F32,
    stats: dict[str, dict[str, float | int]],
    *,
    ratio_source: str,
) -> UsageModel:
    """The :class:`UsageModel` with its description and the figures it was fitted on."""
    pooled = [n for n, p in zip(BAND_NAMES, tables.pooled, strict=True) if p]
    pooled_note = (
        f" Bands with fewer than {MIN_BAND_SAMPLES} measured tasks use all tasks' distribution: "
        f"{', '.join(pooled)}."
        if pooled
        else ""
    )
    overall = stats.get("overall", {})
    description = (
        "usage = request x ratio x shape(t). ratio: drawn once per task from the empirical "
        f"usage/request distribution of {ratio_source} for the task's priority band (free 0-1, "
        "middle 2-8, production 9-11); CPU and memory drawn independently; CPU clipped to "
        f"[0, {CPU_RATIO_MAX:g}] (compressible: tasks may use idle CPU above their request), "
        f"memory to [0, {MEM_RATIO_MAX:g}] (above its limit a task is killed)."
        f"{pooled_note} Observed medians: CPU {overall.get('cpu_median', float('nan')):.3f}, "
        f"memory {overall.get('mem_median', float('nan')):.3f}. shape: one of "
        f"{shapes.shape[0]} Azure Public Dataset V1 VM CPU profiles (Cortez et al., SOSP 2017), "
        f"each normalised to mean 1.0, {SHAPE_STEP_S:g} s steps, {shapes.shape[1]} steps then "
        "repeating, drawn uniformly per task; it moves CPU only, memory stays at request x ratio."
    )
    calibration = {
        "ratio_source": ratio_source,
        "ratio_stats": stats,
        "ratio_tables": tables.to_dict(),
        "cpu_ratio_max": CPU_RATIO_MAX,
        "mem_ratio_max": MEM_RATIO_MAX,
        "min_band_samples": MIN_BAND_SAMPLES,
        "profiles": int(shapes.shape[0]),
        "steps": int(shapes.shape[1]),
        "memory_follows_shape": False,
        "shape_source": "Azure Public Dataset V1 (2017), vm_cpu_avg_100, 5-minute CPU %",
    }
    return UsageModel(
        name=MODEL_NAME,
        description=description,
        shapes=shapes,
        step_s=SHAPE_STEP_S,
        calibration=calibration,
    )
