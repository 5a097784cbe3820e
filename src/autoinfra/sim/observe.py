"""What monitoring would see of the simulated cluster: an ``Observation`` built from the arrays.

Monitoring does not see the simulator's truth. A FAILED machine is reported in the state it was
last known in, with the figures of its last report (CPU, memory, egress, throttling frozen at the
failure) and a heartbeat age that grows; the control plane still counts its placed tasks. A hog
shows up only as CPU used beyond the tasks' demand, an intruder as CPU and unusual egress.

Arrays are copies (float32 where the Observation says so), so an observation stays a snapshot
while the simulation moves on. Extra keys in ``Observation.extra``:

- ``service_cpu_demand``: each service's CPU demand now (what its load asks for; a request-rate
  metric would show it),
- ``service_max_replicas``, ``service_slo_violating`` (bool: served below the SLO share),
- ``link_capacity_mbps``, ``tick_s``, ``machine_platform`` (index into the trace's platforms),
- ``cpu_counted`` / ``mem_counted``: per machine, what placement counts as taken (requests, or
  for non-production work its reservations when the run places by reservations),
- ``reservation_decay_s`` (only when placing by reservations): the time constant reservations
  decay with (``SimSettings.reservation_decay_s``); no reservation falls faster,
- ``service_mem_request`` (per replica) and ``service_mem_peak`` (the most memory any running
  replica of the service uses, as a container runtime reports per container): right-sizing.
- ``work_at_risk_s``: per machine, the seconds the batch tasks on it have run since they were
  placed (what a drain throws away: an evicted task starts over; services are left out). A
  monitoring system sees it as the tasks' start times; ``core.observation.work_at_risk_s``.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from autoinfra.core.observation import Observation
from autoinfra.sim.kernels.observe import machine_view, service_view
from autoinfra.sim.layout import S_MACH, S_PLACED, S_TASK, S_WORK, T_POWER
from autoinfra.sim.resize import service_memory_peak
from autoinfra.sim.state import ClusterState


def build_observation(cluster: ClusterState, now: float) -> Observation:
    state, sched, f, tasks, platform = machine_view(now, cluster.mf, cluster.mi)
    sf, si, links, pend_c, pend_m = service_view(
        cluster.vf, cluster.vi, cluster.lf, cluster.queue.qf
    )
    return Observation(
        time_s=now,
        machine_ids=cluster.machine_ids,
        machine_state=state,
        schedulable=sched,
        cpu_capacity=f[0],
        mem_capacity=f[1],
        cpu_requested=f[2],
        mem_requested=f[3],
        cpu_used=f[4],
        mem_used=f[5],
        cpu_throttled_share=f[6],
        tasks_running=tasks,
        heartbeat_age_s=f[8],
        egress_mbps=f[7],
        rack=cluster.machine_rack,
        link_rack=cluster.link_rack,
        link_utilization=links,
        service_ids=cluster.service_ids,
        service_replicas=si[0],
        service_running=si[1],
        service_cpu_request=sf[0],
        service_cpu_used=sf[1],
        service_min_replicas=si[2],
        pending_tasks=len(cluster.queue),
        pending_cpu=pend_c,
        pending_mem=pend_m,
        power_w=float(cluster.tot[T_POWER]),
        extra={
            "service_cpu_demand": sf[2],
            "service_max_replicas": si[3],
            "service_slo_violating": si[4] != 0,
            "link_capacity_mbps": cluster.link_capacity_mbps,
            "tick_s": cluster.config.tick_s,
            "machine_platform": platform,
            "n_services": cluster.n_services,
            "service_mem_request": cluster.svc_mem_req.copy(),
            "service_mem_peak": service_memory_peak(cluster),
            # what placement counts on each machine: requests of production work, and of the rest
            # their reservations when the run places by reservations (consolidation packs these)
            "cpu_counted": _counted(cluster, 0),
            "mem_counted": _counted(cluster, 1),
            "work_at_risk_s": _work_at_risk(cluster, now),
            **_reservation_model(cluster),
        },
    )


def _work_at_risk(cluster: ClusterState, now: float) -> npt.NDArray[np.float32]:
    """Per machine, the summed time since placement of its running batch tasks (a service's
    slot has no finite work: it never finishes, so an eviction loses it no progress)."""
    si, sf = cluster.pool.si, cluster.pool.sf
    batch = (si[S_TASK] >= 0) & np.isfinite(sf[S_WORK])
    age = np.maximum(now - sf[S_PLACED][batch].astype(np.float64), 0.0)
    machines = si[S_MACH][batch].astype(np.int64)
    return np.bincount(machines, weights=age, minlength=cluster.n_machines).astype(np.float32)


def _reservation_model(cluster: ClusterState) -> dict[str, object]:
    """What the backend declares of its reservations: how fast they may fall (the gate believes
    a reported fall of what placement counts no faster than this; ``oversight.headroom``)."""
    if not cluster.reclaim_below:
        return {}
    return {"reservation_decay_s": float(cluster.config.reservation_decay_s)}


def _counted(cluster: ClusterState, resource: int) -> npt.NDArray[np.float32]:
    """Per machine, the CPU (0) or memory (1) placement counts as taken."""
    below = int(cluster.reclaim_below)
    requests = cluster.mprio[:, resource, below:].sum(axis=1)
    reserved = cluster.mprio[:, 2 + resource, :below].sum(axis=1) if below else 0.0
    return np.asarray(requests + reserved, dtype=np.float32)
