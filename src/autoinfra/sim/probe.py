"""A cheap look at one service and the cluster totals, for a learner stepping 10,000 times a second.

``Simulator.observe()`` builds a whole ``Observation`` (every machine, link and service as fresh
arrays): about 25-40 µs on a 20-machine slice, a third of what a Gymnasium step may cost at
10,000 steps/s. The scaling environment needs ten numbers of it: the powered machines' CPU and
memory used and capacity, the pending CPU, and one service's request, CPU used, demand, desired
and running replicas and bounds. ``FocalProbe.read`` returns exactly those, computed by one
compiled pass (``kernels.probe``) with the monitoring rules of ``sim.observe`` (a FAILED machine
is seen in its last known state with its frozen figures; "powered" is BOOTING, ON or DRAINING as
seen, the rule of ``policies.scaling.encoding.service_features``) and the float32 rounding the
``Observation`` applies, so a learner reading the probe sees what a policy reading the
observation would see.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
import numpy.typing as npt

from autoinfra.sim.kernels.probe import read_focal
from autoinfra.sim.state import ClusterState
from autoinfra.sim.timeline import Timeline
from autoinfra.traces.tables import Workload


class _Probed(Protocol):
    """The parts of ``Simulator`` the probe reads (named, not imported: below the simulator)."""

    _state: ClusterState
    _time: Timeline

    @property
    def now_s(self) -> float: ...

    @property
    def workload(self) -> Workload: ...


F64 = npt.NDArray[np.float64]

# what ``read`` returns, by position
(CPU_USED, CPU_CAP, MEM_USED, MEM_CAP, PENDING_CPU, REQUEST, USED, DEMAND, REPLICAS, RUNNING,
 MIN_REPLICAS, MAX_REPLICAS) = range(12)  # fmt: skip
N_FIELDS = 12


class FocalProbe:
    """Reads one service of a simulator (see the module docstring); one buffer, reused."""

    def __init__(self, sim: _Probed, service: int) -> None:
        n = int(sim.workload.services.job.shape[0])
        if not 0 <= service < n:
            raise IndexError(f"no service {service}: indices are 0..{n - 1}")
        self.sim = sim
        self.service = int(service)
        self.out: F64 = np.zeros(N_FIELDS, dtype=np.float64)

    def read(self) -> list[float]:
        """The twelve figures, as plain floats (indexed by the module's constants)."""
        sim = self.sim
        # the simulator's own reader, like ``Simulator.observe``: the same refresh-if-stale rule
        w = sim._state
        if sim._time.stale:
            w.refresh(sim.now_s)
            sim._time.stale = False
        read_focal(w.mf, w.mi, w.vf, w.vi, w.queue.qf, self.service, self.out)
        values: list[float] = self.out.tolist()
        return values
