"""Task events to task instances: what each task asked for and how long it ran, vectorised.

An *instance* is one attempt of a task that the workload replays:

- a SUBMIT opens it (or the task's first event, when the trace starts mid-life);
- data that starts mid-life (later part files without the earlier ones) shows a task that was
  already running only by what ends or updates that run. A task whose first event is EVICT, FAIL,
  FINISH, KILL, LOST or UPDATE_RUNNING was running when the data starts, and since the data is
  contiguous its SCHEDULE came before the data: the run is counted from the data's first event
  (on the shipped slice read from part 2 on, every such task but 31 KILLs of 19,032 was running
  then, by the earlier parts). Tasks with no event at all in the data stay invisible: there
  they were 86 % of the tasks running and 90 % of their CPU requests (the workload's
  ``meta["history"]`` and ``traces.workload.history_warning`` say so);
- it ends at FINISH, FAIL or KILL; the task's next event (normally a resubmission) opens a new
  instance, so a resubmission after FAIL is a new instance;
- EVICT and LOST are caused by Google's own cluster, not by the workload: the instance goes on
  (its resubmission continues the same instance) and they are not replayed;
- its run time is the time from each SCHEDULE to the event that ends that run (EVICT, LOST,
  FAIL, FINISH, KILL), summed over runs and clipped to the window; a run still going at the
  window end counts up to the end, and the instance is then CENSORED;
- requests, priority and scheduling class come from the latest event that carries them.

Everything is array work on events sorted by (job, task, time): instance boundaries by comparing
each event with the previous one, "the last state change before this event" by a running maximum
of row indices, per-instance sums by ``np.add.reduceat``. No Python loop per event.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from autoinfra.traces.schema import TIME_AFTER_WINDOW_US, US_PER_S
from autoinfra.traces.schema import TaskEventType as E
from autoinfra.traces.tables import TaskEnd

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]

_TERMINAL = np.array([E.FAIL, E.FINISH, E.KILL])
_RUN_ENDS = np.array([E.EVICT, E.LOST, E.FAIL, E.FINISH, E.KILL])
_STATE_CHANGES = np.array([E.SUBMIT, E.SCHEDULE, E.EVICT, E.FAIL, E.FINISH, E.KILL, E.LOST])
_END_CODE = MappingProxyType(
    {int(E.FINISH): TaskEnd.FINISH, int(E.FAIL): TaskEnd.FAIL, int(E.KILL): TaskEnd.KILL}
)


def _last_index_before(mask: npt.NDArray[np.bool_], first_row: I64, inclusive: bool) -> I64:
    """For each row, the index of the latest row where ``mask`` holds, within the same instance
    (rows ``first_row[i]`` .. i, or .. i-1 when not ``inclusive``); -1 when there is none."""
    n = mask.shape[0]
    idx = np.where(mask, np.arange(n, dtype=np.int64), -1)
    acc = np.maximum.accumulate(idx) if n else idx
    if not inclusive:
        acc = np.concatenate(([-1], acc[:-1])) if n else acc
    return np.where(acc >= first_row, acc, -1)


def task_instances(
    events: pd.DataFrame, start_us: int, end_us: int
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Instances present in the window [start_us, end_us] of a validated task_events table.

    Returns one row per instance with times in seconds relative to the window start:
    ``job_id, task_index, open_s`` (may be < 0: opened before the window), ``submit_s`` (>= 0),
    ``run_s`` (run time inside the window), ``end`` (TaskEnd), ``end_s`` (NaN when censored),
    ``running_at_end``, ``cpu_request, mem_request`` (NaN when no event carried one),
    ``priority, sched_class``; and counts of what looked odd (``anomalies``).
    """
    t_us = events["time"].to_numpy(np.int64)
    keep = (t_us <= end_us) & (t_us != TIME_AFTER_WINDOW_US)
    job = events["job_id"].to_numpy(np.int64)[keep]
    tix = events["task_index"].to_numpy(np.int64)[keep]
    t_us = t_us[keep]
    et = events["event_type"].to_numpy(np.int64)[keep]
    cpu = events["cpu_request"].to_numpy(np.float64)[keep]
    mem = events["memory_request"].to_numpy(np.float64)[keep]
    prio = events["priority"].to_numpy(np.int64)[keep]
    sched = events["scheduling_class"].to_numpy(np.float64)[keep]
    if et.shape[0] == 0:
        return _empty_frame(), {"events": 0}
    order = np.lexsort((np.arange(t_us.shape[0]), t_us, tix, job))
    cols = [a[order] for a in (job, tix, t_us, et, cpu, mem, prio, sched)]
    implied = _running_at_data_start(cols[0], cols[1], cols[3])
    if implied.size:  # a SCHEDULE at the data's first event, before each such task's first event
        data_start_us = int(t_us.min())
        extra = [c[implied] for c in cols]
        extra[2] = np.full(implied.shape[0], data_start_us, dtype=np.int64)
        extra[3] = np.full(implied.shape[0], int(E.SCHEDULE), dtype=np.int64)
        extra[4] = np.full(implied.shape[0], np.nan)
        extra[5] = np.full(implied.shape[0], np.nan)
        extra[7] = np.full(implied.shape[0], np.nan)
        cols = [np.concatenate((x, c)) for x, c in zip(extra, cols, strict=True)]
        rank = np.concatenate((np.zeros(implied.shape[0]), np.ones(order.shape[0])))
        order = np.lexsort((np.arange(rank.shape[0]), rank, cols[2], cols[1], cols[0]))
        cols = [c[order] for c in cols]
    job, tix, t_us, et, cpu, mem, prio, sched = cols
    t = (t_us - start_us) / US_PER_S
    n = et.shape[0]
    length_s = (end_us - start_us) / US_PER_S

    new_task = np.ones(n, dtype=np.bool_)
    new_task[1:] = (job[1:] != job[:-1]) | (tix[1:] != tix[:-1])
    prev_et = np.concatenate(([-1], et[:-1]))
    new_inst = new_task | np.isin(prev_et, _TERMINAL)
    new_inst[0] = True
    inst = np.cumsum(new_inst) - 1
    starts = np.flatnonzero(new_inst)
    lasts = np.concatenate((starts[1:] - 1, [n - 1]))
    first_row = starts[inst]

    # each run: from the SCHEDULE that was the latest state change before the run-ending event
    prev_sc = _last_index_before(np.isin(et, _STATE_CHANGES), first_row, inclusive=False)
    run_end = np.isin(et, _RUN_ENDS)
    scheduled = run_end & (prev_sc >= 0) & (et[np.maximum(prev_sc, 0)] == E.SCHEDULE)
    run_from = np.where(scheduled, t[np.maximum(prev_sc, 0)], np.nan)
    contrib = np.where(
        scheduled, np.clip(np.minimum(t, length_s) - np.maximum(run_from, 0.0), 0.0, None), 0.0
    )
    run_s = np.add.reduceat(contrib, starts)

    # a run still going at the window end counts up to the end
    last_sc = _last_index_before(np.isin(et, _STATE_CHANGES), first_row, inclusive=True)[lasts]
    running_at_end = (last_sc >= 0) & (et[np.maximum(last_sc, 0)] == E.SCHEDULE)
    open_run = np.clip(length_s - np.maximum(t[np.maximum(last_sc, 0)], 0.0), 0.0, None)
    run_s = run_s + np.where(running_at_end, open_run, 0.0)

    last_et = et[lasts]
    terminal = np.isin(last_et, _TERMINAL)
    end = np.full(starts.shape[0], TaskEnd.CENSORED, dtype=np.int8)
    for code, task_end in _END_CODE.items():
        end[last_et == code] = task_end
    end_s = np.where(terminal, t[lasts], np.nan)
    open_s = t[starts]

    def latest(values: F64) -> F64:
        at = _last_index_before(~np.isnan(values), first_row, inclusive=True)[lasts]
        return np.where(at >= 0, values[np.maximum(at, 0)], np.nan)

    frame = pd.DataFrame(
        {
            "job_id": job[starts],
            "task_index": tix[starts],
            "open_s": open_s,
            "submit_s": np.maximum(open_s, 0.0),
            "run_s": run_s,
            "end": end,
            "end_s": end_s,
            "running_at_end": running_at_end,
            "cpu_request": latest(cpu),
            "mem_request": latest(mem),
            "priority": prio[lasts],
            "sched_class": latest(sched),
        }
    )
    # instances that ended before the window opened are history, not workload
    present = ~terminal | (end_s > 0.0) | (open_s >= 0.0)
    anomalies = {
        "events": int(n),
        "instances_before_window": int((~present).sum()),
        "opened_without_submit": int((et[starts] != E.SUBMIT).sum()),
        "finish_or_fail_without_schedule": int(
            (np.isin(et, [E.FINISH, E.FAIL]) & ~scheduled).sum()
        ),
        "running_at_data_start": int(implied.shape[0]),
        "evictions_not_replayed": int((et == E.EVICT).sum()),
        "losses_not_replayed": int((et == E.LOST).sum()),
    }
    return frame.loc[present].reset_index(drop=True), anomalies


# first events that only a running task has: it was running before the data started
_RUNNING_ONLY = np.array([E.EVICT, E.FAIL, E.FINISH, E.KILL, E.LOST, E.UPDATE_RUNNING])


def _running_at_data_start(job: I64, tix: I64, et: I64) -> I64:
    """Rows (of events sorted by job, task, time) that are a task's first event and say it was
    already running: the data starts in the middle of that run."""
    first = np.ones(job.shape[0], dtype=np.bool_)
    first[1:] = (job[1:] != job[:-1]) | (tix[1:] != tix[:-1])
    return np.flatnonzero(first & np.isin(et, _RUNNING_ONLY)).astype(np.int64)


def _empty_frame() -> pd.DataFrame:
    cols = [
        "job_id",
        "task_index",
        "open_s",
        "submit_s",
        "run_s",
        "end",
        "end_s",
        "running_at_end",
        "cpu_request",
        "mem_request",
        "priority",
        "sched_class",
    ]
    return pd.DataFrame({c: [] for c in cols})
