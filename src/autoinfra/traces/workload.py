"""Build the :class:`Workload` the simulator replays from a Google 2011 trace's own events.

``load_workload()`` reads the shipped slice by default (any trace folder with ``task_events/``
and ``machine_events/`` works; ``task_usage/`` is used for the usage ratios when present). The
workload covers a window of trace time; inside it, times are **relative to the window start**
(0 = start) and ``meta["trace_offset_s"]`` holds the trace second of that 0.

- Window: by default from 600 s (where the schema document says the trace window begins; earlier
  events are stamped 0 and describe the cell as it was) to the last task event.
- Machines: the state at the window start becomes ADD events at 0; later ADD, REMOVE and UPDATE
  events are kept in order (:mod:`autoinfra.traces.machines`).
- Tasks: one row per task instance (:mod:`autoinfra.traces.instances` says what an instance is
  and how its run time is counted); tasks already there at the window start enter at 0.
- Services: the rule in :mod:`autoinfra.traces.tasks`.
- Usage: :mod:`autoinfra.traces.usage`; per-task ratios and profiles are drawn with ``seed``
  (ratios by request size within priority band; tasks the usage table measured keep theirs).

The built workload is cached (see :mod:`autoinfra.traces.cache`), keyed by the input files, the
window, the lenient flag and the seed. :func:`window`, :func:`sample_cell` and
:func:`split_windows` (from :mod:`autoinfra.traces.slicing`) are re-exported here.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from autoinfra.core.errors import ConfigError, TraceError
from autoinfra.traces import archive
from autoinfra.traces import cache as trace_cache
from autoinfra.traces.calibration_file import load_calibration
from autoinfra.traces.checks import SkipReport
from autoinfra.traces.instances import task_instances
from autoinfra.traces.machines import machine_table, machines_in_window
from autoinfra.traces.paths import default_azure_path, default_trace_dir
from autoinfra.traces.ratios import MIN_BIN_SAMPLES
from autoinfra.traces.reader import has_table, part_files, read_table
from autoinfra.traces.schema import (
    SCHEMA_VERSION,
    TIME_AFTER_WINDOW_US,
    TRACE_WINDOW_START_S,
    US_PER_S,
)
from autoinfra.traces.slicing import sample_cell, split_windows, trace_span, window
from autoinfra.traces.standins import SILENT_TASKS, shipped_standins_path, stand_in_instances
from autoinfra.traces.tables import Workload
from autoinfra.traces.tasks import build_task_tables
from autoinfra.traces.usage import (
    RatioTables,
    azure_shapes,
    build_usage_model,
    measured_ratios,
    observed_ratios,
    ratio_stats,
)

__all__ = ["load_workload", "sample_cell", "split_windows", "trace_span", "window"]

# bump when the workload built from the same files changes (it keys the workload cache)
# 2: ratios by request bin within band, measured tasks replayed; 3: mid-life runs; 4: stand-ins
MODEL_VERSION = 5  # 5: too few measured tasks fall back to the shipped calibration


def _window_us(events: pd.DataFrame, start_s: float | None, end_s: float | None) -> tuple[int, int]:
    t = events["time"].to_numpy(np.int64)
    t = t[t != TIME_AFTER_WINDOW_US]
    if t.size == 0:
        raise TraceError("task_events holds no event inside the trace window", kind="empty")
    first_us, last_us = int(t.min()), int(t.max())
    default_start = max(int(TRACE_WINDOW_START_S * US_PER_S), first_us)
    start_us = default_start if start_s is None else round(start_s * US_PER_S)
    end_us = last_us if end_s is None else round(end_s * US_PER_S)
    if end_us > last_us:
        raise ConfigError(
            f"end_s={end_us / US_PER_S:g} is past the last task event of this trace "
            f"({last_us / US_PER_S:g} s): nothing is known about the cell after it",
            field="end_s",
        )
    if not start_us < end_us:
        raise ConfigError(
            f"the window must have start_s < end_s, got {start_us / US_PER_S:g} and "
            f"{end_us / US_PER_S:g} (trace seconds)",
            field="start_s",
        )
    return start_us, end_us


@dataclasses.dataclass(frozen=True, slots=True)
class _RatioFit:
    """The ratio tables, their figures, where they come from, the measured tasks' ratios (None
    without a task_usage table), and why the shipped calibration stood in (None: it did not,
    or the trace has no task_usage, which is the documented default)."""

    tables: RatioTables
    stats: dict[str, Any]
    source: str
    measured: pd.DataFrame | None
    fallback: dict[str, Any] | None = None


def _shipped_fit(
    source: str, measured: pd.DataFrame | None, fallback: dict[str, Any] | None = None
) -> _RatioFit:
    usage_cal = load_calibration()["usage"]
    tables = RatioTables.from_dict(usage_cal["ratio_tables"])
    return _RatioFit(tables, usage_cal["ratio_stats"], source, measured, fallback)


def _ratio_tables(
    root: Path,
    task_events: pd.DataFrame,
    lenient: bool,
    cache: bool,
    skipped: dict[str, Any],
    fit_until_us: int,
) -> _RatioFit:
    """The usage model's ratio tables. Only measurement windows that end by ``fit_until_us``
    are used: a study fits the usage model on its training window alone."""
    if not has_table(root, "task_usage"):
        return _shipped_fit("the shipped calibration (this trace has no task_usage table)", None)
    # only the first part: it is all the slice has, and a full download's 500 parts of usage
    # (about 45 GB) would not fit in memory for a figure that needs a few thousand tasks
    first = part_files(root, "task_usage")[0]
    usage, report = read_table("task_usage", first, lenient, cache=cache)
    skipped["task_usage"] = report.to_dict()
    usage = usage.loc[usage["end_time"] <= fit_until_us]
    if usage.empty:
        raise TraceError(
            f"no task_usage measurement ends by trace second {fit_until_us / US_PER_S:g} (the "
            "end of the training window): the usage model has nothing to be fitted on",
            path=str(first),
            kind="empty",
        )
    ratios = observed_ratios(usage, task_events)
    lo, hi = usage["start_time"].min() / US_PER_S, usage["end_time"].max() / US_PER_S
    measured = measured_ratios(ratios)
    if len(measured) < MIN_BIN_SAMPLES:
        # A usage part that joins (almost) no request in the loaded task_events (its window
        # lies before their first event, or it is another day's) would give empty tables, and
        # an empty table draws usage = request: three times the cell's real usage. The tasks it
        # did measure keep their ratios; every other task draws from the shipped calibration.
        source = (
            f"the shipped calibration (this trace's task_usage {first.name} measured "
            f"{len(measured)} tasks whose requests the loaded task_events show, {lo:g}-{hi:g} s; "
            f"at least {MIN_BIN_SAMPLES} are needed to fit the tables)"
        )
        fallback = {
            "file": first.name,
            "measured_tasks": len(measured),
            "needed": MIN_BIN_SAMPLES,
            "window_trace_s": [float(lo), float(hi)],
        }
        return _shipped_fit(source, measured, fallback)
    source = f"Google 2011 task_usage {first.name} ({len(ratios)} tasks, {lo:g}-{hi:g} s)"
    return _RatioFit(RatioTables.from_ratios(ratios), ratio_stats(ratios), source, measured)


def _input_files(root: Path) -> list[Path]:
    files = part_files(root, "task_events") + part_files(root, "machine_events")
    if has_table(root, "task_usage"):
        files.append(part_files(root, "task_usage")[0])
    # the stand-ins' level and mix shape a mid-life workload: a regenerated file is a new key
    return [*files, default_azure_path(), shipped_standins_path()]


def load_workload(
    trace_dir: str | Path | None = None,
    *,
    start_s: float | None = None,
    end_s: float | None = None,
    lenient: bool = False,
    seed: int = 0,
    cache: bool = True,
    usage_fit_share: float = 1.0,
    silent_tasks: str = "stand-in",
) -> Workload:
    """The workload of a trace window; ``start_s``/``end_s`` are trace seconds (None: defaults).

    ``silent_tasks``: what data that starts mid-life does about the running tasks it cannot
    show: ``"stand-in"`` fills the running load up to the level measured with the full history
    (:mod:`autoinfra.traces.standins`), ``"none"`` replays only what the data shows. Data with
    its history from the trace's start is not touched either way.

    ``usage_fit_share``: the usage model is fitted only on task_usage measurements that end in
    the first this share of the window (a study passes its ``train_fraction``, so the model of
    the evaluated window never learns from it).

    Raises ``TraceError`` for bad trace files (``lenient=True`` skips bad rows and reports them in
    ``meta["skipped"]``) and ``ConfigError`` for a window outside the trace.
    """
    root = Path(trace_dir) if trace_dir is not None else default_trace_dir()
    params = {
        "start_s": start_s,
        "end_s": end_s,
        "lenient": lenient,
        "seed": seed,
        "model": MODEL_VERSION,
        "usage_fit_share": usage_fit_share,
        "silent_tasks": silent_tasks,
    }
    if silent_tasks not in SILENT_TASKS:
        raise ConfigError(
            f"expected one of {', '.join(SILENT_TASKS)}, got {silent_tasks!r}",
            field="silent_tasks",
        )
    if not 0.0 < usage_fit_share <= 1.0:
        raise ConfigError(
            f"expected a share in (0, 1], got {usage_fit_share!r}", field="usage_fit_share"
        )
    key = trace_cache.cache_key("workload", _input_files(root), params)
    if cache:
        hit = trace_cache.load_arrays(key)
        if hit is not None:
            return archive.from_arrays(*hit)
    workload = _build(root, start_s, end_s, lenient, seed, cache, usage_fit_share, silent_tasks)
    if cache:
        trace_cache.store_arrays(key, *archive.to_arrays(workload))
    return workload


def history(events: pd.DataFrame, anomalies: dict[str, Any]) -> dict[str, Any]:
    """Whether task_events hold the cell's history from the trace's start (``complete``) or
    start mid-life: later part files without the earlier ones, so tasks already running show up
    only through what ends their runs, and those with no event in the data not at all."""
    t = events["time"].to_numpy(np.int64)
    t = t[t != TIME_AFTER_WINDOW_US]
    running = int(anomalies.get("running_at_data_start", 0))
    return {
        "first_event_trace_s": float(t.min()) / US_PER_S if t.size else None,
        "running_at_data_start": running,
        "complete": running == 0,
    }


def usage_warning(workload: Workload) -> str | None:
    """What to tell a user whose trace's task_usage could not fit the usage model (None: it
    could, or the trace has none and the shipped calibration is the documented default)."""
    fallback = workload.meta.get("usage_fallback")
    if not isinstance(fallback, dict):
        return None
    lo, hi = fallback["window_trace_s"]
    return (
        f"task_usage {fallback['file']} ({lo:,.0f}-{hi:,.0f} s) measured only "
        f"{int(fallback['measured_tasks'])} tasks whose requests the loaded task_events show "
        f"(at least {int(fallback['needed'])} are needed): usage ratios come from the shipped "
        "calibration instead; give the task_usage part that covers the task_events' window"
    )


def input_warnings(workload: Workload) -> list[str]:
    """Every warning about what the inputs lack, in the order a report lists them."""
    return [w for w in (history_warning(workload), usage_warning(workload)) if w]


def history_warning(workload: Workload) -> str | None:
    """What to tell a user whose workload was read from mid-life data (None: nothing). Worded
    here, at read time, so a cached workload never carries an old wording."""
    hist = workload.meta.get("history")
    if not isinstance(hist, dict) or hist.get("complete", True):
        return None
    first = hist.get("first_event_trace_s") or 0.0
    running = int(hist.get("running_at_data_start", 0))
    head = (
        f"task_events start mid-life at trace second {first:,.0f}: {running:,} tasks were "
        "already running there and enter from their later events, but tasks with no event in "
        "the data do not show (on the shipped slice read from part 2 on, 86 % of the running "
        "tasks and 90 % of their CPU requests); "
    )
    tail = (
        "give the task_events parts from part-00000 on (and --trace-span START:END to study a "
        "later stretch of them) to replay the real ones"
    )
    fill = hist.get("stand_ins")
    if not isinstance(fill, dict):
        return head + "they are left out, so the cell replays far emptier than it was; " + tail
    seen, level = fill["seen_cpu_per_capacity"], fill["level_cpu_per_capacity"]
    return head + (
        f"{int(fill['tasks']):,} stand-ins from {int(fill['jobs']):,} silent jobs of the shipped "
        f"slice take their place, raising the running CPU requests from {seen:.2f} to about "
        f"{level:.2f} of the cell's capacity, the level measured there with the full history "
        "(a model, not the missing tasks; --silent-tasks none leaves them out); "
    ) + tail


def _build(
    root: Path,
    start_s: float | None,
    end_s: float | None,
    lenient: bool,
    seed: int,
    cache: bool,
    usage_fit_share: float,
    silent_tasks: str = "stand-in",
) -> Workload:
    t0 = time.perf_counter()
    skipped: dict[str, Any] = {}
    until_us = None if end_s is None else round(end_s * US_PER_S)
    events, report = read_table("task_events", root, lenient, cache=cache, until_us=until_us)
    skipped["task_events"] = report.to_dict()
    machine_events, report = read_table("machine_events", root, lenient, cache=cache)
    skipped["machine_events"] = report.to_dict()
    start_us, end_us = _window_us(events, start_s, end_s)
    length_s = (end_us - start_us) / US_PER_S

    all_machines, machine_info = machine_table(machine_events, start_us)
    machines = machines_in_window(all_machines, 0.0, length_s)
    instances, anomalies = task_instances(events, start_us, end_us)
    hist = history(events, anomalies)
    if not hist["complete"] and silent_tasks == "stand-in":
        at_start = machines.time_s == 0.0
        capacity = (float(machines.cpu[at_start].sum()), float(machines.mem[at_start].sum()))
        extra, hist["stand_ins"] = stand_in_instances(instances, capacity, length_s, seed)
        instances = pd.concat([instances.assign(stand_in=False), extra], ignore_index=True)
    fit_until_us = start_us + round(usage_fit_share * (end_us - start_us))
    fit = _ratio_tables(root, events, lenient, cache, skipped, fit_until_us)
    shapes = azure_shapes()
    rng = np.random.default_rng(seed)
    built = build_task_tables(instances, fit.tables, shapes.shape[0], rng, fit.measured)
    usage = build_usage_model(
        fit.tables,
        shapes,
        fit.stats,
        ratio_source=fit.source,
        replayed_tasks=int(built.info["replayed_ratios"]),
    )

    meta = {
        "trace_offset_s": start_us / US_PER_S,
        "window_trace_s": [start_us / US_PER_S, end_us / US_PER_S],
        "times": "seconds relative to the window start; trace second = time + trace_offset_s",
        "trace_dir": str(root.resolve()),
        "seed": seed,
        "lenient": lenient,
        "skipped": skipped,
        "skipped_rows": sum(SkipReport.from_dict(r).total for r in skipped.values()),
        "instances": built.info,
        "anomalies": anomalies,
        "history": hist,
        "usage_fallback": fit.fallback,
        "machines": machine_info | {"at_start": int((machines.time_s == 0).sum())},
        "schema_version": SCHEMA_VERSION,
        "model_version": MODEL_VERSION,
        "build_s": round(time.perf_counter() - t0, 3),
    }
    return Workload(
        machines=machines,
        tasks=built.tasks,
        services=built.services,
        usage=dataclasses.replace(usage, calibration=archive.jsonable(usage.calibration)),
        job_ids=built.job_ids,
        start_s=0.0,
        end_s=length_s,
        source=f"google-2011:{root.resolve()}",
        meta=archive.jsonable(meta),
    )
