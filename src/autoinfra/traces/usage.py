"""The usage model, stated in one place: ``usage = request x ratio x shape(t)``.

Why this shape: the shipped Google slice measures usage in one 5-minute window only (600-900 s,
10,000 tasks), enough to say how usage relates to requests, not how it moves. So

- ``ratio`` (usage / request) is, for a task that window measured, its own measured ratio
  (replayed), and for every other task drawn once from the empirical distribution observed in
  that window for the task's priority band (free 0-1, middle 2-8, production 9-11) and the size
  bin of its request within the band (:mod:`autoinfra.traces.ratios`: the ratio rises with the
  request, Spearman about 0.43 for CPU, and a model that ignores it halves the cell's aggregate
  usage/request). CPU and memory ratios are drawn independently given their bins (their rank
  correlation in the window is weak, about 0.27). The measurements come from the trace's first
  5-minute window, inside the training window of any study (``load_workload(usage_fit_share=)``
  refuses measurements beyond it).
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

from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd

from autoinfra.core.errors import TraceError
from autoinfra.traces.paths import default_azure_path
from autoinfra.traces.ratios import (
    BAND_NAMES,
    CPU_RATIO_MAX,
    MAX_BINS,
    MEM_RATIO_MAX,
    MIN_BAND_SAMPLES,
    MIN_BIN_SAMPLES,
    RatioTables,
    priority_band,
)
from autoinfra.traces.tables import UsageModel

__all__ = [
    "BAND_NAMES",
    "CPU_RATIO_MAX",
    "MEM_RATIO_MAX",
    "MIN_BAND_SAMPLES",
    "RatioTables",
    "azure_shapes",
    "build_usage_model",
    "measured_ratios",
    "observed_ratios",
    "priority_band",
    "ratio_stats",
]

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]

SHAPE_STEP_S = 300.0  # the Azure V1 readings are 5-minute averages
MODEL_NAME = "google2011-binned-ratio-x-azure2017-shape"


def observed_ratios(task_usage: pd.DataFrame, task_events: pd.DataFrame) -> pd.DataFrame:
    """usage / request per measured task: columns ``job_id, task_index, priority, band,
    cpu_request, mem_request, cpu_ratio, mem_ratio``.

    Usage is the task's mean CPU rate and canonical memory usage over its measurement windows;
    the request is the latest one in task_events at or before the end of those windows. Ratios
    are NaN where the request is zero or missing (no ratio exists), and not clipped here.
    """
    cols = ["job_id", "task_index", "priority", "band", "cpu_request", "mem_request"]
    if task_usage.empty:
        return pd.DataFrame({c: [] for c in [*cols, "cpu_ratio", "mem_ratio"]})
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
            "job_id": joined.index.get_level_values(0).to_numpy(np.int64),
            "task_index": joined.index.get_level_values(1).to_numpy(np.int64),
            "priority": joined["priority"].to_numpy(np.int64),
            "band": priority_band(joined["priority"].to_numpy()),
            "cpu_request": cpu_req.to_numpy(np.float64),
            "mem_request": mem_req.to_numpy(np.float64),
            "cpu_ratio": (joined["cpu"] / cpu_req).to_numpy(np.float64),
            "mem_ratio": (joined["mem"] / mem_req).to_numpy(np.float64),
        }
    )


def measured_ratios(ratios: pd.DataFrame) -> pd.DataFrame:
    """The clipped (cpu, mem) ratios of the tasks measured on both resources, indexed by
    ``(job_id, task_index)``: the ratios replayed for those tasks instead of drawn."""
    both = np.isfinite(ratios["cpu_ratio"]) & np.isfinite(ratios["mem_ratio"])
    rows = ratios.loc[both]
    return pd.DataFrame(
        {
            "cpu_ratio": np.clip(rows["cpu_ratio"].to_numpy(np.float64), 0.0, CPU_RATIO_MAX),
            "mem_ratio": np.clip(rows["mem_ratio"].to_numpy(np.float64), 0.0, MEM_RATIO_MAX),
        },
        index=pd.MultiIndex.from_arrays(
            [rows["job_id"].to_numpy(np.int64), rows["task_index"].to_numpy(np.int64)],
            names=["job_id", "task_index"],
        ),
    )


def ratio_stats(ratios: pd.DataFrame) -> dict[str, dict[str, float | int]]:
    """Figures of the observed (unclipped) ratios, overall and per priority band: median and p90
    of each ratio; ``*_aggregate``, total usage / total request; ``*_spearman``, the rank
    correlation between request and ratio (the dependence the binned model keeps)."""
    out: dict[str, dict[str, float | int]] = {}
    groups = {"overall": np.ones(len(ratios), dtype=np.bool_)}
    groups |= {name: (ratios["band"] == b).to_numpy() for b, name in enumerate(BAND_NAMES)}
    for name, mask in groups.items():
        row: dict[str, float | int] = {"tasks": int(mask.sum())}
        for res in ("cpu", "mem"):
            vals = ratios.loc[mask, f"{res}_ratio"].to_numpy(np.float64)
            ok = np.isfinite(vals)
            vals = vals[ok]
            row[f"{res}_median"] = float(np.median(vals)) if vals.size else float("nan")
            row[f"{res}_p90"] = float(np.quantile(vals, 0.9)) if vals.size else float("nan")
            col = f"{res}_request"
            if col in ratios:
                req = ratios.loc[mask, col].to_numpy(np.float64)[ok]
                total = float(req.sum())
                row[f"{res}_aggregate"] = float((vals * req).sum()) / total if total > 0 else 0.0
                rho = pd.Series(req).corr(pd.Series(vals), method="spearman") if ok.sum() > 2 else 0
                row[f"{res}_spearman"] = float(rho) if np.isfinite(rho) else 0.0
        out[name] = row
    return out


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
    replayed_tasks: int = 0,
) -> UsageModel:
    """The :class:`UsageModel` with its description and the figures it was fitted on."""
    pooled = [n for n, p in zip(BAND_NAMES, tables.pooled, strict=True) if p]
    pooled_note = (
        f" Bands with fewer than {MIN_BAND_SAMPLES} measured tasks use all tasks' bins: "
        f"{', '.join(pooled)}."
        if pooled
        else ""
    )
    replay_note = (
        f" The {replayed_tasks} tasks the usage table measured keep their own measured ratios "
        "(replayed, not drawn)."
        if replayed_tasks
        else ""
    )
    overall = stats.get("overall", {})
    nan = float("nan")
    bins = tables.bins()
    description = (
        "usage = request x ratio x shape(t). ratio: drawn once per task from the empirical "
        f"usage/request distribution of {ratio_source} conditional on the task's priority band "
        "(free 0-1, middle 2-8, production 9-11) and on its request's size bin within that band "
        f"(equal-count bins of at least {MIN_BIN_SAMPLES} measured tasks, at most {MAX_BINS}; "
        f"CPU bins per band {bins['cpu']}, memory {bins['mem']}): the CPU ratio by the CPU "
        "request's bin, the memory ratio by the memory request's, independently given the bins."
        f"{replay_note}{pooled_note} CPU clipped to "
        f"[0, {CPU_RATIO_MAX:g}] (compressible: tasks may use idle CPU above their request), "
        f"memory to [0, {MEM_RATIO_MAX:g}] (above its limit a task is killed). Observed: median "
        f"CPU ratio {overall.get('cpu_median', nan):.3f}, memory "
        f"{overall.get('mem_median', nan):.3f}; aggregate usage/request CPU "
        f"{overall.get('cpu_aggregate', nan):.3f}, memory {overall.get('mem_aggregate', nan):.3f};"
        f" Spearman(request, ratio) CPU {overall.get('cpu_spearman', nan):.2f}, memory "
        f"{overall.get('mem_spearman', nan):.2f}. shape: one of "
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
        "min_bin_samples": MIN_BIN_SAMPLES,
        "max_bins": MAX_BINS,
        "replayed_tasks": int(replayed_tasks),
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
