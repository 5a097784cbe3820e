"""numba kernel that builds what an ``Observation`` carries in one pass over machines and
services: a Gymnasium environment observes a 20-machine cluster thousands of times a second, and
two dozen small NumPy operations would cost more than the simulation step itself.

What monitoring sees is described in ``autoinfra.sim.observe``.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from autoinfra.sim import layout as L
from autoinfra.sim.kernels.jit import drop_stale_cache

drop_stale_cache(__file__, L)

Arr = np.ndarray
_ON, _DRAINING, _FAILED = 3, 4, 5  # MachineState values


@njit(cache=True)
def machine_view(now: float, mf: Arr, mi: Arr) -> tuple[Arr, Arr, Arr, Arr, Arr]:
    """(state int8, schedulable bool, per-machine float32 rows, tasks int32, platform int32);
    the float rows are cpu_capacity, mem_capacity, cpu_requested, mem_requested, cpu_used,
    mem_used, cpu_throttled_share, egress_mbps, heartbeat_age_s."""
    n = mf.shape[1]
    state = np.empty(n, dtype=np.int8)
    sched = np.empty(n, dtype=np.bool_)
    f = np.empty((9, n), dtype=np.float32)
    tasks = np.empty(n, dtype=np.int32)
    platform = np.empty(n, dtype=np.int32)
    for m in range(n):
        st = mi[L.M_STATE, m]
        failed = st == _FAILED
        shown = mi[L.M_PREV, m] if failed else st  # monitoring never reports FAILED
        state[m] = shown
        sched[m] = shown == _ON and mi[L.M_CORDON, m] == 0 and mi[L.M_ISOLATED, m] == 0
        f[0, m] = mf[L.M_CPU_CAP, m]
        f[1, m] = mf[L.M_MEM_CAP, m]
        f[2, m] = mf[L.M_CPU_ALLOC, m]
        f[3, m] = mf[L.M_MEM_ALLOC, m]
        if failed:  # the last report before the failure
            f[4, m] = mf[L.M_FZ_CPU, m]
            f[5, m] = mf[L.M_FZ_MEM, m]
            f[6, m] = mf[L.M_FZ_THROTTLE, m]
            f[7, m] = mf[L.M_FZ_EGRESS, m]
        else:
            running = st in (_ON, _DRAINING)
            f[4, m] = mf[L.M_CPU_USED, m]
            f[5, m] = mf[L.M_MEM_USE, m] if running else 0.0
            f[6, m] = mf[L.M_THROTTLE, m]
            f[7, m] = mf[L.M_EGRESS, m]
        f[8, m] = max(now - mf[L.M_HEARTBEAT, m], 0.0)
        tasks[m] = mi[L.M_NTASKS, m]
        platform[m] = mi[L.M_PLATFORM, m]
    return state, sched, f, tasks, platform


@njit(cache=True)
def service_view(vf: Arr, vi: Arr, lf: Arr, qf: Arr) -> tuple[Arr, Arr, Arr, float, float]:
    """(service float32 rows: cpu_request, cpu_used, cpu_demand; service int32 rows: desired,
    running, min, max, violating; link utilisation float32; pending CPU; pending memory)."""
    ns = vf.shape[1]
    sf = np.empty((3, ns), dtype=np.float32)
    si = np.empty((5, ns), dtype=np.int32)
    for s in range(ns):
        sf[0, s] = vf[L.V_CPU_REQ, s]
        sf[1, s] = vf[L.V_SERVED, s]
        sf[2, s] = vf[L.V_DEMAND, s]
        si[0, s] = vi[L.V_DESIRED, s]
        si[1, s] = vi[L.V_PLACED, s]
        si[2, s] = vi[L.V_MIN, s]
        si[3, s] = vi[L.V_MAX, s]
        si[4, s] = vi[L.V_VIOLATING, s]
    links = np.empty(lf.shape[1], dtype=np.float32)
    for k in range(lf.shape[1]):
        links[k] = lf[L.L_UTIL, k]
    pend_c = 0.0
    pend_m = 0.0
    for i in range(qf.shape[0]):
        pend_c += qf[i, L.Q_CPU_REQ]
        pend_m += qf[i, L.Q_MEM_REQ]
    return sf, si, links, pend_c, pend_m
