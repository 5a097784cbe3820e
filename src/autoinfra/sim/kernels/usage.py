"""numba kernels for usage: re-spreading service demand over replicas, and rebuilding every
per-machine sum when the usage shape steps.

Usage changes in two ways only: the workload's shape moves to its next step (every
``UsageModel.step_s``; ``recompute_sums`` sets every running task's demand once and rebuilds the
machine sums from the slots, which also cancels the drift of incremental float updates), and a
service's replica count changes (``respread_services`` walks only that service's replicas).
Nothing recomputes usage per task per tick.

Reservations (Verma et al., EuroSys 2015, section 5.5) move at the same steps
(``update_reservations``): a slot's reservation starts at its request; once the slot has run
``delay_s`` (Borg: 300 s, for start-up transients) it moves towards usage x (1 + margin), capped at
the request: up at once when usage rose above it (Borg increases it "rapidly"), down by the share
``1 - keep`` of the gap per update (Borg: "decays slowly").
"""

from __future__ import annotations

import numpy as np
from numba import njit

from autoinfra.sim import layout as L
from autoinfra.sim.kernels.jit import drop_stale_cache

drop_stale_cache(__file__, L)

Arr = np.ndarray


@njit(cache=True)
def respread_services(vf: Arr, vi: Arr, mf: Arr, sf: Arr, si: Arr) -> None:
    """Share each changed service's demand over its placed replicas, capped at their limit."""
    for s in range(vi.shape[1]):
        if vi[L.V_DIRTY, s] == 0:
            continue
        vi[L.V_DIRTY, s] = 0
        k = vi[L.V_PLACED, s]
        per = min(vf[L.V_DEMAND, s] / k, vf[L.V_LIMIT, s]) if k > 0 else 0.0
        vf[L.V_PER, s] = per
        slot = vi[L.V_HEAD, s]
        while slot >= 0:
            m = si[L.S_MACH, slot]
            mf[L.M_CPU_DEM, m] += per - sf[L.S_CPU_DEM, slot]
            sf[L.S_CPU_DEM, slot] = per
            slot = si[L.S_SNEXT, slot]


@njit(cache=True)
def recompute_sums(shape_col: Arr, vf: Arr, mf: Arr, mi: Arr, mprio: Arr, sf: Arr,
                   si: Arr) -> None:
    """Set every slot's CPU demand for the current usage step and rebuild the machine sums."""
    mf[L.M_CPU_ALLOC, :] = 0.0
    mf[L.M_MEM_ALLOC, :] = 0.0
    mf[L.M_CPU_DEM, :] = 0.0
    mf[L.M_MEM_USE, :] = 0.0
    mf[L.M_CPU_RSV, :] = 0.0
    mf[L.M_MEM_RSV, :] = 0.0
    mprio[:, :, :] = 0.0
    mi[L.M_NTASKS, :] = 0
    for slot in range(si.shape[1]):
        if si[L.S_TASK, slot] < 0:
            continue
        m = si[L.S_MACH, slot]
        s = si[L.S_SVC, slot]
        dem = vf[L.V_PER, s] if s >= 0 else sf[L.S_CPU_BASE, slot] * shape_col[si[L.S_PROF, slot]]
        sf[L.S_CPU_DEM, slot] = dem
        p = si[L.S_PRIO, slot]
        mf[L.M_CPU_ALLOC, m] += sf[L.S_CPU_REQ, slot]
        mf[L.M_MEM_ALLOC, m] += sf[L.S_MEM_REQ, slot]
        mprio[m, 0, p] += sf[L.S_CPU_REQ, slot]
        mprio[m, 1, p] += sf[L.S_MEM_REQ, slot]
        mf[L.M_CPU_RSV, m] += sf[L.S_CPU_RSV, slot]
        mf[L.M_MEM_RSV, m] += sf[L.S_MEM_RSV, slot]
        mprio[m, 2, p] += sf[L.S_CPU_RSV, slot]
        mprio[m, 3, p] += sf[L.S_MEM_RSV, slot]
        mf[L.M_CPU_DEM, m] += sf[L.S_CPU_DEM, slot]
        mf[L.M_MEM_USE, m] += sf[L.S_MEM_USE, slot]
        mi[L.M_NTASKS, m] += 1


@njit(cache=True)
def _toward(rsv: float, use: float, req: float, margin: float, keep: float) -> float:
    target = min(use * (1.0 + margin), req)
    if target >= rsv:
        return target
    return target + (rsv - target) * keep


@njit(cache=True)
def update_reservations(now: float, mf: Arr, mi: Arr, mprio: Arr, sf: Arr, si: Arr,
                        margin: float, delay_s: float, keep: float, memory: bool) -> None:
    """Move every slot placed at least ``delay_s`` ago towards its usage plus ``margin`` (CPU,
    and memory when ``memory``), and keep the machine sums in step; a machine whose reservations
    fell is marked for placement."""
    for slot in range(si.shape[1]):
        if si[L.S_TASK, slot] < 0 or now - sf[L.S_PLACED, slot] < delay_s:
            continue
        m = si[L.S_MACH, slot]
        p = si[L.S_PRIO, slot]
        old_c = sf[L.S_CPU_RSV, slot]
        old_m = sf[L.S_MEM_RSV, slot]
        new_c = _toward(old_c, sf[L.S_CPU_DEM, slot], sf[L.S_CPU_REQ, slot], margin, keep)
        new_m = old_m
        if memory:
            new_m = _toward(old_m, sf[L.S_MEM_USE, slot], sf[L.S_MEM_REQ, slot], margin, keep)
        sf[L.S_CPU_RSV, slot] = new_c
        sf[L.S_MEM_RSV, slot] = new_m
        # the float32 slot values, re-read, so the sums subtract exactly what they added
        dc = np.float64(sf[L.S_CPU_RSV, slot]) - old_c
        dm = np.float64(sf[L.S_MEM_RSV, slot]) - old_m
        mf[L.M_CPU_RSV, m] += dc
        mf[L.M_MEM_RSV, m] += dm
        mprio[m, 2, p] += dc
        mprio[m, 3, p] += dm
        if dc < 0.0 or dm < 0.0:
            mi[L.M_CHANGED, m] = 1
