"""numba kernels of per-task bookkeeping, each one pass where NumPy took a dozen gathers and
scatters a tick: the queue rows of arriving workload tasks, the records of finished tasks, and
the eviction counts of tasks thrown back into the queue.

Kept apart from ``queue.py``, which ``layout.py`` loads (these read ``layout``'s row numbers;
``jit.drop_stale_cache`` recompiles them when that file changes).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from autoinfra.sim import layout as L
from autoinfra.sim.kernels.jit import drop_stale_cache

drop_stale_cache(__file__, L)

Arr = np.ndarray


@njit(cache=True)
def workload_rows(ids: Arr, qf: Arr, qi: Arr, duration: Arr, cpu_req: Arr, mem_req: Arr,
                  cpu_ratio: Arr, mem_ratio: Arr, prio: Arr, prof: Arr, service: Arr) -> None:
    """The queue rows of workload tasks ``ids`` from the workload's columns: requests, work,
    base CPU and memory use (request x usage ratio, in the columns' own precision, as NumPy
    multiplies them), priority, usage profile and service. One pass instead of a dozen gathers
    (the cell-day enqueues every tick)."""
    for j in range(ids.shape[0]):
        t = ids[j]
        cpu = cpu_req[t]
        mem = mem_req[t]
        qf[j, L.Q_CPU_REQ] = cpu
        qf[j, L.Q_MEM_REQ] = mem
        qf[j, L.Q_WORK] = duration[t]
        qf[j, L.Q_CPU_BASE] = cpu * cpu_ratio[t]
        qf[j, L.Q_MEM_USE] = mem * mem_ratio[t]
        qi[j, L.Q_PRIO] = prio[t]
        qi[j, L.Q_PROF] = prof[t]
        qi[j, L.Q_SVC] = service[t]


@njit(cache=True)
def add_evictions(ids: Arr, lost: Arr, evictions: Arr, lost_total: Arr) -> None:
    """One eviction and its work lost for each of ``ids``, in order (``np.add.at``'s sums)."""
    for j in range(ids.shape[0]):
        evictions[ids[j]] += 1
        lost_total[ids[j]] += lost[j]


@njit(cache=True)
def finish_records(ids: Arr, end_s: Arr, status: Arr, slot: Arr, end: Arr, end_reason: Arr,
                   workload_end: Arr, n_workload: int) -> None:
    """The records of tasks that finished (``complete``'s ids and ends): ended, no slot, the
    end time, and the reason the workload gives (TaskEnd + 1; a created replica: finish). What
    ``TaskRecords.finish(ids, end_s, None)`` does, in one pass instead of a dozen NumPy ops."""
    for j in range(ids.shape[0]):
        t = ids[j]
        status[t] = L.ST_ENDED
        slot[t] = -1
        end[t] = end_s[j]
        end_reason[t] = workload_end[t] + 1 if t < n_workload else L.END_FINISH
