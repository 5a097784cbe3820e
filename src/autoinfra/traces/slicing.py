"""Cut a workload in time (``window``, ``split_windows``) and in space (``sample_cell``).

- :func:`window` keeps the tasks that overlap a time window of the workload; tasks running at its
  start (at full speed from their submit time, the workload's nominal timeline) enter at 0 with
  the work they have left; tasks that would run past its end are cut there and CENSORED, the same
  rule :func:`~autoinfra.traces.workload.load_workload` applies at a trace window's end. Usage
  shapes are rotated so a task's usage at a moment is the same in the window as in the whole.
- :func:`sample_cell` draws the experiments' slice of a cell: ``machines`` machines uniformly at
  random, and each task (all instances of one job/task-index pair together) with probability
  machines / total, so load per machine stays that of the cell. Tasks, not whole jobs, are
  thinned because job sizes are heavy-tailed: drawing whole jobs into a slice of a few hundred
  machines gives slices from nearly empty to several times overloaded, depending on whether one
  job of thousands of tasks happens to be drawn. A service keeps the replicas drawn (at least
  one, or it is dropped) and its demand and replica ceiling shrink in proportion.
- :func:`split_windows` gives the training and evaluation windows, half-open and never overlapping.
- :func:`trace_span` checks a ``START:END`` stretch of trace seconds that a study reads.

Every cut compacts job and service indices and records itself in ``meta``.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from autoinfra.core.errors import ConfigError
from autoinfra.traces.machines import machines_in_window, take
from autoinfra.traces.tables import MachineTable, ServiceTable, TaskEnd, TaskTable, Workload

Mask = npt.NDArray[np.bool_]


class Window(NamedTuple):
    """A half-open time window ``[start_s, end_s)`` in a workload's own seconds."""

    start_s: float
    end_s: float


class WindowSplit(NamedTuple):
    train: Window
    evaluation: Window


def split_windows(duration_s: float, train_fraction: float) -> WindowSplit:
    """``[0, f*d)`` to train on and ``[f*d, d)`` to evaluate on: they never overlap."""
    if not (math.isfinite(duration_s) and duration_s > 0):
        raise ConfigError(
            f"duration_s must be a positive number of seconds, got {duration_s!r}",
            field="duration_s",
        )
    if not 0.0 < train_fraction < 1.0:
        raise ConfigError(
            f"train_fraction must be in (0, 1), got {train_fraction!r}", field="train_fraction"
        )
    cut = float(duration_s) * float(train_fraction)
    return WindowSplit(Window(0.0, cut), Window(cut, float(duration_s)))


def _compact(
    w: Workload,
    keep: Mask,
    submit_s: npt.NDArray[np.float64],
    duration_s: npt.NDArray[np.float32],
    end: npt.NDArray[np.int8],
) -> tuple[TaskTable, ServiceTable, npt.NDArray[np.int64]]:
    """Keep rows ``keep`` (with new times), renumber jobs and services, recount replicas."""
    t, s = w.tasks, w.services
    order = np.argsort(submit_s[keep], kind="stable")
    rows = np.flatnonzero(keep)[order]
    used_jobs = np.unique(t.job[rows])
    svc_old = t.service[rows]
    used_svcs = np.unique(svc_old[svc_old >= 0])
    svc_new = np.where(svc_old >= 0, np.searchsorted(used_svcs, svc_old), -1).astype(np.int32)
    new_submit = submit_s[rows]
    tasks = TaskTable(
        submit_s=new_submit.astype(np.float64),
        duration_s=duration_s[rows].astype(np.float32),
        cpu_request=t.cpu_request[rows],
        mem_request=t.mem_request[rows],
        priority=t.priority[rows],
        sched_class=t.sched_class[rows],
        job=np.searchsorted(used_jobs, t.job[rows]).astype(np.int32),
        task_index=t.task_index[rows],
        service=svc_new,
        cpu_usage_ratio=t.cpu_usage_ratio[rows],
        mem_usage_ratio=t.mem_usage_ratio[rows],
        profile=t.profile[rows],
        end=end[rows].astype(np.int8),
    )
    at_start = (svc_new >= 0) & (new_submit <= 0.0)
    initial = np.maximum(np.bincount(svc_new[at_start], minlength=used_svcs.shape[0]), 1)
    old_initial = s.initial_replicas[used_svcs].astype(np.float64)
    # base demand = replicas x request x ratio; keep the ratio, recount the replicas
    scale = initial / np.maximum(old_initial, 1.0)
    services = ServiceTable(
        job=np.searchsorted(used_jobs, s.job[used_svcs]).astype(np.int32),
        initial_replicas=initial.astype(np.int32),
        min_replicas=s.min_replicas[used_svcs],
        max_replicas=np.maximum(
            np.ceil(s.max_replicas[used_svcs] * np.minimum(scale, 1.0)), initial
        ).astype(np.int32),
        priority=s.priority[used_svcs],
        cpu_request=s.cpu_request[used_svcs],
        mem_request=s.mem_request[used_svcs],
        base_cpu_demand=(s.base_cpu_demand[used_svcs] * scale).astype(np.float32),
        base_mem_demand=(s.base_mem_demand[used_svcs] * scale).astype(np.float32),
        profile=s.profile[used_svcs],
    )
    return tasks, services, w.job_ids[used_jobs]


def window(workload: Workload, start_s: float, end_s: float) -> Workload:
    """The part of ``workload`` in ``[start_s, end_s)`` (its own seconds), rebased to start at 0."""
    w0, w1 = workload.start_s, workload.end_s
    if not (w0 <= start_s < end_s <= w1):
        raise ConfigError(
            f"window [{start_s:g}, {end_s:g}) must lie inside the workload's "
            f"[{w0:g}, {w1:g}] with start < end",
            field="start_s",
        )
    t = workload.tasks
    length = end_s - start_s
    finish = t.submit_s + t.duration_s.astype(np.float64)
    keep = (t.submit_s < end_s) & ((finish > start_s) | (t.submit_s >= start_s))
    submit = np.maximum(t.submit_s - start_s, 0.0)
    remaining = np.where(t.submit_s < start_s, finish - start_s, t.duration_s.astype(np.float64))
    cut = np.isfinite(remaining) & (submit + remaining > length)
    remaining = np.where(cut, length - submit, remaining)
    end = np.where(cut, np.int8(TaskEnd.CENSORED), t.end).astype(np.int8)
    tasks, services, job_ids = _compact(workload, keep, submit, remaining.astype(np.float32), end)
    step_s = workload.usage.step_s
    shift = round(start_s / step_s) if step_s > 0 else 0
    usage = dataclasses.replace(
        workload.usage, shapes=np.roll(workload.usage.shapes, -shift, axis=1)
    )
    meta: dict[str, Any] = dict(workload.meta)
    if "trace_offset_s" in meta:
        meta["trace_offset_s"] = float(meta["trace_offset_s"]) + start_s
    meta["window"] = {
        "start_s": start_s,
        "end_s": end_s,
        "of": [w0, w1],
        "shape_steps_rotated": shift,
    }
    return Workload(
        machines=machines_in_window(workload.machines, start_s, end_s),
        tasks=tasks,
        services=services,
        usage=usage,
        job_ids=job_ids,
        start_s=0.0,
        end_s=length,
        source=workload.source,
        meta=meta,
    )


def sample_cell(workload: Workload, machines: int, seed: int) -> Workload:
    """``machines`` machines drawn uniformly, tasks kept with probability machines/total."""
    ids = np.unique(workload.machines.machine_id)
    total = int(ids.shape[0])
    if not 1 <= machines <= total:
        raise ConfigError(
            f"machines must be between 1 and the cell's {total}, got {machines}", field="machines"
        )
    rng = np.random.default_rng(seed)
    chosen = np.sort(rng.choice(ids, size=machines, replace=False))
    m: MachineTable = take(
        workload.machines, np.flatnonzero(np.isin(workload.machines.machine_id, chosen))
    )
    p = machines / total
    t = workload.tasks
    # one draw per (job, task index): every instance of a resubmitted task is kept or dropped
    key = (t.job.astype(np.int64) << 32) | t.task_index.astype(np.int64)
    pairs, pair_of_row = np.unique(key, return_inverse=True)
    keep = (rng.random(size=int(pairs.shape[0])) < p)[pair_of_row]
    tasks, services, job_ids = _compact(workload, keep, t.submit_s, t.duration_s, t.end)
    meta: dict[str, Any] = dict(workload.meta)
    meta["slicing"] = {
        "rule": "machines drawn uniformly without replacement from those in the machine table; "
        "each task (all instances of a job/task-index pair) kept with probability "
        "machines/total; services keep the replicas drawn, demand scaled in proportion",
        "machines": machines,
        "of_machines": total,
        "task_probability": p,
        "jobs_kept": int(job_ids.shape[0]),
        "of_jobs": int(workload.job_ids.shape[0]),
        "seed": seed,
    }
    return Workload(
        machines=m,
        tasks=tasks,
        services=services,
        usage=workload.usage,
        job_ids=job_ids,
        start_s=workload.start_s,
        end_s=workload.end_s,
        source=workload.source,
        meta=meta,
    )


def trace_span(value: object, field: str = "trace_span") -> tuple[float, float]:
    """``START:END`` (text, or a pair of numbers) in trace seconds: the stretch of a trace a study
    or a training reads, checked. Every task_events part up to END is read, so the cell at START
    is rebuilt from the whole history before it."""
    expected = "START:END in trace seconds, 0 <= START < END (for example 43200:64800)"
    parts: list[Any]
    if isinstance(value, str):
        parts = value.split(":")
    elif isinstance(value, list | tuple):
        parts = list(value)
    else:
        raise ConfigError(f"expected {expected}, got {value!r}", field=field)
    try:
        if len(parts) != 2 or any(isinstance(p, bool) for p in parts):
            raise ValueError
        start, end = float(parts[0]), float(parts[1])
    except (TypeError, ValueError):
        raise ConfigError(f"expected {expected}, got {value!r}", field=field) from None
    if not (math.isfinite(start) and math.isfinite(end) and 0.0 <= start < end):
        raise ConfigError(f"expected {expected}, got {value!r}", field=field)
    return start, end
