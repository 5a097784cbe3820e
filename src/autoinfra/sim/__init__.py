"""The simulated cluster: the world the agents and baselines act on, fast enough for a full cell.

``Simulator(workload, config=SimConfig(...), scenario=None, seed=0)`` replays a
``autoinfra.traces.Workload`` (arrivals, requests, priorities, durations, machine additions and
removals) and decides placement itself; usage follows the workload's stated ``UsageModel``.
State is struct-of-arrays NumPy (``layout``), sequential work is numba (``kernels_*``), and the
surface (stepping, observing, forking, mutators, results) is described in docs/architecture.md.
"""

from autoinfra.sim.config import SimConfig
from autoinfra.sim.results import SimResults
from autoinfra.sim.simulator import Simulator

__all__ = ["SimConfig", "SimResults", "Simulator"]
