"""Right-sizing in the cluster: a service's replicas get new CPU and memory requests, and the cost.

A request is what placement reserves and, with ``SimSettings.service_cpu_limit_ratio``, what a
replica may use: so a new request changes three things at once, and this module does all three:

- **Reservations.** Every placed replica's request changes in place (Borg changes limits in
  place; Rzadca et al., EuroSys 2020, section 2), its machine's allocated CPU and memory follow,
  and waiting or future replicas are placed with the new request. A replica that no longer fits
  its machine after a grow is moved: evicted to the pending queue, counted in ``resize_moves``.
- **CPU throttling.** The limit follows the request, so demand per replica above it is not
  served (the service's demand is re-spread at once). :meth:`Resizes.tick` counts the
  service-ticks a service that was resized spends with demand above its replicas' limits
  (``resize_throttled_ticks``): the CPU cost of a request cut too far.
- **Memory kills.** A replica whose memory use is above its new request is OOM-killed and
  requeued (``resize_oom_kills``), and killed again each tick it runs so, as a container in a
  crash loop would be: the memory cost of a request cut too far.

Services never resized cost nothing here: the tick's check walks only resized services.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from autoinfra.core.errors import SimulationError
from autoinfra.sim.layout import (
    F64,
    I32,
    M_CHANGED,
    M_CPU_ALLOC,
    M_CPU_CAP,
    M_CPU_RSV,
    M_MEM_ALLOC,
    M_MEM_CAP,
    M_MEM_RSV,
    Q_CPU_REQ,
    Q_MEM_REQ,
    Q_SVC,
    Q_TRIED,
    S_CPU_REQ,
    S_CPU_RSV,
    S_MACH,
    S_MEM_REQ,
    S_MEM_RSV,
    S_MEM_USE,
    S_PRIO,
    S_SNEXT,
    S_SVC,
    S_TASK,
    V_CPU_REQ,
    V_DEMAND,
    V_DIRTY,
    V_HEAD,
    V_LIMIT,
    V_MEM_PER,
    V_PLACED,
)
from autoinfra.sim.state import ClusterState

__all__ = ["ResizeResult", "Resizes", "service_memory_peak"]

_EPS = 1e-9
# memory use and requests are float32 in the slots: a use equal to its request must not be read
# as above it after rounding, so "above" means above by more than float32's precision
_REL = 1e-6


def _above(use: float, request: float) -> bool:
    return use > request * (1.0 + _REL) + _EPS


@dataclass(frozen=True, slots=True)
class ResizeResult:
    replicas: int  # placed replicas whose requests changed in place
    moved: int  # replicas that no longer fit their machine and were requeued
    oom_killed: int  # replicas killed because their memory use is above the new request


class Resizes:
    """The requests each service has now, and the costs of the ones a resize set."""

    def __init__(self, cluster: ClusterState) -> None:
        self.cluster = cluster
        # the requests live on the cluster state, which places new replicas with them
        self.mem_request: F64 = cluster.svc_mem_req
        self.resized = cluster.svc_resized
        self.peak_mem_use = _peak_memory_use(cluster)
        self._short = np.zeros(cluster.n_services, dtype=bool)  # some replica would be OOM-killed
        self.counters = {"resizes": 0, "resize_moves": 0, "resize_oom_kills": 0,
                         "resize_throttled_ticks": 0}  # fmt: skip

    def resize(self, service: int, cpu_request: float, mem_request: float) -> ResizeResult:
        w = self.cluster
        s = int(service)
        if not 0 <= s < w.n_services:
            raise SimulationError(f"no service {service}: indices are 0..{w.n_services - 1}")
        for name, value in (("cpu_request", cpu_request), ("mem_request", mem_request)):
            if not (math.isfinite(value) and 0.0 < value <= 1.0):
                raise SimulationError(f"service {s}: {name} {value!r} is outside (0, 1]")
        cpu, mem = float(cpu_request), float(mem_request)
        w.vf[V_CPU_REQ, s] = cpu
        w.vf[V_LIMIT, s] = cpu * w.config.service_cpu_limit_ratio
        self.mem_request[s] = mem
        self.resized[s] = True
        self._short[s] = _above(float(self.peak_mem_use[s]), mem)
        self.counters["resizes"] += 1
        q = w.queue
        if len(q):
            rows = q.qi[:, Q_SVC] == s
            q.qf[rows, Q_CPU_REQ] = cpu
            q.qf[rows, Q_MEM_REQ] = mem
            q.qi[rows, Q_TRIED] = 0  # a smaller request may fit where the old one did not
        changed, moved, killed = self._placed(s, cpu, mem)
        w.vi[V_DIRTY, s] = 1  # the limit changed: re-spread the demand over the replicas
        w.respread_services()
        return ResizeResult(changed, moved, killed)

    def _placed(self, s: int, cpu: float, mem: float) -> tuple[int, int, int]:
        """Change the placed replicas' requests; move or kill what no longer fits."""
        w = self.cluster
        sf, si, mf, mi = w.pool.sf, w.pool.si, w.mf, w.mi
        moves: list[int] = []
        kills: list[int] = []
        leaving: dict[int, tuple[float, float]] = {}  # machine -> requests of replicas moved off
        changed = 0
        slot = int(w.vi[V_HEAD, s])
        while slot >= 0:
            m, p = int(si[S_MACH, slot]), int(si[S_PRIO, slot])
            dc = cpu - float(sf[S_CPU_REQ, slot])
            dm = mem - float(sf[S_MEM_REQ, slot])
            sf[S_CPU_REQ, slot], sf[S_MEM_REQ, slot] = cpu, mem
            mf[M_CPU_ALLOC, m] += dc
            mf[M_MEM_ALLOC, m] += dm
            w.mprio[m, 0, p] += dc
            w.mprio[m, 1, p] += dm
            mi[M_CHANGED, m] = 1  # free room changed: placement looks here again
            # a reservation (usage estimate + margin, placement by reservations) moves with its
            # request: a grow adds the same amount (an unestimated reservation equals its request
            # and must stay so), and it never exceeds the request it estimates within
            for row, rsv, sums, grow, new in (
                (S_CPU_RSV, M_CPU_RSV, 2, dc, cpu),
                (S_MEM_RSV, M_MEM_RSV, 3, dm, mem),
            ):
                old_rsv = float(sf[row, slot])
                moved = min(new, old_rsv + max(grow, 0.0)) - old_rsv
                if moved != 0.0:
                    sf[row, slot] = old_rsv + moved
                    mf[rsv, m] += moved
                    w.mprio[m, sums, p] += moved
            changed += 1
            task = int(si[S_TASK, slot])
            gone_c, gone_m = leaving.get(m, (0.0, 0.0))
            if _above(float(sf[S_MEM_USE, slot]), mem):
                kills.append(task)
                leaving[m] = (gone_c + cpu, gone_m + mem)
            elif (mf[M_CPU_ALLOC, m] - gone_c > mf[M_CPU_CAP, m] + _EPS
                  or mf[M_MEM_ALLOC, m] - gone_m > mf[M_MEM_CAP, m] + _EPS):  # fmt: skip
                moves.append(task)  # it leaves: later replicas may still fit here
                leaving[m] = (gone_c + cpu, gone_m + mem)
            slot = int(si[S_SNEXT, slot])
        self._requeue(np.asarray(moves + kills, dtype=np.int32))
        self.counters["resize_moves"] += len(moves)
        self.counters["resize_oom_kills"] += len(kills)
        return changed, len(moves), len(kills)

    def _requeue(self, ids: I32) -> None:
        if ids.size:
            w = self.cluster
            lost = w.remove_running(ids)
            w.requeue_evicted(ids, lost)

    def tick(self) -> int:
        """Once per tick after placement: kill replicas of resized services that run above their
        memory request, and count resized services throttled by their new limit. Returns kills."""
        if not self.resized.any():
            return 0
        w = self.cluster
        services = np.flatnonzero(self.resized)
        placed = w.vi[V_PLACED, services]
        demand = w.vf[V_DEMAND, services]
        limit = w.vf[V_LIMIT, services]
        throttled = (placed > 0) & (demand > placed * limit * (1 + 1e-6))
        self.counters["resize_throttled_ticks"] += int(np.count_nonzero(throttled))
        sf, si = w.pool.sf, w.pool.si
        kills: list[int] = []
        for s in np.flatnonzero(self._short).tolist():  # only where a replica uses too much
            mem = float(self.mem_request[s])
            slot = int(w.vi[V_HEAD, s])
            while slot >= 0:
                if _above(float(sf[S_MEM_USE, slot]), mem):
                    kills.append(int(si[S_TASK, slot]))
                slot = int(si[S_SNEXT, slot])
        self._requeue(np.asarray(kills, dtype=np.int32))
        self.counters["resize_oom_kills"] += len(kills)
        return len(kills)


def _peak_memory_use(cluster: ClusterState) -> F64:
    """The most memory any replica of each service uses: the workload's own replicas' use
    (request x ratio) and the use the simulator gives replicas it creates."""
    w = cluster
    peak = np.array(w.vf[V_MEM_PER], dtype=np.float64)
    t = w.workload.tasks
    member = np.flatnonzero(t.service >= 0)
    if member.size:
        use = t.mem_request[member].astype(np.float64) * t.mem_usage_ratio[member]
        np.maximum.at(peak, t.service[member], use)
    return peak


def service_memory_peak(cluster: ClusterState) -> F64:
    """What monitoring sees: the largest memory use among each service's running replicas."""
    p = cluster.pool
    peak = np.zeros(cluster.n_services, dtype=np.float64)
    svc = p.si[S_SVC]
    live = (p.si[S_TASK] >= 0) & (svc >= 0)
    if live.any():
        np.maximum.at(peak, svc[live], p.sf[S_MEM_USE][live].astype(np.float64))
    return peak
