"""numba helpers of the placement round: finding a machine, and remembering what fits nowhere.

These read the cluster's arrays and never move a task; ``slots.place`` calls them and
does the moving. See that module for the placement rules (Borg-like sampling, preemption) and
the exact shortcuts that keep a round over a full cell cheap.

Every helper takes ``rsv``: False checks a task against the requests (limits) of what is placed,
True against their reservations (``M_CPU_RSV``, ``room`` columns 4-5, ``mprio`` rows 2-3), which is
how non-production work is placed when a run places by reservations.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from autoinfra.sim import layout as L
from autoinfra.sim.kernels.jit import drop_stale_cache

drop_stale_cache(__file__, L)

Arr = np.ndarray  # numba kernels take plain arrays; their shapes are in layout.py

EPS = 1e-9
FAIL_MEMORY = 64  # size of the remembered set of requests that fit nowhere
PRODUCTION = 9  # first production priority (2011 trace): no preemption within the band
# placement statistics (cumulative counters in ClusterState.place_stats)
STAT_CONSIDERED, STAT_REMEMBERED, STAT_SEARCHED, STAT_RETRIED = 0, 1, 2, 3
STAT_EXAMINED, STAT_PREEMPTIONS, STAT_CLASS_REUSED = 4, 5, 6
N_STATS = 7


@njit(cache=True)
def rand(rng: Arr) -> np.int64:
    # xorshift64*: the state lives in the simulator's own array, so forks stay independent
    x = rng[0]
    x ^= x >> np.uint64(12)
    x ^= x << np.uint64(25)
    x ^= x >> np.uint64(27)
    rng[0] = x
    return np.int64((x * np.uint64(2685821657736338717)) >> np.uint64(33))


@njit(cache=True)
def preempt_below(p: int, preempt: bool) -> int:
    """Priorities a task of priority p may evict: those below p, below the production band for
    production tasks; 0 when preemption is off."""
    if not preempt:
        return 0
    return p if p < PRODUCTION else PRODUCTION


@njit(cache=True)
def spare(m: int, c: float, mm: float, below: int, mf: Arr, mprio: Arr,
          rsv: bool) -> tuple[float, float]:
    """Free CPU and memory on m after placing (c, mm), counting tasks of priority < below as
    free (below = 0: no preemption); by reservations when ``rsv``."""
    a = L.M_CPU_RSV if rsv else L.M_CPU_ALLOC  # the memory row follows the CPU row
    k = 2 if rsv else 0
    fc = mf[L.M_CPU_CAP, m] - mf[a, m] - c
    fm = mf[L.M_MEM_CAP, m] - mf[a + 1, m] - mm
    for q in range(below):
        fc += mprio[m, k, q]
        fm += mprio[m, k + 1, q]
    return fc, fm


@njit(cache=True)
def room_row(m: int, mf: Arr, mi: Arr, room: Arr) -> None:
    if mi[L.M_SCHED, m] == 0:
        room[m, 0] = -np.inf
        room[m, 1] = -np.inf
        room[m, 4] = -np.inf
        room[m, 5] = -np.inf
    else:
        room[m, 0] = mf[L.M_CPU_CAP, m] - mf[L.M_CPU_ALLOC, m]
        room[m, 1] = mf[L.M_MEM_CAP, m] - mf[L.M_MEM_ALLOC, m]
        room[m, 4] = mf[L.M_CPU_CAP, m] - mf[L.M_CPU_RSV, m]
        room[m, 5] = mf[L.M_MEM_CAP, m] - mf[L.M_MEM_RSV, m]
    room[m, 2] = 1.0 / max(mf[L.M_CPU_CAP, m], EPS)
    room[m, 3] = 1.0 / max(mf[L.M_MEM_CAP, m], EPS)


@njit(cache=True)
def find(c: float, mm: float, below: int, cand: Arr, ncand: int, use_cand: bool, room: Arr,
          mf: Arr, mprio: Arr, rng: Arr, best_fit: bool, candidates: int, scan_limit: int,
          stats: Arr, eq: Arr, neq: Arr, rsv: bool) -> tuple[int, bool]:
    """A machine for a (c, mm) request: (machine, needs preemption), or (-1, False).

    Scans ``cand[:ncand]`` (use_cand) or every machine, in slot order from a random start (from
    slot 0 when candidates == 0), a window of ``scan_limit`` machines at a time (Borg scores a
    sample, not the cell): the best machine with room in the window wins (the scan stops early
    at ``candidates`` of them); if the window has none and the task may preempt, the one needing
    the least lower-priority work evicted among the first ``candidates`` of the window where
    preemption makes room; else the next window. A task that
    finds nothing has been tried against every machine: it really fits nowhere. The machines with
    room that it saw are left in ``eq[:neq[0]]`` for the next task with the same requests."""
    neq[0] = 0
    o = 4 if rsv else 0  # room's free CPU column; free memory is the next one
    n = ncand if use_cand else mf.shape[1]
    if n == 0:
        return -1, False
    start = 0 if candidates == 0 else int(rand(rng) % n)
    window = n if candidates == 0 else min(scan_limit, n)
    lo = 0
    while lo < n:
        hi = min(lo + window, n)
        best, best_score, found = -1, np.inf, 0
        for k in range(lo, hi):
            idx = start + k
            if idx >= n:
                idx -= n
            m = int(cand[idx]) if use_cand else idx
            fc = room[m, o] - c  # -inf when the machine is not schedulable
            fm = room[m, o + 1] - mm
            if fc < -EPS or fm < -EPS:
                continue
            eq[neq[0]] = m
            neq[0] += 1
            if not best_fit:
                stats[STAT_EXAMINED] += k - lo + 1
                return m, False
            score = fc * room[m, 2] + fm * room[m, 3]  # best fit: the least free share left
            if score < best_score:
                best, best_score = m, score
            found += 1
            if candidates > 0 and found >= candidates:
                stats[STAT_EXAMINED] += k - lo + 1
                return best, False
        stats[STAT_EXAMINED] += hi - lo
        if best >= 0:
            return best, False
        if below > 0:
            for k in range(lo, hi):
                idx = start + k
                if idx >= n:
                    idx -= n
                m = int(cand[idx]) if use_cand else idx
                if room[m, 0] == -np.inf:
                    continue
                pc, pm = spare(m, c, mm, below, mf, mprio, rsv)
                if pc < -EPS or pm < -EPS:
                    continue
                # the least lower-priority work to evict is best
                score = (max(c - room[m, o], 0.0) * room[m, 2]
                         + max(mm - room[m, o + 1], 0.0) * room[m, 3])
                if not best_fit:
                    stats[STAT_EXAMINED] += k - lo + 1
                    return m, True
                if score < best_score:
                    best, best_score = m, score
                found += 1
                if candidates > 0 and found >= candidates:  # a sample is enough here too
                    stats[STAT_EXAMINED] += k - lo + 1
                    return best, True
            stats[STAT_EXAMINED] += hi - lo
            if best >= 0:
                return best, True
        lo = hi
    return -1, False


@njit(cache=True)
def pick(c: float, mm: float, eq: Arr, neq: Arr, room: Arr, best_fit: bool, rsv: bool) -> int:
    """The best machine with room among those the last search for the same requests found, and
    not yet given a task of this class (Borg's equivalence classes: one feasibility check and
    scoring per class). Taking each machine once keeps the class spread as independent samples
    would; packing a class onto the same few machines strands their other resource."""
    best, best_score, at = -1, np.inf, -1
    o = 4 if rsv else 0
    for j in range(neq[0]):
        m = eq[j]
        fc = room[m, o] - c
        fm = room[m, o + 1] - mm
        if fc < -EPS or fm < -EPS:
            continue
        score = fc * room[m, 2] + fm * room[m, 3]
        if best < 0 or (best_fit and score < best_score):
            best, best_score, at = m, score, j
    if at >= 0:
        neq[0] -= 1
        eq[at] = eq[neq[0]]
    return best


@njit(cache=True)
def dominated(fail: Arr, nfail: Arr, c: float, mm: float, below: int) -> bool:
    """Does a remembered request that fit nowhere, with at least these preemption rights, show
    that (c, mm) fits nowhere either? The entry that answers moves to the front: the next tasks
    in the queue are mostly the same job's, answered by the same entry."""
    for e in range(nfail[0]):
        if c >= fail[0, e] and mm >= fail[1, e] and below <= fail[2, e]:
            if e > 0:
                for r in range(3):
                    fail[r, 0], fail[r, e] = fail[r, e], fail[r, 0]
            return True
    return False


@njit(cache=True)
def remember(fail: Arr, nfail: Arr, c: float, mm: float, below: int) -> None:
    """Add (c, mm, below) to the set of requests that fit nowhere, dropping entries it covers."""
    k = 0
    for e in range(nfail[0]):
        if fail[0, e] >= c and fail[1, e] >= mm and fail[2, e] <= below:
            continue  # the new point rejects everything this one did
        fail[:, k] = fail[:, e]
        k += 1
    if k == fail.shape[1]:  # full: forget the entry that rejects least (the largest request)
        worst = 0
        for e in range(k):
            if fail[0, e] + fail[1, e] > fail[0, worst] + fail[1, worst]:
                worst = e
        fail[:, worst] = fail[:, k - 1]
        k -= 1
    fail[0, k] = c
    fail[1, k] = mm
    fail[2, k] = below
    nfail[0] = k + 1
