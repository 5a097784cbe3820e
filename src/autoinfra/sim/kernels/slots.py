"""numba kernels that move tasks in and out of slots: placement (with preemption), completion,
eviction and memory-pressure kills, keeping the per-machine and per-service sums in step.

Placement is sequential by nature (each placement changes what the next task sees), so it is one
compiled loop over the pending queue. Per-machine sums (allocated requests, CPU demand, memory
used, allocation per priority for preemption) are updated on every placement and removal.

Feasibility and scoring follow Borg (Verma et al., "Large-scale cluster management at Google
with Borg", EuroSys 2015, section 3.2): a task fits a machine when its CPU and memory requests fit
the unallocated capacity; machines are scanned until ``candidates`` feasible ones are found and
the best-scoring of those wins, rather than scoring the whole cell. Unlike Borg's random order,
the scan goes in slot order from a random start (a new start per task, so load still spreads),
which keeps it in cache. A task that fits nowhere may preempt: it evicts tasks of lower priority
from one machine, lowest priority first; as in Borg (section 2.5), production tasks (priority
9-11 in the 2011 trace) do not preempt one another.

Reservations (Borg, section 5.5): every slot carries a reservation, set to its request when it is
placed and moved towards its usage plus a margin by ``kernels.usage.update_reservations``. With
``reclaim_below`` > 0, a task of priority below it is placed against the reservations of what is
on a machine (it may use resources reclaimed from tasks that request more than they use); tasks
at or above it, production, are placed against requests and never rely on reclaimed resources.
The shortcuts below are kept per mode (``fail`` has one set per mode).

A full cell keeps thousands of tasks pending, so three exact shortcuts keep a round cheap:
- requests known to fit nowhere are remembered across rounds (``fail``: a small set of minimal
  (cpu, mem, preemption rights) points); a task needing at least that much, with no more
  rights, is rejected at once. An entry is dropped once a machine whose capacity grew could fit it;
- a task that found no machine before is retried only on machines whose free capacity may have
  grown since (``M_CHANGED``: a task left, or the machine became schedulable), because
  placements only shrink free capacity and preemptible capacity only grows when a task leaves;
- no schedulable machine has that much free at all (a maximum computed once per round).

Compiled code from ``layout.py`` and ``search.py`` is baked in; ``jit.drop_stale_cache``
recompiles this module's kernels when either changes.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from autoinfra.sim import layout as L
from autoinfra.sim.kernels import search as ksr
from autoinfra.sim.kernels.jit import drop_stale_cache
from autoinfra.sim.kernels.search import (
    EPS,
    STAT_CLASS_REUSED,
    STAT_CONSIDERED,
    STAT_PREEMPTIONS,
    STAT_REMEMBERED,
    STAT_RETRIED,
    STAT_SEARCHED,
    dominated,
    find,
    pick,
    preempt_below,
    remember,
    room_row,
    spare,
)

drop_stale_cache(__file__, L, ksr)

Arr = np.ndarray  # numba kernels take plain arrays; their shapes are in layout.py


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
    t, s0, s1 = ht[n], hs[0, n], hs[1, n]
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
    w = sf[L.S_WORK, slot]
    if not np.isfinite(w):
        return 0.0
    d = mf[L.M_VCLOCK, si[L.S_MACH, slot]] - sv[slot]
    return min(max(d, 0.0), w)


@njit(cache=True)
def remove_slot(slot: int, mf: Arr, mi: Arr, mprio: Arr, sf: Arr, si: Arr, vi: Arr, free: Arr,
                nfree: Arr) -> None:
    m = si[L.S_MACH, slot]
    p = si[L.S_PRIO, slot]
    creq = sf[L.S_CPU_REQ, slot]
    mreq = sf[L.S_MEM_REQ, slot]
    mf[L.M_CPU_ALLOC, m] -= creq
    mf[L.M_MEM_ALLOC, m] -= mreq
    mprio[m, 0, p] -= creq
    mprio[m, 1, p] -= mreq
    mf[L.M_CPU_RSV, m] -= sf[L.S_CPU_RSV, slot]
    mf[L.M_MEM_RSV, m] -= sf[L.S_MEM_RSV, slot]
    mprio[m, 2, p] -= sf[L.S_CPU_RSV, slot]
    mprio[m, 3, p] -= sf[L.S_MEM_RSV, slot]
    mf[L.M_CPU_DEM, m] -= sf[L.S_CPU_DEM, slot]
    mf[L.M_MEM_USE, m] -= sf[L.S_MEM_USE, slot]
    mi[L.M_NTASKS, m] -= 1
    mi[L.M_CHANGED, m] = 1
    nx = si[L.S_NEXT, slot]
    pv = si[L.S_PREV, slot]
    if pv >= 0:
        si[L.S_NEXT, pv] = nx
    else:
        mi[L.M_HEAD, m] = nx
    if nx >= 0:
        si[L.S_PREV, nx] = pv
    s = si[L.S_SVC, slot]
    if s >= 0:
        nx = si[L.S_SNEXT, slot]
        pv = si[L.S_SPREV, slot]
        if pv >= 0:
            si[L.S_SNEXT, pv] = nx
        else:
            vi[L.V_HEAD, s] = nx
        if nx >= 0:
            si[L.S_SPREV, nx] = pv
        vi[L.V_PLACED, s] -= 1
        vi[L.V_DIRTY, s] = 1
    si[L.S_TASK, slot] = -1
    si[L.S_GEN, slot] += 1
    free[nfree[0]] = slot
    nfree[0] += 1


@njit(cache=True)
def _evict_victims(m: int, need_c: float, need_m: float, below: int, by_mem: bool, mf: Arr,
                   mi: Arr, mprio: Arr, sv: Arr, sf: Arr, si: Arr, vi: Arr, free: Arr, nfree: Arr,
                   out_task: Arr, out_lost: Arr, nout: Arr, rsv: bool) -> None:
    """Evict tasks of priority < ``below`` from machine m, lowest priority first and, within a
    priority, the most recently started first (least work lost), until need_c/need_m are free
    (by reservations when ``rsv``; ``by_mem``: until the memory *used* fits the capacity)."""
    a = L.M_CPU_RSV if rsv else L.M_CPU_ALLOC
    k = mi[L.M_NTASKS, m]
    cand = np.empty(k, dtype=np.int64)
    keys = np.empty(k, dtype=np.float64)
    n = 0
    slot = mi[L.M_HEAD, m]
    while slot >= 0:
        if si[L.S_PRIO, slot] < below:
            cand[n] = slot
            keys[n] = si[L.S_PRIO, slot] * 1e12 - sv[slot]
            n += 1
        slot = si[L.S_NEXT, slot]
    order = np.argsort(keys[:n])
    for j in range(n):
        if by_mem:
            if mf[L.M_MEM_USE, m] <= mf[L.M_MEM_CAP, m] + EPS:
                break
        elif (mf[L.M_CPU_CAP, m] - mf[a, m] >= need_c - EPS
              and mf[L.M_MEM_CAP, m] - mf[a + 1, m] >= need_m - EPS):
            break
        v = cand[order[j]]
        out_task[nout[0]] = si[L.S_TASK, v]
        out_lost[nout[0]] = work_done(v, mf, sv, sf, si)
        nout[0] += 1
        remove_slot(v, mf, mi, mprio, sf, si, vi, free, nfree)


@njit(cache=True)
def place(qf: Arr, qi: Arr, mf: Arr, mi: Arr, mprio: Arr, sv: Arr, sf: Arr,
          si: Arr, vf: Arr, vi: Arr, free: Arr, nfree: Arr, ht: Arr, hs: Arr, hn: Arr, rng: Arr,
          fail: Arr, nfail: Arr, shape_col: Arr, now: float, best_fit: bool, candidates: int,
          scan_limit: int, preempt: bool, room: Arr, scratch: Arr, out_slot: Arr, out_ids: Arr,
          out_slots: Arr, vic_task: Arr, vic_lost: Arr, nvic: Arr, stats: Arr,
          reclaim_below: int) -> int:
    """Place the pending queue (rows sorted by priority, then submit time). Returns how many
    were placed; out_slot[row] is each row's slot (-1: still pending), out_ids/out_slots list
    the placed ones. Preempted tasks go to vic_*.
    ``room`` (n, 6): free CPU, free memory (-inf when not schedulable), 1/capacities, free CPU
    and memory by reservations per machine, packed for the scans and kept current across rounds;
    ``scratch`` (2, n) is working space; ``fail`` (2, 3, k) and ``nfail`` (2,): the remembered
    requests that fit nowhere, by requests [0] and by reservations [1]. Tasks of priority below
    ``reclaim_below`` are placed by reservations (0: none).
    ``stats`` counts (cumulatively) tasks considered, rejected by memory, searched in full,
    searched among grown machines only, machines examined, preemptions, placed by reusing the
    candidates of the previous task with the same requests (see STAT_*)."""
    n = mf.shape[1]
    changed = scratch[0]
    eq = scratch[1]
    # rows of ``room`` are kept up to date for machines whose state or allocation changed
    nchg = 0
    # chg_c[r, b], chg_m[r, b]: the most any grown machine offers, tasks of priority < b counted
    # free; r = 0 by requests, 1 by reservations
    chg_c = np.full((2, ksr.PRODUCTION + 1), -1.0)
    chg_m = np.full((2, ksr.PRODUCTION + 1), -1.0)
    for m in range(n):
        if mi[L.M_CHANGED, m] == 0:
            continue
        mi[L.M_CHANGED, m] = 0
        room_row(m, mf, mi, room)
        if mi[L.M_SCHED, m] != 0:
            changed[nchg] = m
            nchg += 1
            for r in range(2):
                fc, fm = room[m, 4 * r], room[m, 4 * r + 1]
                for b in range(ksr.PRODUCTION + 1):
                    chg_c[r, b] = max(chg_c[r, b], fc)
                    chg_m[r, b] = max(chg_m[r, b], fm)
                    fc += mprio[m, 2 * r, b]
                    fm += mprio[m, 2 * r + 1, b]
    # the most any machine has free, by requests and by reservations: four running maxima in
    # locals (kept in arrays, each step waited on the store of the one before: about 40 us more
    # a round at 12,500 machines); the same max() calls in the same order
    mc0 = mm0 = mc1 = mm1 = -1.0
    for m in range(n):  # room is packed: this pass is cheap
        mc0 = max(mc0, room[m, 0])
        mm0 = max(mm0, room[m, 1])
        mc1 = max(mc1, room[m, 4])
        mm1 = max(mm1, room[m, 5])
    max_c = np.array([mc0, mc1])
    max_m = np.array([mm0, mm1])
    # forget remembered failures that a machine with grown capacity could now take
    for r in range(2):
        k = 0
        for e in range(nfail[r]):
            c, mm, below = fail[r, 0, e], fail[r, 1, e], int(fail[r, 2, e])
            valid = True
            for j in range(nchg):
                fc, fm = spare(changed[j], c, mm, below, mf, mprio, r == 1)
                if fc >= -EPS and fm >= -EPS:
                    valid = False
                    break
            if valid:
                fail[r, :, k] = fail[r, :, e]
                k += 1
        nfail[r] = k
    # the two modes' memos as views made once (a slice made per task costs more than the check)
    fail_q, fail_r = fail[0], fail[1]
    nfail_q, nfail_r = nfail[0:1], nfail[1:2]
    neq = np.zeros(1, dtype=np.int64)
    eq_c, eq_m, eq_r = -1.0, -1.0, -1
    # the last request found to fit nowhere, and its mode
    last_c, last_m, last_below, last_r = -1.0, -1.0, -1, -1
    placed = 0
    nq = qf.shape[0]
    # counters kept in locals inside the loop (an array element would be reloaded each time)
    n_reused = n_remembered = n_retried = n_searched = 0
    for i in range(nq):
        out_slot[i] = -1
        if nfree[0] == 0:  # out of slots this round: the pool grows before the next one
            continue
        c = qf[i, L.Q_CPU_REQ]
        mm = qf[i, L.Q_MEM_REQ]
        p = qi[i, L.Q_PRIO]
        tried = qi[i, L.Q_TRIED] != 0
        if not tried:
            qi[i, L.Q_TRIED] = 1
        below = preempt_below(p, preempt)
        r = 1 if p < reclaim_below else 0
        rsv = r == 1
        if candidates > 0 and neq[0] > 0 and c == eq_c and mm == eq_m and r == eq_r:
            m = pick(c, mm, eq, neq, room, best_fit, rsv)  # (not in exact mode)
            if m >= 0:
                n_reused += 1
                out_slot[i] = _occupy(i, m, qf, qi, mf, mi, mprio, sv, sf, si, vf, vi, free,
                                      nfree, ht, hs, hn, shape_col, now)
                room_row(m, mf, mi, room)
                placed += 1
                continue
        if c == last_c and mm == last_m and below <= last_below and r == last_r:
            n_remembered += 1  # the same request as a task just refused: refused
            continue
        if tried:  # only machines that grew since it was refused can take it now
            hope = c <= chg_c[r, below] + EPS and mm <= chg_m[r, below] + EPS
        else:  # no cheap bound on what preemption can free: remembered failures do that
            hope = below > 0 or (c <= max_c[r] + EPS and mm <= max_m[r] + EPS)
        if hope and dominated(fail_r if rsv else fail_q, nfail_r if rsv else nfail_q, c, mm,
                              below):
            hope = False
        if not hope:
            n_remembered += 1
            last_c, last_m, last_below, last_r = c, mm, below, r
            continue
        m = -1
        if hope:
            if tried:
                n_retried += 1
            else:
                n_searched += 1
            m, evict = find(c, mm, below, changed, nchg, tried, room, mf, mprio, rng, best_fit,
                             candidates, scan_limit, stats, eq, neq, rsv)
            eq_c, eq_m, eq_r = c, mm, r
            for j in range(neq[0]):  # the chosen machine is taken for this class's round
                if eq[j] == m:
                    neq[0] -= 1
                    eq[j] = eq[neq[0]]
                    break
            if evict:
                stats[STAT_PREEMPTIONS] += 1
                _evict_victims(m, c, mm, below, False, mf, mi, mprio, sv, sf, si, vi, free,
                               nfree, vic_task, vic_lost, nvic, rsv)
        if m < 0:
            remember(fail_r if rsv else fail_q, nfail_r if rsv else nfail_q, c, mm, below)
            last_c, last_m, last_below, last_r = c, mm, below, r
            continue
        out_slot[i] = _occupy(i, m, qf, qi, mf, mi, mprio, sv, sf, si, vf, vi, free, nfree, ht,
                              hs, hn, shape_col, now)
        room_row(m, mf, mi, room)
        placed += 1
    stats[STAT_CONSIDERED] += nq
    stats[STAT_REMEMBERED] += n_remembered
    stats[STAT_RETRIED] += n_retried
    stats[STAT_SEARCHED] += n_searched
    stats[STAT_CLASS_REUSED] += n_reused
    k = 0
    for i in range(nq):
        if out_slot[i] >= 0:
            out_ids[k] = qi[i, L.Q_ID]
            out_slots[k] = out_slot[i]
            k += 1
    return placed


@njit(cache=True)
def _occupy(i: int, m: int, qf: Arr, qi: Arr, mf: Arr, mi: Arr, mprio: Arr, sv: Arr, sf: Arr,
            si: Arr, vf: Arr, vi: Arr, free: Arr, nfree: Arr, ht: Arr, hs: Arr, hn: Arr,
            shape_col: Arr, now: float) -> int:
    """Put queue entry i on machine m: take a slot, link it, add to the machine's sums."""
    nfree[0] -= 1
    slot = free[nfree[0]]
    s = qi[i, L.Q_SVC]
    prof = qi[i, L.Q_PROF]
    p = qi[i, L.Q_PRIO]
    c = qf[i, L.Q_CPU_REQ]
    mm = qf[i, L.Q_MEM_REQ]
    si[L.S_TASK, slot] = qi[i, L.Q_ID]
    si[L.S_MACH, slot] = m
    si[L.S_PRIO, slot] = p
    si[L.S_SVC, slot] = s
    si[L.S_PROF, slot] = prof
    sf[L.S_WORK, slot] = qf[i, L.Q_WORK]
    sf[L.S_CPU_BASE, slot] = qf[i, L.Q_CPU_BASE]
    sf[L.S_MEM_USE, slot] = qf[i, L.Q_MEM_USE]
    sf[L.S_CPU_REQ, slot] = c
    sf[L.S_MEM_REQ, slot] = mm
    sf[L.S_CPU_RSV, slot] = c  # Borg: a new task's reservation is its limit, for 300 s at least
    sf[L.S_MEM_RSV, slot] = mm
    sf[L.S_PLACED, slot] = now
    # a service replica takes its share of the service's demand (re-spread after the round)
    sf[L.S_CPU_DEM, slot] = vf[L.V_PER, s] if s >= 0 else qf[i, L.Q_CPU_BASE] * shape_col[prof]
    sv[slot] = mf[L.M_VCLOCK, m]
    mf[L.M_CPU_ALLOC, m] += c
    mf[L.M_MEM_ALLOC, m] += mm
    mprio[m, 0, p] += c
    mprio[m, 1, p] += mm
    mf[L.M_CPU_RSV, m] += c
    mf[L.M_MEM_RSV, m] += mm
    mprio[m, 2, p] += c
    mprio[m, 3, p] += mm
    mf[L.M_CPU_DEM, m] += sf[L.S_CPU_DEM, slot]
    mf[L.M_MEM_USE, m] += sf[L.S_MEM_USE, slot]
    mi[L.M_NTASKS, m] += 1
    head = mi[L.M_HEAD, m]
    si[L.S_PREV, slot] = -1
    si[L.S_NEXT, slot] = head
    if head >= 0:
        si[L.S_PREV, head] = slot
    mi[L.M_HEAD, m] = slot
    si[L.S_SPREV, slot] = -1
    si[L.S_SNEXT, slot] = -1
    if s >= 0:
        head = vi[L.V_HEAD, s]
        si[L.S_SNEXT, slot] = head
        if head >= 0:
            si[L.S_SPREV, head] = slot
        vi[L.V_HEAD, s] = slot
        vi[L.V_PLACED, s] += 1
        vi[L.V_DIRTY, s] = 1
    if np.isfinite(sf[L.S_WORK, slot]):
        heap_push(ht, hs, hn, now + sf[L.S_WORK, slot], slot, si[L.S_GEN, slot])
    return slot


@njit(cache=True)
def complete(now: float, dt: float, ht: Arr, hs: Arr, hn: Arr, mf: Arr, mi: Arr, mprio: Arr,
             sv: Arr, sf: Arr, si: Arr, vi: Arr, free: Arr, nfree: Arr, out_task: Arr,
             out_end: Arr) -> int:
    """Finish the tasks whose work is done by ``now``; returns how many (ids and end times out).

    The heap holds a lower bound on each task's finish time (now + remaining work, as if it ran
    at full speed from then on); a task found not done yet is pushed back with a new bound."""
    cnt = 0
    while hn[0] > 0 and ht[0] <= now + EPS:
        slot = hs[0, 0]
        gen = hs[1, 0]
        _heap_pop(ht, hs, hn)
        if si[L.S_TASK, slot] < 0 or si[L.S_GEN, slot] != gen:
            continue  # stale: the task left this slot (evicted) before finishing
        m = si[L.S_MACH, slot]
        rem = sv[slot] + sf[L.S_WORK, slot] - mf[L.M_VCLOCK, m]
        if rem > 1e-6:
            heap_push(ht, hs, hn, now + rem, slot, gen)
            continue
        speed = mf[L.M_PROG, m]
        end = now + rem / speed if speed > 0 else now  # back to when the work ran out
        out_task[cnt] = si[L.S_TASK, slot]
        out_end[cnt] = max(end, now - dt)
        cnt += 1
        remove_slot(slot, mf, mi, mprio, sf, si, vi, free, nfree)
    return cnt


@njit(cache=True)
def evict_machine(m: int, mf: Arr, mi: Arr, mprio: Arr, sv: Arr, sf: Arr, si: Arr, vi: Arr,
                  free: Arr, nfree: Arr, out_task: Arr, out_lost: Arr) -> int:
    """Remove every task on machine m; returns how many (ids and work lost out)."""
    cnt = 0
    slot = mi[L.M_HEAD, m]
    while slot >= 0:
        nxt = si[L.S_NEXT, slot]
        out_task[cnt] = si[L.S_TASK, slot]
        out_lost[cnt] = work_done(slot, mf, sv, sf, si)
        cnt += 1
        remove_slot(slot, mf, mi, mprio, sf, si, vi, free, nfree)
        slot = nxt
    return cnt


@njit(cache=True)
def remove_slots(slots: Arr, mf: Arr, mi: Arr, mprio: Arr, sv: Arr, sf: Arr, si: Arr, vi: Arr,
                 free: Arr, nfree: Arr, out_lost: Arr) -> None:
    for j in range(slots.shape[0]):
        out_lost[j] = work_done(slots[j], mf, sv, sf, si)
        remove_slot(slots[j], mf, mi, mprio, sf, si, vi, free, nfree)


@njit(cache=True)
def relieve_memory(running_states: Arr, mf: Arr, mi: Arr, mprio: Arr, sv: Arr, sf: Arr, si: Arr,
                   vi: Arr, free: Arr, nfree: Arr, out_task: Arr, out_lost: Arr,
                   nout: Arr) -> None:
    """Where memory used exceeds capacity, kill lowest-priority tasks first until it fits."""
    for m in range(mf.shape[1]):
        if mf[L.M_MEM_USE, m] <= mf[L.M_MEM_CAP, m] + EPS or running_states[mi[L.M_STATE, m]] == 0:
            continue
        _evict_victims(m, 0.0, 0.0, L.N_PRIO, True, mf, mi, mprio, sv, sf, si, vi, free, nfree,
                       out_task, out_lost, nout, False)
