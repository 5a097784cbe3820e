"""The simulated cluster: the world the agents and baselines act on, fast enough for a full cell.

``Simulator(workload, config=SimSettings(...), scenario=None, seed=0)`` replays a
``autoinfra.traces.Workload`` (arrivals, requests, priorities, durations, machine additions and
removals) and decides placement itself; the surface (stepping, observing, forking, results, and
``sim.writer``: the ``Mutations`` it owns) is described in docs/architecture.md. State is
struct-of-arrays NumPy (``layout``, held by ``state.ClusterState``), sequential work is numba
(``kernels/``).

The models, each stated where it is implemented:

- placement (``kernels.slots``): Borg-like feasibility on CPU and memory *requests*, best or
  first fit over a sampled scan, preemption of lower priorities (none within production); with
  ``SimSettings.placement = "reservations"`` non-production work is checked against the placed
  tasks' reservations instead (usage + margin, Borg's resource reclamation), production still
  against requests (``Simulator.set_placement`` lets a system choose);
- usage (``state``, ``kernels.usage``): a task's CPU demand is request x ratio x
  shape[profile, step], recomputed when the 5-minute step changes; a service's demand is
  base demand x shape, shared by its placed replicas up to their limit. Memory use is request x
  memory ratio, constant (the shapes are CPU series);
- contention, network, power, service levels (``kernels.tick``, ``power``): proportional CPU
  throttling, rack uplinks with weights and background load, SPECpower curves and a PUE;
- faults and their timelines (``incidents``), what monitoring sees (``observe``), outputs
  (``results``), the settings and their sources (``config``).
"""

from autoinfra.sim.config import SimSettings
from autoinfra.sim.results import SimResults
from autoinfra.sim.simulator import Simulator

__all__ = ["SimResults", "SimSettings", "Simulator"]
