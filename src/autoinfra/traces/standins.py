"""Stand-ins for the tasks that data starting mid-life cannot show.

Task events that start mid-life (later part files without the earlier ones) show a task already
running only through a later event of its own. A long-running task with no event in the data
(no finish, eviction or update) does not show at all, and on the Google 2011 cell those are most
of the load: measured on the shipped slice with its full history, 86 % of the tasks running at
the start of part 2 (trace second 10,623) and 90 % of their CPU requests have no event in parts
2-3. Replayed without them the cell is nearly empty, and a study then measures how fast each
system switches off a cell that was in truth full.

The stand-ins put that load back, as a stated model, not as the missing tasks themselves:

- **Level.** The cell's running load is stable: with the full history, the tasks running at the
  starts of parts 1, 2 and 3 request 1.12, 1.12 and 1.10 of the cell's CPU capacity and 0.92,
  0.91 and 0.92 of its memory. The shipped file (``standins.json``) records the level at the
  part-2 boundary; the running load of a mid-life workload is filled up to that level, CPU and
  memory each (the fill stops at the first resource to reach it, so neither is overfilled).
- **Mix.** Stand-ins are the silent tasks measured there, job by job: each silent job's tasks
  with their CPU and memory requests, priority and scheduling class (kept as 3,770 groups of
  identical tasks in 3,700 jobs, 112,486 tasks; the trace's requests are coarsely quantised,
  and the 472 silent tasks that request no CPU or no memory are left out). Jobs are taken
  in an order drawn from the seed, each whole, skipping one that would pass a level, until the
  level is reached (from the start again if one pass is not enough).
- **Run.** A stand-in runs through the whole window, as a silent task did (had it finished or
  been evicted, the data would show it), placed by each system like any task at the start.
  Kept by job, a silent production job becomes a service by the rule of
  :mod:`autoinfra.traces.tasks`, as it was one: most of the silent load is service replicas,
  and scaling them down is much of what frees a full cell.

Regenerate the file from a trace with its full history (the shipped slice by default)::

    autoinfra trace standins [--out x.json] [--trace DIR] [--at-s SECONDS]
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from autoinfra.core.atomic import write_text
from autoinfra.core.errors import ConfigError
from autoinfra.traces.calibration_file import dumps_figures, load_figures, shipped_figures_path
from autoinfra.traces.schema import TRACE_WINDOW_START_S, US_PER_S
from autoinfra.traces.schema import TaskEventType as E
from autoinfra.traces.tables import TaskEnd

__all__ = [
    "SILENT_TASKS",
    "STANDINS_VERSION",
    "load_standins",
    "measure_silent",
    "stand_in_instances",
    "write_standins",
]

STANDINS_VERSION = 1
SILENT_TASKS = ("stand-in", "none")  # what a mid-life workload does about its silent tasks
# whole passes over the silent jobs at most: the level is one cell's, so is the mix (about one
# pass fills it); far more would mean a level or a mix from elsewhere
MAX_PASSES = 10
_STATE_CHANGES = [E.SUBMIT, E.SCHEDULE, E.EVICT, E.FAIL, E.FINISH, E.KILL, E.LOST]
_FIELDS = ["cpu_request", "memory_request", "priority", "scheduling_class"]


@dataclass(frozen=True, slots=True)
class _Taken:
    group: npt.NDArray[np.int64]  # rows of the mix taken, grouped by drawn job
    drawn_job: npt.NDArray[np.int64]  # 0, 1, ...: which draw each row belongs to
    passes: int  # over the jobs; MAX_PASSES: stopped there, perhaps short of the level


def _take_jobs(
    mix: dict[str, Any], want_cpu: float, want_mem: float, rng: np.random.Generator
) -> _Taken:
    """Whole silent jobs in a random order until both levels are as near as whole jobs allow,
    in passes over the jobs (at most ``MAX_PASSES``): all of them while the whole mix fits, then
    each job that still fits, until a pass finds none."""
    job = np.asarray(mix["job"], dtype=np.int64)
    count = np.asarray(mix["count"], dtype=np.float64)
    n_jobs = int(job.max()) + 1 if job.size else 0
    job_cpu = np.bincount(job, weights=count * np.asarray(mix["cpu_request"]), minlength=n_jobs)
    job_mem = np.bincount(job, weights=count * np.asarray(mix["mem_request"]), minlength=n_jobs)
    rows_of = np.split(np.argsort(job, kind="stable"), np.cumsum(np.bincount(job))[:-1])
    ids = np.flatnonzero((job_cpu > 0) & (job_mem > 0))  # a job that requests nothing fills nothing
    total_cpu, total_mem = float(job_cpu[ids].sum()), float(job_mem[ids].sum())
    left_cpu, left_mem = want_cpu, want_mem
    taken: list[int] = []
    passes = 0
    while passes < MAX_PASSES:
        if ids.size == 0:
            break
        passes += 1
        if total_cpu <= left_cpu and total_mem <= left_mem:  # the whole mix fits: all of it
            taken += rng.permutation(ids).tolist()
            left_cpu -= total_cpu
            left_mem -= total_mem
            continue
        before = len(taken)
        for j in rng.permutation(ids).tolist():  # each job that still fits
            if job_cpu[j] <= left_cpu and job_mem[j] <= left_mem:
                left_cpu -= job_cpu[j]
                left_mem -= job_mem[j]
                taken.append(j)
        if len(taken) == before:
            break  # no job fits any more
    if not taken:
        empty = np.empty(0, dtype=np.int64)
        return _Taken(empty, empty, passes)
    group = np.concatenate([rows_of[j] for j in taken])
    drawn = np.repeat(np.arange(len(taken), dtype=np.int64), [rows_of[j].shape[0] for j in taken])
    return _Taken(group, drawn, passes)


def shipped_standins_path() -> Path:
    return shipped_figures_path("standins.json")


def load_standins(path: str | Path | None = None) -> dict[str, Any]:
    """The shipped stand-ins' figures (or a file ``write_standins`` wrote)."""
    return load_figures("standins.json", path)


def _capacity_at(machine_events: pd.DataFrame, at_us: int) -> tuple[float, float]:
    """CPU and memory capacity of the machines in the cell at ``at_us``."""
    from autoinfra.traces.machines import machine_table

    table, _ = machine_table(machine_events, at_us)
    on = table.time_s <= 0.0
    return float(table.cpu[on].sum()), float(table.mem[on].sum())


def running_at(events: pd.DataFrame, at_us: int) -> pd.DataFrame:
    """The tasks running at ``at_us`` by the events up to it (their last state change was a
    SCHEDULE), one row per task with its latest requests, priority and class, and whether any
    event of the task follows (``seen_after``)."""
    ev = events.sort_values(["job_id", "task_index", "time"], kind="stable")
    before = ev.loc[ev["time"] <= at_us]
    keys = ["job_id", "task_index"]
    last = before.loc[before["event_type"].isin(_STATE_CHANGES)].groupby(keys)["event_type"].last()
    running = last.index[last.to_numpy() == E.SCHEDULE]
    fields = before.groupby(keys)[_FIELDS].last().loc[running]
    after = ev.loc[ev["time"] > at_us, keys].drop_duplicates()
    seen = pd.MultiIndex.from_frame(after)
    return fields.assign(seen_after=fields.index.isin(seen)).reset_index()


def measure_silent(
    trace_dir: str | Path | None = None, at_s: float | None = None
) -> dict[str, Any]:
    """The running load at trace second ``at_s`` (default: the first event of the trace's third
    task_events part) and the mix of the tasks running then that no later event shows."""
    from autoinfra.traces.paths import default_trace_dir
    from autoinfra.traces.reader import part_files, read_table

    root = Path(trace_dir) if trace_dir is not None else default_trace_dir()
    parts = part_files(root, "task_events")
    if at_s is None:
        if len(parts) < 3:
            raise ConfigError(
                f"{root}: the default point is the first event of the third task_events part, "
                f"and there are {len(parts)}; give at_s",
                field="at_s",
            )
        third, _ = read_table("task_events", parts[2], False)
        at_us = int(third["time"].min())
    else:
        at_us = round(at_s * US_PER_S)
    events, _ = read_table("task_events", root, False)
    machine_events, _ = read_table("machine_events", root, False)
    end_us = int(events["time"].max())
    first_us = int(events["time"].min())
    if first_us > TRACE_WINDOW_START_S * US_PER_S:
        raise ConfigError(
            f"{root}: task_events start at trace second {first_us / US_PER_S:,.0f}, mid-life; "
            "measuring what is running needs the history from the trace's start (part-00000 on)",
            field="trace",
        )
    if not first_us < at_us < end_us:
        raise ConfigError(f"at_s={at_us / US_PER_S:g} is not inside the task events", field="at_s")
    cap_cpu, cap_mem = _capacity_at(machine_events, at_us)
    run = running_at(events, at_us)
    silent = run.loc[~run["seen_after"]]
    # a task that requests nothing fills nothing: the mix leaves it out, the figures do not
    fills = silent.loc[(silent["cpu_request"] > 0) & (silent["memory_request"] > 0)]
    sizes: pd.Series = fills.fillna({"scheduling_class": 0}).groupby(["job_id", *_FIELDS]).size()
    groups = sizes.reset_index(name="count")
    job = np.unique(groups["job_id"].to_numpy(), return_inverse=True)[1]

    def level(rows: pd.DataFrame) -> dict[str, float | int]:
        return {
            "tasks": len(rows),
            "cpu_per_capacity": float(rows["cpu_request"].sum()) / cap_cpu,
            "mem_per_capacity": float(rows["memory_request"].sum()) / cap_mem,
        }

    return {
        "version": STANDINS_VERSION,
        "source": f"google-2011 task_events of {root.name}: {len(parts)} parts, full history",
        "at_trace_s": at_us / US_PER_S,
        "data_after_s": (end_us - at_us) / US_PER_S,
        "capacity": {"cpu": cap_cpu, "mem": cap_mem},
        "running": level(run),
        "silent": level(silent) | {"share_of_tasks": len(silent) / max(len(run), 1)},
        "mix": {
            "job": job.astype(int).tolist(),
            "cpu_request": groups["cpu_request"].tolist(),
            "mem_request": groups["memory_request"].tolist(),
            "priority": groups["priority"].astype(int).tolist(),
            "sched_class": groups["scheduling_class"].astype(int).tolist(),
            "count": groups["count"].astype(int).tolist(),
        },
    }


def _running_load(instances: pd.DataFrame) -> tuple[float, float]:
    """CPU and memory requested by the instances there at the window start."""
    at_start = (instances["open_s"] <= 0.0) & ~(instances["end_s"] <= 0.0)
    rows = instances.loc[at_start]
    return float(rows["cpu_request"].fillna(0).sum()), float(rows["mem_request"].fillna(0).sum())


def stand_in_instances(
    instances: pd.DataFrame,
    capacity: tuple[float, float],
    length_s: float,
    seed: int,
    standins: dict[str, Any] | None = None,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Instances (``traces.instances`` columns plus ``stand_in``) that fill the running load at
    the window start up to the measured level, and what was done (for ``meta``)."""
    cal = standins if standins is not None else load_standins()
    cap_cpu, cap_mem = capacity
    have_cpu, have_mem = _running_load(instances)
    level = cal["running"]
    want_cpu = max(0.0, float(level["cpu_per_capacity"]) * cap_cpu - have_cpu)
    want_mem = max(0.0, float(level["mem_per_capacity"]) * cap_mem - have_mem)
    mix = cal["mix"]
    rows = _take_jobs(mix, want_cpu, want_mem, np.random.default_rng([seed, 0x5711E]))
    # one row per stand-in task: a group's row repeated by its count, numbered within its job
    count = np.asarray(mix["count"], dtype=np.int64)[rows.group]
    picks = np.repeat(rows.group, count)
    job_of = np.repeat(rows.drawn_job, count)
    n = int(picks.shape[0])
    index = np.arange(n) - np.searchsorted(job_of, job_of)  # job_of is sorted: 0, 1, ...
    cpu = np.asarray(mix["cpu_request"], dtype=np.float64)
    mem = np.asarray(mix["mem_request"], dtype=np.float64)
    frame = pd.DataFrame(
        {
            "job_id": -1 - job_of.astype(np.int64),  # no trace job id is negative
            "task_index": index.astype(np.int64),
            "open_s": np.zeros(n),
            "submit_s": np.zeros(n),
            "run_s": np.full(n, length_s),
            "end": np.full(n, int(TaskEnd.CENSORED), dtype=np.int8),
            "end_s": np.full(n, np.nan),
            "running_at_end": np.ones(n, dtype=bool),
            "cpu_request": cpu[picks],
            "mem_request": mem[picks],
            "priority": np.asarray(mix["priority"], dtype=np.int64)[picks],
            "sched_class": np.asarray(mix["sched_class"], dtype=np.float64)[picks],
            "stand_in": np.ones(n, dtype=bool),
        }
    )
    info = {
        "tasks": n,
        "jobs": int(rows.drawn_job.max()) + 1 if n else 0,
        "passes": rows.passes,
        "cpu_request": float(cpu[picks].sum()),
        "mem_request": float(mem[picks].sum()),
        "seen_cpu_per_capacity": have_cpu / cap_cpu if cap_cpu > 0 else 0.0,
        "seen_mem_per_capacity": have_mem / cap_mem if cap_mem > 0 else 0.0,
        "level_cpu_per_capacity": float(level["cpu_per_capacity"]),
        "level_mem_per_capacity": float(level["mem_per_capacity"]),
        "measured_at_trace_s": float(cal["at_trace_s"]),
        "source": str(cal["source"]),
    }
    return frame, info


def write_standins(
    out: str | Path | None = None, trace_dir: str | Path | None = None, at_s: float | None = None
) -> Path:
    """Measure (:func:`measure_silent`) and write atomically (default: the shipped file)."""
    target = Path(out) if out is not None else shipped_standins_path()
    return write_text(target, dumps_figures(measure_silent(trace_dir, at_s)))
