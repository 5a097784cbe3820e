"""Per-task records: what happened to every task instance, in columns.

One row per task instance: its status (not yet submitted, pending, running, ended), first start,
end, why it ended, how often it was evicted, how much work it lost, and its current slot. Tasks
the simulator creates itself (replicas added when a service scales up) get ids after the
workload's and their own submit time and service. About 30 bytes per task.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from autoinfra.sim.layout import (
    END_NAMES,
    END_SCALED_DOWN,
    F32,
    F64,
    I32,
    ST_ENDED,
    ST_FUTURE,
    ST_PENDING,
    ST_RUNNING,
)
from autoinfra.traces.tables import Workload

_COLUMNS: tuple[tuple[str, Any, float], ...] = (
    ("status", np.int8, 0),
    ("end_reason", np.int8, 0),
    ("evictions", np.int32, 0),
    ("slot", np.int32, -1),
    ("start", np.float64, np.nan),
    ("end", np.float64, np.nan),
    ("lost", np.float32, 0.0),
)


class TaskRecords:
    """The columns above, growable for created replicas."""

    def __init__(self, workload: Workload) -> None:
        self.workload = workload
        self.n_workload = len(workload.tasks)
        self.n = self.n_workload  # workload tasks + replicas created by scaling
        cap = self.n_workload + 64
        self.status = np.zeros(cap, dtype=np.int8)
        self.end_reason = np.zeros(cap, dtype=np.int8)
        self.evictions = np.zeros(cap, dtype=np.int32)
        self.slot: I32 = np.full(cap, -1, dtype=np.int32)
        self.start: F64 = np.full(cap, np.nan, dtype=np.float64)
        self.end: F64 = np.full(cap, np.nan, dtype=np.float64)
        self.lost: F32 = np.zeros(cap, dtype=np.float32)
        self.x_service: I32 = np.zeros(64, dtype=np.int32)  # service of each created replica
        self.x_submit: F64 = np.zeros(64, dtype=np.float64)

    def create(self, service: int, count: int, now: float) -> I32:
        """Ids for ``count`` new replicas of ``service`` submitted at ``now``."""
        need = self.n + count
        cap = self.status.shape[0]
        if need > cap:
            new = max(need, cap + cap // 4 + 64)
            for name, dtype, fill in _COLUMNS:
                arr = np.full(new, fill, dtype=dtype)
                arr[:cap] = getattr(self, name)
                setattr(self, name, arr)
        x_need = need - self.n_workload
        if x_need > self.x_service.shape[0]:
            grow = max(x_need, 2 * self.x_service.shape[0]) - self.x_service.shape[0]
            self.x_service = np.concatenate([self.x_service, np.zeros(grow, np.int32)])
            self.x_submit = np.concatenate([self.x_submit, np.zeros(grow, np.float64)])
        ids = np.arange(self.n, need, dtype=np.int32)
        lo, hi = self.n - self.n_workload, need - self.n_workload  # new ids are consecutive
        self.x_service[lo:hi] = service
        self.x_submit[lo:hi] = now
        self.n = need
        return ids

    def submit_s(self, ids: I32) -> F64:
        """Submit times in simulated seconds (the workload's, rebased to its start)."""
        out = np.empty(ids.shape[0], dtype=np.float64)
        w = ids < self.n_workload
        out[w] = self.workload.tasks.submit_s[ids[w]] - self.workload.start_s
        out[~w] = self.x_submit[ids[~w] - self.n_workload]
        return out

    def finish(self, ids: I32, end_s: F64 | float, reason: int | None) -> None:
        """Record the end of tasks; reason None: the way the workload says the task ends."""
        if reason is not None and ids.shape[0] <= 4 and isinstance(end_s, float):
            # a scale-down's one or two replicas: four element writes each, not four array calls
            for tid in ids.tolist():
                self.status[tid] = ST_ENDED
                self.slot[tid] = -1
                self.end[tid] = end_s
                self.end_reason[tid] = reason
            return
        if reason is None and ids.shape[0] <= 4 and not isinstance(end_s, float):
            # a tick's one or two finished tasks: the same writes, element by element
            codes = self.workload.tasks.end
            for tid, end in zip(ids.tolist(), np.asarray(end_s).tolist(), strict=True):
                self.status[tid] = ST_ENDED
                self.slot[tid] = -1
                self.end[tid] = end
                self.end_reason[tid] = int(codes[tid]) + 1 if tid < self.n_workload else 1
            return
        self.status[ids] = ST_ENDED
        self.slot[ids] = -1
        self.end[ids] = end_s
        if reason is None:
            w = ids < self.n_workload
            # TaskEnd FINISH, FAIL, KILL, CENSORED (0..3) -> END_FINISH.. (1..4)
            self.end_reason[ids[w]] = self.workload.tasks.end[ids[w]] + 1
            self.end_reason[ids[~w]] = 1
        else:
            self.end_reason[ids] = reason

    # evictions and work lost are counted by ``ClusterState.requeue_evicted`` (a compiled
    # ``np.add.at``: ``kernels.records.add_evictions``)

    def counts(self) -> dict[str, int]:
        st = self.status[: self.n]
        return {
            "future": int(np.count_nonzero(st == ST_FUTURE)),
            "pending": int(np.count_nonzero(st == ST_PENDING)),
            "running": int(np.count_nonzero(st == ST_RUNNING)),
            "ended": int(np.count_nonzero(st == ST_ENDED)),
            "scaled_down": int(np.count_nonzero(self.end_reason[: self.n] == END_SCALED_DOWN)),
        }

    def nbytes(self) -> int:
        return int(sum(getattr(self, name).nbytes for name, _, _ in _COLUMNS))

    def frame(self) -> Any:
        """The ``SimResults.tasks`` table: one row per submitted task instance."""
        import pandas as pd  # lazy: only results need pandas

        ids = np.flatnonzero(self.status[: self.n] != ST_FUTURE).astype(np.int32)
        t = self.workload.tasks
        svc_table = self.workload.services
        mine = ids < self.n_workload
        wid = ids[mine]
        xs = self.x_service[ids[~mine] - self.n_workload]

        def col(workload_col: Any, created: Any, dtype: Any) -> Any:
            out = np.empty(ids.shape[0], dtype=dtype)
            out[mine] = workload_col[wid]
            out[~mine] = created
            return out

        submit = self.submit_s(ids)
        start = self.start[ids]
        status_names = np.array(["future", "pending", "running", "ended"])
        return pd.DataFrame(
            {
                "task_id": ids,
                "job": col(t.job, svc_table.job[xs], np.int32),
                "task_index": col(t.task_index, -1, np.int32),
                "service": col(t.service, xs, np.int32),
                "priority": col(t.priority, svc_table.priority[xs], np.int8),
                "submit_s": submit,
                "start_s": start,
                "end_s": self.end[ids],
                "end_reason": pd.Categorical(
                    np.asarray(END_NAMES)[self.end_reason[ids]], categories=list(END_NAMES)
                ),
                "status": pd.Categorical(
                    status_names[self.status[ids]], categories=list(status_names[1:])
                ),
                "sched_delay_s": start - submit,
                "evictions": self.evictions[ids],
                "work_lost_s": self.lost[ids],
            }
        )
