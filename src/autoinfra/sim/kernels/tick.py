"""The per-tick state kernel: contention, network, power, service levels and cluster totals.

One compiled pass over machines, links and racks per tick (plus the slots of degraded machines
only), so a tick costs a few tens of microseconds on a small cluster and well under a millisecond
on a 12.5k-machine cell; nothing here walks every running task.

Models, stated:
- CPU contention: a running machine's demand is its tasks' CPU demand plus any hog or intruder
  process; when it exceeds capacity every consumer is served the same share, capacity / demand
  (proportional throttling), and tasks progress at that share of full speed.
- Network: a running machine sends ``egress_mbps_per_cpu`` x the CPU its tasks are served, plus an
  intruder's egress (nothing once isolated). A rack splits its traffic over its uplinks by
  weight; link utilisation = (rack traffic x weight + background) / capacity. A rack whose
  weighted links are above 1 is slowed to 1 / (worst utilisation): its tasks progress that much
  slower (they still use the CPU, as a task blocked on the network would spin or wait).
- Services: per-replica demand is the service's demand shared by its placed replicas, capped at
  each replica's limit. A replica on a failed machine serves nothing (traffic still reaches it
  until it is evicted); one on a throttled or network-slowed machine serves that share. A
  service violates its SLO when served < slo_served_share x demand.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from autoinfra.sim import layout
from autoinfra.sim.kernels.jit import drop_stale_cache
from autoinfra.sim.layout import (
    L_BACKGROUND,
    L_OFFERED,
    L_UTIL,
    L_WEIGHT,
    M_CPU_ALLOC,
    M_CPU_CAP,
    M_CPU_DEM,
    M_CPU_USED,
    M_CURVE,
    M_EGRESS,
    M_HEAD,
    M_HEARTBEAT,
    M_HOG_CPU,
    M_ISOLATED,
    M_MEM_ALLOC,
    M_MEM_CAP,
    M_MEM_USE,
    M_NET,
    M_NTASKS,
    M_POWER,
    M_PROG,
    M_RACK,
    M_RATE,
    M_ROGUE_EGRESS,
    M_STATE,
    M_THROTTLE,
    M_VCLOCK,
    R_EGRESS,
    R_NET,
    R_TASKS,
    S_NEXT,
    S_SVC,
    T_ALLOC_CPU,
    T_ALLOC_MEM,
    T_CAP_CPU,
    T_CAP_MEM,
    T_DEMAND,
    T_MAX_LINK,
    T_N_STATE,
    T_NET_SLOWED,
    T_POWER,
    T_RUNNING,
    T_STRANDED,
    T_UNSERVED,
    T_USED_CPU,
    T_USED_MEM,
    T_VIOLATING,
    V_DEMAND,
    V_PER,
    V_PLACED,
    V_SERVED,
    V_SHORT,
    V_VIOLATING,
)

drop_stale_cache(__file__, layout)

Arr = np.ndarray

# MachineState values (core.observation), repeated here because numba bakes them in.
_ABSENT, _OFF, _BOOTING, _ON, _DRAINING, _FAILED = 0, 1, 2, 3, 4, 5


@njit(cache=True)
def _watts(curves: Arr, curve: int, load: float) -> float:
    x = min(max(load, 0.0), 1.0) * 10.0
    lo = min(int(x), 9)
    frac = x - lo
    return curves[curve, lo] * (1.0 - frac) + curves[curve, lo + 1] * frac


@njit(cache=True)
def refresh_state(
    now: float,
    mf: Arr,
    mi: Arr,
    lf: Arr,
    rf: Arr,
    curves: Arr,
    si: Arr,
    vf: Arr,
    vi: Arr,
    uplinks: int,
    link_capacity_mbps: float,
    egress_per_cpu: float,
    slo_share: float,
    tot: Arr,
) -> None:
    """Recompute rates, egress, power, link loads and service levels; write totals to ``tot``."""
    n = mf.shape[1]
    tot[:] = 0.0
    rf[:, :] = 0.0
    # totals in local variables (not tot[...]) so they stay in registers through the loop
    running = stranded = 0.0
    demand = unserved = used_mem = used_cpu = power_sum = 0.0
    cap_cpu = cap_mem = alloc_cpu = alloc_mem = 0.0
    for m in range(n):
        st = mi[M_STATE, m]
        tot[T_N_STATE + st] += 1.0
        cap = mf[M_CPU_CAP, m]
        rate = 0.0
        used = 0.0
        egress = 0.0
        throttle = 0.0
        power = 0.0
        if st in (_ON, _DRAINING):
            tasks_dem = mf[M_CPU_DEM, m]
            dem = tasks_dem + mf[M_HOG_CPU, m]
            rate = 1.0
            if dem > cap:
                rate = cap / dem if dem > 0 else 1.0
                throttle = 1.0 - rate
            used = min(dem, cap)
            if mi[M_ISOLATED, m] == 0:
                egress = tasks_dem * rate * egress_per_cpu + mf[M_ROGUE_EGRESS, m]
            mf[M_HEARTBEAT, m] = now
            power = _watts(curves, mi[M_CURVE, m], used / cap if cap > 0 else 0.0)
            ntasks = mi[M_NTASKS, m]
            running += ntasks
            demand += tasks_dem
            unserved += tasks_dem * (1.0 - rate)
            # utilisation is the tasks' served CPU only: a hog's or intruder's CPU heats the
            # machine (power above) but is no work, so leaving one running must not raise it
            used_cpu += tasks_dem * rate
            used_mem += mf[M_MEM_USE, m]
            r = mi[M_RACK, m]
            rf[R_EGRESS, r] += egress
            rf[R_TASKS, r] += ntasks
        elif st == _BOOTING:
            mf[M_HEARTBEAT, m] = now
            power = _watts(curves, mi[M_CURVE, m], 0.0)
        elif st == _FAILED:
            power = _watts(curves, mi[M_CURVE, m], 0.0)
            stranded += mi[M_NTASKS, m]
        if st >= _BOOTING:  # BOOTING, ON, DRAINING, FAILED: powered
            cap_cpu += cap
            cap_mem += mf[M_MEM_CAP, m]
            alloc_cpu += mf[M_CPU_ALLOC, m]
            alloc_mem += mf[M_MEM_ALLOC, m]
        mf[M_RATE, m] = rate
        mf[M_CPU_USED, m] = used
        mf[M_EGRESS, m] = egress
        mf[M_THROTTLE, m] = throttle
        mf[M_POWER, m] = power
        power_sum += power
    tot[T_RUNNING] = running
    tot[T_STRANDED] = stranded
    tot[T_DEMAND] = demand
    tot[T_UNSERVED] = unserved
    tot[T_USED_MEM] = used_mem
    tot[T_USED_CPU] = used_cpu
    tot[T_POWER] = power_sum
    tot[T_CAP_CPU] = cap_cpu
    tot[T_CAP_MEM] = cap_mem
    tot[T_ALLOC_CPU] = alloc_cpu
    tot[T_ALLOC_MEM] = alloc_mem

    n_racks = rf.shape[1]
    for r in range(n_racks):
        rf[R_NET, r] = 1.0
    max_util = 0.0
    for link in range(lf.shape[1]):
        r = link // uplinks
        offered = rf[R_EGRESS, r] * lf[L_WEIGHT, link]
        util = (offered + lf[L_BACKGROUND, link]) / link_capacity_mbps
        lf[L_OFFERED, link] = offered
        lf[L_UTIL, link] = util
        max_util = max(max_util, util)
        if lf[L_WEIGHT, link] > 0 and util > 1.0:
            rf[R_NET, r] = min(rf[R_NET, r], 1.0 / util)
    tot[T_MAX_LINK] = max_util
    for r in range(n_racks):
        if rf[R_NET, r] < 1.0:
            tot[T_NET_SLOWED] += rf[R_TASKS, r]

    for s in range(vi.shape[1]):
        vf[V_SHORT, s] = 0.0
    for m in range(n):
        st = mi[M_STATE, m]
        net = rf[R_NET, mi[M_RACK, m]]
        on = st in (_ON, _DRAINING)
        mf[M_NET, m] = net
        prog = mf[M_RATE, m] * net if on else 0.0
        mf[M_PROG, m] = prog
        if mi[M_NTASKS, m] == 0 or (on and prog >= 1.0 - 1e-12):
            continue
        # a degraded machine (failed, throttled or slowed): its service replicas fall short
        slot = mi[M_HEAD, m]
        while slot >= 0:
            s = si[S_SVC, slot]
            if s >= 0:
                vf[V_SHORT, s] += vf[V_PER, s] * (1.0 - prog)
            slot = si[S_NEXT, slot]
    violating = 0
    for s in range(vi.shape[1]):
        served = vi[V_PLACED, s] * vf[V_PER, s] - vf[V_SHORT, s]
        vf[V_SERVED, s] = max(served, 0.0)
        bad = vf[V_DEMAND, s] > 0 and served < slo_share * vf[V_DEMAND, s] - 1e-12
        vi[V_VIOLATING, s] = 1 if bad else 0
        violating += vi[V_VIOLATING, s]
    tot[T_VIOLATING] = violating


@njit(cache=True)
def advance_quiet(mf: Arr, mi: Arr, dt: float, k: int, now: float) -> None:
    """``k`` quiet ticks of ``dt`` in one pass (``sim.quiet``): each machine's progress clock
    gets its tick's progress added k times, one addition after another as k ticks would make
    them (the same sums to the bit), and powered machines (BOOTING, ON, DRAINING) report at
    ``now``, as the state pass would have stamped them."""
    for m in range(mf.shape[1]):
        step = mf[M_PROG, m] * dt
        clock = mf[M_VCLOCK, m]
        for _ in range(k):
            clock += step
        mf[M_VCLOCK, m] = clock
        st = mi[M_STATE, m]
        if st >= _BOOTING and st <= _DRAINING:
            mf[M_HEARTBEAT, m] = now
