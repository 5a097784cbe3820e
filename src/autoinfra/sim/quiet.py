"""Quiet ticks: stretches in which nothing but time moves, advanced without the per-tick passes.

A tick that sees no arrival, no finish, no machine or timed event, no usage step, no placement to
try, no fault and no row to record changes nothing but the clock, each machine's progress clock,
the energy meter and the heartbeats, whatever it recomputes: rates, power and service levels
stay what they were. ``Simulator.run(skip_quiet=True)`` advances such stretches here, with the
additions a tick makes (clock, progress clocks, energy) repeated in the same order so the run is
the same to the last bit, and the heartbeats stamped as the last tick's state pass would. A
replay of a sparse workload on a large cell (the CloudSimPy benchmark: 1,671 one-second ticks
over 12,500 machines, work in about a quarter of them) then costs its events, not its empty
seconds.

Only ``run`` with nobody watching between ticks (no ``on_tick``) skips: an agent looking at the
cluster every tick would see heartbeats age across a skipped stretch.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
import numpy.typing as npt

from autoinfra.core.clock import SimClock
from autoinfra.sim.config import SimSettings
from autoinfra.sim.incidents import FaultBook
from autoinfra.sim.layout import (
    M_CHANGED,
    M_THROTTLE,
    T_POWER,
    T_UNSERVED,
    V_DIRTY,
)
from autoinfra.sim.state import ClusterState
from autoinfra.sim.timeline import Timeline
from autoinfra.traces.tables import Workload


class _Ticking(Protocol):
    """The parts of ``Simulator`` a quiet stretch reads and moves (named, not imported: the
    simulator imports this module)."""

    config: SimSettings
    clock: SimClock
    _state: ClusterState
    _time: Timeline
    _faults: FaultBook
    _mem_check: bool
    _next_record: float
    _end_s: float
    _task_ptr: int
    _mt_ptr: int
    _mt_time: npt.NDArray[np.float64]
    _energy_j: float
    _unserved_cpu_s: float
    _throttled_machine_s: float
    _ticks: int

    @property
    def workload(self) -> Workload: ...


# A tick's event checks use "at or before now + 1e-9"; a tick counts as quiet only with a wider
# margin, so rounding (now + start vs. event - start) can only make us skip less, never wrongly.
_TOL = 1e-6


def next_event_s(sim: _Ticking) -> float:
    """The earliest simulated second at which a tick could see something happen (inf: never),
    or -inf when the state is not settled (a tick now would still change something)."""
    w = sim._state
    if (
        sim._time.stale
        or sim._mem_check
        or sim._faults.records  # faults are judged every tick
        or bool(w.svc_resized.any())  # resized services' costs are counted every tick (sim.resize)
        or (w.n_services and bool(w.vi[V_DIRTY].any()))
        or (len(w.queue) and (w.queue.has_untried() or bool(w.mi[M_CHANGED].any())))
    ):
        return -np.inf
    t = min(sim._next_record, sim._end_s)
    submit = sim.workload.tasks.submit_s
    if sim._task_ptr < submit.shape[0]:
        t = min(t, float(submit[sim._task_ptr]) - sim.workload.start_s)
    if sim._mt_ptr < sim._mt_time.shape[0]:
        t = min(t, float(sim._mt_time[sim._mt_ptr]))
    t = min(t, sim._time.next_s())
    h = w.heap
    if int(h.n[0]) > 0:
        t = min(t, float(h.t[0]))  # a lower bound on the next finish
    usage = sim.workload.usage
    if usage.step_s > 0 and w.shapes.shape[1] > 1:
        # the next workload second at which the usage shape's step changes
        start = sim.workload.start_s
        nxt = (np.floor((start + sim._time.now_s) / usage.step_s) + 1.0) * usage.step_s - start
        t = min(t, float(nxt))
    return t


def skip_quiet_ticks(sim: _Ticking, target_s: float) -> int:
    """Advance every coming tick that would be quiet, up to ``target_s``; returns how many."""
    t_next = next_event_s(sim)
    dt = sim.config.tick_s
    now = sim._time.now_s
    k = 0
    # tick j is quiet when every event time is past its "now + tolerance", it is not the tick
    # that reaches the target, and it records no row (checked against the same sums a tick makes)
    while True:
        after = now + dt
        if after + _TOL >= t_next or after >= target_s - 1e-9:
            break
        now = after
        k += 1
    if k == 0:
        return 0
    w = sim._state
    power = float(w.tot[T_POWER])
    unserved = float(w.tot[T_UNSERVED])  # the price of overcommit, integrated as a tick does
    throttled = float(np.count_nonzero(w.mf[M_THROTTLE] > 0.0)) if unserved > 0.0 else 0.0
    for _ in range(k):  # the same additions as k ticks, in their order: bit for bit the same run
        sim._energy_j += power * dt
        if unserved > 0.0:
            sim._unserved_cpu_s += unserved * dt
            sim._throttled_machine_s += throttled * dt
    sim._time.now_s = now
    sim._ticks += k
    sim.clock.advance_to(now)
    # the progress clocks (k additions each, as k ticks make them) and the one thing the state
    # pass would write differently: powered machines report now; everything else it would
    # recompute unchanged. One compiled pass (as NumPy, k + 3 passes over every machine).
    w.advance_quiet(dt, k, now)
    return k
