"""numba kernels that move tasks in and out of slots: placement (with preemption), completion,
eviction and memory-pressure kills, and keeping per-machine and per-service sums in step.

Placement is sequential by nature (each placement changes what the next task sees), so it is one
compiled loop over the pending queue rather than vectorised NumPy. Per-machine sums (allocated
requests, CPU demand, memory used, allocation per priority for preemption) are updated
incrementally on every placement and removal, and rebuilt from the slots when the usage shape
steps (``recompute_sums``), which also cancels floating-point drift.

Feasibility and scoring follow Borg (Verma et al., EuroSys 2015, section 3.2): a task fits a
machine when its CPU and memory requests fit the unallocated capacity; machines are scanned in a
random order from a random start until ``candidates`` feasible ones are found, and the best-scoring
of those is chosen, instead of scoring the whole cell. Quick rejection (no schedulable machine has
that much free) and a small list of requests that already failed this round keep a full queue
from costing a full scan per task.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from autoinfra.sim.layout import (
    M_CHANGED,
    M_CPU_ALLOC,
    M_CPU_CAP,
    M_CPU_DEM,
    M_HEAD,
    M_MEM_ALLOC,
    M_MEM_CAP,
    M_MEM_USE,
    M_NTASKS,
    M_PROG,
    M_SCHED,
    M_STATE,
    M_VCLOCK,
    N_PRIO,
    Q_CPU_BASE,
    Q_CPU_REQ,
    Q_ID,
    Q_MEM_REQ,
    Q_MEM_USE,
    Q_PRIO,
    Q_PROF,
    Q_SVC,
    Q_TRIED,
    Q_WORK,
    S_CPU_BASE,
    S_CPU_DEM,
    S_CPU_REQ,
    S_GEN,
    S_MACH,
    S_MEM_REQ,
    S_MEM_USE,
    S_NEXT,
    S_PREV,
    S_PRIO,
    S_PROF,
    S_SNEXT,
    S_SPREV,
    S_SVC,
    S_TASK,
    S_WORK,
    V_DEMAND,
    V_DIRTY,
    V_HEAD,
    V_LIMIT,
    V_PER,
    V_PLACED,
)

Arr = np.ndarray  # numba kernels take plain arrays; shapes are in layout.py

EPS = 1e-9
_FAIL_MEMORY = 32  # requests remembered as unplaceable within one placement round


@njit(cache=True)
def _rand(rng: Arr) -> np.int64:
    # xorshift64*: state lives in the simulator's own array, so forks and runs stay independent
    x = rng[0]
    x ^= x >> np.uint64(12)
    x ^= x << np.uint64(25)
    x ^= x >> np.uint64(27)
    rng[0] = x
    return np.int64((x * np.uint64(2685821657736338717)) >> np.uint64(33))


@njit(cache=True)
def heap_push(ht: Arr, hs: Arr, hn: Arr, t: float, slot: int, gen: int) -> None:
    i = hn[0]
    hn[0] = i + 1
    while i > 0:
        p = (i - 1) >> 1
        if ht[p] <= t:
            break
        ht[i] = ht[p]
        hs[0, i] = hs[0, p]
        hs[1, i] = hs[1, p]
        i = p
    ht[i] = t
    hs[0, i] = slot
    hs[1, i] = gen


@njit(cache=True)
def _heap_pop(ht: Arr, hs: Arr, hn: Arr) -> None:
    n = hn[0] - 1
    hn[0] = n
    if n == 0:
        return
    t = ht[n]
    s0 = hs[0, n]
    s1 = hs[1, n]
    i = 0
    while True:
        c = 2 * i + 1
        if c >= n:
            break
        if c + 1 < n and ht[c + 1] < ht[c]:
            c += 1
        if ht[c] >= t:
            break
        ht[i] = ht[c]
        hs[0, i] = hs[0, c]
        hs[1, i] = hs[1, c]
        i = c
    ht[i] = t
    hs[0, i] = s0
    hs[1, i] = s1


@njit(cache=True)
def work_done(slot: int, mf: Arr, sv: Arr, sf: Arr, si: Arr) -> float:
    """Progress of the slot's current run (seconds at full speed); 0 for services (no work)."""
    w = sf[S_WORK, slot]
    if not np.isfinite(w):
        return 0.0
    d = mf[M_VCLOCK, si[S_MACH, slot]] - sv[slot]
    return min(max(d, 0.0), w)


@njit(cache=True)
def remove_slot(
    slot: int, mf: Arr, mi: Arr, mprio: Arr, sf: Arr, si: Arr, vi: Arr, free: Arr, nfree: Arr
) -> None:
    m = si[S_MACH, slot]
    p = si[S_PRIO, slot]
    creq = sf[S_CPU_REQ, slot]
    mreq = sf[S_MEM_REQ, slot]
    mf[M_CPU_ALLOC, m] -= creq
    mf[M_MEM_ALLOC, m] -= mreq
    mprio[m, 0, p] -= creq
    mprio[m, 1, p] -= mreq
    mf[M_CPU_DEM, m] -= sf[S_CPU_DEM, slot]
    mf[M_MEM_USE, m] -= sf[S_MEM_USE, slot]
    mi[M_NTASKS, m] -= 1
    mi[M_CHANGED, m] = 1
    nx = si[S_NEXT, slot]
    pv = si[S_PREV, slot]
    if pv >= 0:
        si[S_NEXT, pv] = nx
    else:
        mi[M_HEAD, m] = nx
    if nx >= 0:
        si[S_PREV, nx] = pv
    s = si[S_SVC, slot]
    if s >= 0:
        nx = si[S_SNEXT, slot]
        pv = si[S_SPREV, slot]
        if pv >= 0:
            si[S_SNEXT, pv] = nx
        else:
            vi[V_HEAD, s] = nx
        if nx >= 0:
            si[S_SPREV, nx] = pv
        vi[V_PLACED, s] -= 1
        vi[V_DIRTY, s] = 1
    si[S_TASK, slot] = -1
    si[S_GEN, slot] += 1
    free[nfree[0]] = slot
    nfree[0] += 1


@njit(cache=True)
def _evict_victims(
    m: int,
    need_c: float,
    need_m: float,
    below_prio: int,
    by_mem: bool,
    mf: Arr,
    mi: Arr,
    mprio: Arr,
    sv: Arr,
    sf: Arr,
    si: Arr,
    vi: Arr,
    free: Arr,
    nfree: Arr,
    out_task: Arr,
    out_lost: Arr,
    nout: Arr,
) -> None:
    """Evict tasks of priority < below_prio from machine m, lowest priority first and, within a
    priority, the most recently started first (least work lost), until the free CPU and memory
    reach need_c/need_m (by_mem: until memory *used* fits capacity instead)."""
    k = mi[M_NTASKS, m]
    cand = np.empty(k, dtype=np.int64)
    keys = np.empty(k, dtype=np.float64)
    n = 0
    slot = mi[M_HEAD, m]
    while slot >= 0:
        if si[S_PRIO, slot] < below_prio:
            cand[n] = slot
            keys[n] = si[S_PRIO, slot] * 1e12 - sv[slot]
            n += 1
        slot = si[S_NEXT, slot]
    order = np.argsort(keys[:n])
    for j in range(n):
        if by_mem:
            if mf[M_MEM_USE, m] <= mf[M_MEM_CAP, m] + EPS:
                break
        elif (
            mf[M_CPU_CAP, m] - mf[M_CPU_ALLOC, m] >= need_c - EPS
            and mf[M_MEM_CAP, m] - mf[M_MEM_ALLOC, m] >= need_m - EPS
        ):
            break
        v = cand[order[j]]
        out_task[nout[0]] = si[S_TASK, v]
        out_lost[nout[0]] = work_done(v, mf, sv, sf, si)
        nout[0] += 1
        remove_slot(v, mf, mi, mprio, sf, si, vi, free, nfree)


@njit(cache=True)
def _find(
    c: float,
    mm: float,
    prio: int,
    preempting: bool,
    order: Arr,
    cand: Arr,
    ncand: int,
    use_cand: bool,
    mf: Arr,
    mi: Arr,
    mprio: Arr,
    rng: Arr,
    best_fit: bool,
    candidates: int,
) -> int:
    """A machine for a (c, mm) request, or -1. Scans ``cand[:ncand]`` (machines whose capacity
    grew since the task last failed) or every machine in the random ``order``; with
    ``preempting``, counts lower-priority allocations as free."""
    n = ncand if use_cand else mf.shape[1]
    if n == 0:
        return -1
    start = 0 if candidates == 0 else _rand(rng) % n
    best = -1
    best_score = np.inf
    found = 0
    for k in range(n):
        idx = start + k
        if idx >= n:
            idx -= n
        if use_cand:
            m = cand[idx]
        elif candidates == 0:
            m = idx
        else:
            m = order[idx]
        if mi[M_SCHED, m] == 0:
            continue
        free_c = mf[M_CPU_CAP, m] - mf[M_CPU_ALLOC, m] - c
        free_m = mf[M_MEM_CAP, m] - mf[M_MEM_ALLOC, m] - mm
        if preempting:
            low_c = 0.0
            low_m = 0.0
            for q in range(prio):
                low_c += mprio[m, 0, q]
                low_m += mprio[m, 1, q]
            if free_c + low_c < -EPS or free_m + low_m < -EPS:
                continue
            # score: how much lower-priority work must go (less is better)
            score = max(-free_c, 0.0) / max(mf[M_CPU_CAP, m], EPS) + max(-free_m, 0.0) / max(
                mf[M_MEM_CAP, m], EPS
            )
        else:
            if free_c < -EPS or free_m < -EPS:
                continue
            # best fit: the least free share left after placing
            score = free_c / max(mf[M_CPU_CAP, m], EPS) + free_m / max(mf[M_MEM_CAP, m], EPS)
        if not best_fit:
            return m
        if score < best_score:
            best = m
            best_score = score
        found += 1
        if candidates > 0 and found >= candidates:
            break
    return best


@njit(cache=True)
def _preemptible_max(mf: Arr, mi: Arr, mprio: Arr, out_c: Arr, out_m: Arr) -> None:
    """Per priority p, the most CPU and memory any schedulable machine has free once its tasks
    of priority < p are counted as free (an upper bound for quick rejection)."""
    out_c[:] = -1.0
    out_m[:] = -1.0
    for m in range(mf.shape[1]):
        if mi[M_SCHED, m] == 0:
            continue
        fc = mf[M_CPU_CAP, m] - mf[M_CPU_ALLOC, m]
        fm = mf[M_MEM_CAP, m] - mf[M_MEM_ALLOC, m]
        for p in range(N_PRIO):
            out_c[p] = max(out_c[p], fc)
            out_m[p] = max(out_m[p], fm)
            fc += mprio[m, 0, p]
            fm += mprio[m, 1, p]


@njit(cache=True)
def place(
    qf: Arr,
    qi: Arr,
    order: Arr,
    mf: Arr,
    mi: Arr,
    mprio: Arr,
    sv: Arr,
    sf: Arr,
    si: Arr,
    vf: Arr,
    vi: Arr,
    free: Arr,
    nfree: Arr,
    ht: Arr,
    hs: Arr,
    hn: Arr,
    rng: Arr,
    shape_col: Arr,
    now: float,
    best_fit: bool,
    candidates: int,
    preempt: bool,
    out_slot: Arr,
    vic_task: Arr,
    vic_lost: Arr,
    nvic: Arr,
) -> int:
    """Place the pending queue (already in priority, submit order). Writes the slot of each entry
    to out_slot (-1: still pending) and the tasks preempted to vic_*; returns the count placed.

    A task that found no machine in an earlier round is retried only on machines whose free
    capacity may have grown since (a task left them, or they became schedulable): placements
    only shrink free capacity, and preemptible capacity (free plus lower-priority allocations)
    only grows when a task leaves, so the other machines cannot fit it now either.
    """
    n = mf.shape[1]
    nq = qf.shape[1]
    changed = np.empty(n, dtype=np.int64)
    nchg = 0
    max_c = -1.0
    max_m = -1.0
    chg_c = -1.0
    chg_m = -1.0
    for m in range(n):
        grew = mi[M_CHANGED, m] != 0
        mi[M_CHANGED, m] = 0
        if mi[M_SCHED, m] == 0:
            continue
        fc = mf[M_CPU_CAP, m] - mf[M_CPU_ALLOC, m]
        fm = mf[M_MEM_CAP, m] - mf[M_MEM_ALLOC, m]
        max_c = max(max_c, fc)
        max_m = max(max_m, fm)
        if grew:
            changed[nchg] = m
            nchg += 1
            chg_c = max(chg_c, fc)
            chg_m = max(chg_m, fm)
    pre_c = np.empty(N_PRIO, dtype=np.float64)
    pre_m = np.empty(N_PRIO, dtype=np.float64)
    pre_ready = False
    fail_c = np.empty(_FAIL_MEMORY, dtype=np.float64)
    fail_m = np.empty(_FAIL_MEMORY, dtype=np.float64)
    nfail = 0
    placed = 0
    for i in range(nq):
        out_slot[i] = -1
        c = qf[Q_CPU_REQ, i]
        mm = qf[Q_MEM_REQ, i]
        p = qi[Q_PRIO, i]
        tried = qi[Q_TRIED, i] != 0
        dominated = False
        for k in range(min(nfail, _FAIL_MEMORY)):
            if c >= fail_c[k] and mm >= fail_m[k]:
                dominated = True
                break
        if dominated:
            qi[Q_TRIED, i] = 1
            continue
        m = -1
        lim_c = chg_c if tried else max_c
        lim_m = chg_m if tried else max_m
        if c <= lim_c + EPS and mm <= lim_m + EPS:
            m = _find(c, mm, p, False, order, changed, nchg, tried, mf, mi, mprio, rng,
                      best_fit, candidates)  # fmt: skip
        if m < 0 and preempt and p > 0:
            if not tried and not pre_ready:
                _preemptible_max(mf, mi, mprio, pre_c, pre_m)
                pre_ready = True
            if tried or (c <= pre_c[p] + EPS and mm <= pre_m[p] + EPS):
                m = _find(c, mm, p, True, order, changed, nchg, tried, mf, mi, mprio, rng,
                          best_fit, candidates)  # fmt: skip
            if m >= 0:
                _evict_victims(m, c, mm, p, False, mf, mi, mprio, sv, sf, si, vi, free, nfree,
                               vic_task, vic_lost, nvic)  # fmt: skip
        if m < 0:
            # later entries have the same or lower priority, so a bigger request fails too
            fail_c[nfail % _FAIL_MEMORY] = c
            fail_m[nfail % _FAIL_MEMORY] = mm
            nfail += 1
            qi[Q_TRIED, i] = 1
            continue
        nfree[0] -= 1
        slot = free[nfree[0]]
        s = qi[Q_SVC, i]
        prof = qi[Q_PROF, i]
        si[S_TASK, slot] = qi[Q_ID, i]
        si[S_MACH, slot] = m
        si[S_PRIO, slot] = p
        si[S_SVC, slot] = s
        si[S_PROF, slot] = prof
        sf[S_WORK, slot] = qf[Q_WORK, i]
        sf[S_CPU_BASE, slot] = qf[Q_CPU_BASE, i]
        sf[S_MEM_USE, slot] = qf[Q_MEM_USE, i]
        sf[S_CPU_REQ, slot] = c
        sf[S_MEM_REQ, slot] = mm
        dem = vf[V_PER, s] if s >= 0 else qf[Q_CPU_BASE, i] * shape_col[prof]
        sf[S_CPU_DEM, slot] = dem
        sv[slot] = mf[M_VCLOCK, m]
        mf[M_CPU_ALLOC, m] += c
        mf[M_MEM_ALLOC, m] += mm
        mprio[m, 0, p] += c
        mprio[m, 1, p] += mm
        mf[M_CPU_DEM, m] += sf[S_CPU_DEM, slot]
        mf[M_MEM_USE, m] += qf[Q_MEM_USE, i]
        mi[M_NTASKS, m] += 1
        head = mi[M_HEAD, m]
        si[S_PREV, slot] = -1
        si[S_NEXT, slot] = head
        if head >= 0:
            si[S_PREV, head] = slot
        mi[M_HEAD, m] = slot
        if s >= 0:
            head = vi[V_HEAD, s]
            si[S_SPREV, slot] = -1
            si[S_SNEXT, slot] = head
            if head >= 0:
                si[S_SPREV, head] = slot
            vi[V_HEAD, s] = slot
            vi[V_PLACED, s] += 1
            vi[V_DIRTY, s] = 1
        else:
            si[S_SPREV, slot] = -1
            si[S_SNEXT, slot] = -1
        if np.isfinite(sf[S_WORK, slot]):
            heap_push(ht, hs, hn, now + sf[S_WORK, slot], slot, si[S_GEN, slot])
        out_slot[i] = slot
        placed += 1
    return placed


@njit(cache=True)
def complete(
    now: float,
    dt: float,
    ht: Arr,
    hs: Arr,
    hn: Arr,
    mf: Arr,
    mi: Arr,
    mprio: Arr,
    sv: Arr,
    sf: Arr,
    si: Arr,
    vi: Arr,
    free: Arr,
    nfree: Arr,
    out_task: Arr,
    out_end: Arr,
) -> int:
    """Finish the tasks whose work is done by ``now``; returns how many (ids and end times out)."""
    cnt = 0
    while hn[0] > 0 and ht[0] <= now + EPS:
        slot = hs[0, 0]
        gen = hs[1, 0]
        _heap_pop(ht, hs, hn)
        if si[S_TASK, slot] < 0 or si[S_GEN, slot] != gen:
            continue  # stale: the task left this slot (evicted) before finishing
        m = si[S_MACH, slot]
        rem = sv[slot] + sf[S_WORK, slot] - mf[M_VCLOCK, m]
        if rem > 1e-6:
            heap_push(ht, hs, hn, now + rem, slot, gen)
            continue
        speed = mf[M_PROG, m]
        end = now + rem / speed if speed > 0 else now  # back to when the work ran out
        out_task[cnt] = si[S_TASK, slot]
        out_end[cnt] = max(end, now - dt)
        cnt += 1
        remove_slot(slot, mf, mi, mprio, sf, si, vi, free, nfree)
    return cnt


@njit(cache=True)
def evict_machine(
    m: int,
    mf: Arr,
    mi: Arr,
    mprio: Arr,
    sv: Arr,
    sf: Arr,
    si: Arr,
    vi: Arr,
    free: Arr,
    nfree: Arr,
    out_task: Arr,
    out_lost: Arr,
) -> int:
    """Remove every task on machine m; returns how many (ids and work lost out)."""
    cnt = 0
    slot = mi[M_HEAD, m]
    while slot >= 0:
        nxt = si[S_NEXT, slot]
        out_task[cnt] = si[S_TASK, slot]
        out_lost[cnt] = work_done(slot, mf, sv, sf, si)
        cnt += 1
        remove_slot(slot, mf, mi, mprio, sf, si, vi, free, nfree)
        slot = nxt
    return cnt


@njit(cache=True)
def remove_slots(
    slots: Arr,
    mf: Arr,
    mi: Arr,
    mprio: Arr,
    sv: Arr,
    sf: Arr,
    si: Arr,
    vi: Arr,
    free: Arr,
    nfree: Arr,
    out_lost: Arr,
) -> None:
    for j in range(slots.shape[0]):
        out_lost[j] = work_done(slots[j], mf, sv, sf, si)
        remove_slot(slots[j], mf, mi, mprio, sf, si, vi, free, nfree)


@njit(cache=True)
def relieve_memory(
    running_states: Arr,
    mf: Arr,
    mi: Arr,
    mprio: Arr,
    sv: Arr,
    sf: Arr,
    si: Arr,
    vi: Arr,
    free: Arr,
    nfree: Arr,
    out_task: Arr,
    out_lost: Arr,
    nout: Arr,
) -> None:
    """Where memory used exceeds capacity, kill lowest-priority tasks first until it fits."""
    for m in range(mf.shape[1]):
        if mf[M_MEM_USE, m] <= mf[M_MEM_CAP, m] + EPS or running_states[mi[M_STATE, m]] == 0:
            continue
        _evict_victims(
            m,
            0.0,
            0.0,
            N_PRIO,
            True,
            mf,
            mi,
            mprio,
            sv,
            sf,
            si,
            vi,
            free,
            nfree,
            out_task,
            out_lost,
            nout,
        )
