"""numba kernel of ``sim.probe``: one service's figures and the cluster's powered totals in one
pass over machines and the pending queue, with the monitoring rules of ``kernels.observe``.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from autoinfra.sim import layout as L
from autoinfra.sim.kernels.jit import drop_stale_cache

drop_stale_cache(__file__, L)

_BOOTING, _ON, _DRAINING, _FAILED = 2, 3, 4, 5  # MachineState values (numba bakes them in)


@njit(cache=True)
def read_focal(mf: np.ndarray, mi: np.ndarray, vf: np.ndarray, vi: np.ndarray, qf: np.ndarray,
          s: int, out: np.ndarray) -> None:  # fmt: skip
    cpu_used = cpu_cap = mem_used = mem_cap = 0.0
    for m in range(mf.shape[1]):
        st = mi[L.M_STATE, m]
        failed = st == _FAILED
        shown = mi[L.M_PREV, m] if failed else st
        if shown < _BOOTING or shown > _DRAINING:
            continue
        cpu_cap += float(np.float32(mf[L.M_CPU_CAP, m]))
        mem_cap += float(np.float32(mf[L.M_MEM_CAP, m]))
        if failed:
            cpu_used += float(np.float32(mf[L.M_FZ_CPU, m]))
            mem_used += float(np.float32(mf[L.M_FZ_MEM, m]))
        else:
            cpu_used += float(np.float32(mf[L.M_CPU_USED, m]))
            if st in (_ON, _DRAINING):
                mem_used += float(np.float32(mf[L.M_MEM_USE, m]))
    pending = 0.0
    for i in range(qf.shape[0]):
        pending += qf[i, L.Q_CPU_REQ]
    out[0] = cpu_used
    out[1] = cpu_cap
    out[2] = mem_used
    out[3] = mem_cap
    out[4] = pending
    out[5] = np.float32(vf[L.V_CPU_REQ, s])
    out[6] = np.float32(vf[L.V_SERVED, s])
    out[7] = np.float32(vf[L.V_DEMAND, s])
    out[8] = vi[L.V_DESIRED, s]
    out[9] = vi[L.V_PLACED, s]
    out[10] = vi[L.V_MIN, s]
    out[11] = vi[L.V_MAX, s]
