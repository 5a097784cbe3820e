"""A cheap look at one service and the cluster totals, for a learner stepping 10,000 times a second.

``Simulator.observe()`` builds a whole ``Observation`` (every machine, link and service as fresh
arrays): about 25-40 µs on a 20-machine slice, a third of what a Gymnasium step may cost at
10,000 steps/s. The scaling environment needs ten numbers of it: the powered machines' CPU and
memory used and capacity, the pending CPU, and one service's request, CPU used, demand, desired
and running replicas and bounds. ``FocalProbe.read`` returns exactly those, computed by one
compiled pass with the monitoring rules of ``sim.observe`` (a FAILED machine is seen in its last
known state with its frozen figures; "powered" is BOOTING, ON or DRAINING as seen, the rule of
``policies.scaling.encoding.service_features``) and the float32 rounding the ``Observation``
applies, so a learner reading the probe sees what a policy reading the observation would see.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
from numba import njit

from autoinfra.sim import layout as L
from autoinfra.sim.jit import drop_stale_cache

if TYPE_CHECKING:
    from autoinfra.sim.simulator import Simulator

drop_stale_cache(__file__, L)

F64 = npt.NDArray[np.float64]
_BOOTING, _ON, _DRAINING, _FAILED = 2, 3, 4, 5  # MachineState values (numba bakes them in)

# what ``read`` returns, by position
(CPU_USED, CPU_CAP, MEM_USED, MEM_CAP, PENDING_CPU, REQUEST, USED, DEMAND, REPLICAS, RUNNING,
 MIN_REPLICAS, MAX_REPLICAS) = range(12)  # fmt: skip
N_FIELDS = 12


@njit(cache=True)
def _read(mf: np.ndarray, mi: np.ndarray, vf: np.ndarray, vi: np.ndarray, qf: np.ndarray,
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


class FocalProbe:
    """Reads one service of a simulator (see the module docstring); one buffer, reused."""

    def __init__(self, sim: Simulator, service: int) -> None:
        n = int(sim.workload.services.job.shape[0])
        if not 0 <= service < n:
            raise IndexError(f"no service {service}: indices are 0..{n - 1}")
        self.sim = sim
        self.service = int(service)
        self.out: F64 = np.zeros(N_FIELDS, dtype=np.float64)

    def read(self) -> list[float]:
        """The twelve figures, as plain floats (indexed by the module's constants)."""
        sim = self.sim
        # the simulator's own reader, like ``Simulator.observe``: the same refresh-if-dirty rule
        w = sim._world
        if sim._dirty:
            w.refresh(sim.now_s)
            sim._dirty = False
        _read(w.mf, w.mi, w.vf, w.vi, w.queue.qf, self.service, self.out)
        values: list[float] = self.out.tolist()
        return values
