"""The world's state and its mechanics: machines, tasks, services, racks and links.

``ClusterState`` owns every array of the simulation and the operations that keep them consistent
(enqueue, place, finish, evict, re-spread service demand, step the usage shape, recompute rates),
each a thin wrapper over a numba kernel. It knows nothing about time-stepping, fault timelines or
who asked for a change: that is the ``Simulator``'s job. Keeping the two apart keeps each small
and lets the simulator's public methods read as a list of rules.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from autoinfra.core.observation import MachineState
from autoinfra.sim.config import SimSettings
from autoinfra.sim.kernels import records as kr
from autoinfra.sim.kernels import search as ksr
from autoinfra.sim.kernels import slots as ks
from autoinfra.sim.kernels import tick as kst
from autoinfra.sim.kernels import usage as ku
from autoinfra.sim.layout import (
    F32,
    F64,
    I32,
    I64,
    L_WEIGHT,
    M_CHANGED,
    M_CORDON,
    M_CPU_CAP,
    M_CURVE,
    M_HEAD,
    M_ISOLATED,
    M_MEM_CAP,
    M_NTASKS,
    M_PLATFORM,
    M_PREV,
    M_RACK,
    M_SCHED,
    M_STATE,
    N_LF,
    N_MF,
    N_MI,
    N_PRIO,
    N_QF,
    N_QI,
    N_RF,
    N_TOT,
    N_VF,
    N_VI,
    Q_CPU_BASE,
    Q_CPU_REQ,
    Q_ID,
    Q_MEM_REQ,
    Q_MEM_USE,
    Q_PRIO,
    Q_PROF,
    Q_SVC,
    Q_TRIED,
    Q_WORK,
    S_NEXT,
    S_TASK,
    ST_ENDED,
    ST_PENDING,
    ST_RUNNING,
    V_BASE_DEM,
    V_CPU_REQ,
    V_DEMAND,
    V_DESIRED,
    V_DIRTY,
    V_HEAD,
    V_LIMIT,
    V_MAX,
    V_MEM_PER,
    V_MIN,
    V_PER,
    V_PLACED,
    V_PRIO,
    V_PROF,
    CompletionHeap,
    PendingQueue,
    SlotPool,
    queue_key,
)
from autoinfra.sim.power import curve_for_capacity, curve_points, platform_curves
from autoinfra.sim.records import TaskRecords
from autoinfra.traces.tables import Workload

# which MachineState values run tasks (indexed by state value, for the kernels)
RUNNING_STATES = np.zeros(6, dtype=np.int8)
RUNNING_STATES[[MachineState.ON, MachineState.DRAINING]] = 1
_NONE_I = np.zeros(0, dtype=np.int32)
_NONE_F = np.zeros(0, dtype=np.float32)
_FEW_ROWS = 8  # up to this many tasks, ``enqueue`` builds their rows in Python (``_spec_few``)


class ClusterState:
    """Every array of one simulated cluster, and the operations that keep them consistent."""

    def __init__(self, workload: Workload, config: SimSettings, rng: np.random.Generator) -> None:
        self.workload = workload
        self.config = config
        self.reclaim_below = 0  # tasks of priority below it are placed by reservations
        self.set_placement(config)
        self._init_machines(workload, config)
        self._init_services(workload, config)
        self.rec = TaskRecords(workload)
        n0 = self.rec.n_workload
        # start small and double: how many tasks run at once is not known in advance
        self.pool = SlotPool(min(max(256, n0 // 8), 1 << 16))
        self.heap = CompletionHeap(self.pool.capacity)
        self.queue = PendingQueue()
        self.tot: F64 = np.zeros(N_TOT, dtype=np.float64)
        shapes = np.asarray(workload.usage.shapes, dtype=np.float32)
        self.shapes = shapes if shapes.size else np.ones((1, 1), dtype=np.float32)
        self.step_index = -1
        t = workload.tasks
        self._clip_tasks = bool(
            len(t)
            and (
                t.priority.min() < 0
                or t.priority.max() >= N_PRIO
                or t.profile.min() < 0
                or t.profile.max() >= self.shapes.shape[0]
            )
        )
        self.shape_col = np.ascontiguousarray(self.shapes[:, 0])
        # the placement kernel's own xorshift state (random scan starts)
        self.rng_state = np.array([int(rng.integers(1, 2**63 - 1))], dtype=np.uint64)
        # requests that fit nowhere, remembered across placement rounds (see kernels/slots.py)
        # (one set placing by requests, one by reservations)
        self.fail: F64 = np.zeros((2, 3, ksr.FAIL_MEMORY), dtype=np.float64)
        self.nfail = np.zeros(2, dtype=np.int64)
        self.place_stats = np.zeros(ksr.N_STATS, dtype=np.int64)
        # per machine: free CPU, free memory (-inf: not schedulable), 1/capacities, free CPU and
        # memory by reservations (see place)
        self.room: F64 = np.full((self.n_machines, 6), -np.inf, dtype=np.float64)
        self.room[:, 2:4] = 0.0
        self.scan_scratch = np.zeros((2, self.n_machines), dtype=np.int64)
        self._scratch_i = np.zeros(1024, dtype=np.int32)
        self._scratch_f = np.zeros(1024, dtype=np.float64)
        self._count = np.zeros(1, dtype=np.int64)

    def set_placement(self, config: SimSettings) -> None:
        """Place by ``config.placement`` from the next round on (see ``SimSettings.placement``)."""
        self.config = config
        self.reclaim_below = ksr.PRODUCTION if config.placement == "reservations" else 0

    def _init_machines(self, workload: Workload, config: SimSettings) -> None:
        mt = workload.machines
        ids, first = np.unique(mt.machine_id, return_index=True)
        self.machine_ids: I64 = ids[np.argsort(first, kind="stable")].astype(np.int64)
        self.machine_ids.setflags(write=False)
        n = self.n_machines = int(self.machine_ids.shape[0])
        # slot of each machine-event row, for replaying the trace's ADD/REMOVE/UPDATE
        lookup = np.argsort(self.machine_ids, kind="stable")
        pos = np.searchsorted(self.machine_ids[lookup], mt.machine_id)
        self.event_slot: I32 = lookup[pos].astype(np.int32)
        self.mf: F64 = np.zeros((N_MF, n), dtype=np.float64)
        self.mi: I32 = np.zeros((N_MI, n), dtype=np.int32)
        self.mi[M_HEAD] = -1
        self.mi[M_STATE] = MachineState.ABSENT
        self.mi[M_PREV] = MachineState.ABSENT
        # per machine and priority: CPU and memory requests placed [0, 1], reservations [2, 3]
        self.mprio: F64 = np.zeros((n, 4, N_PRIO), dtype=np.float64)
        self.platform_curve: I32 = platform_curves(mt.platform, mt.cpu, len(mt.platforms))
        self.curves: F64 = curve_points(config.power_model)
        # machines are racked in slot order; each rack has uplinks_per_rack links to the spine
        self.mi[M_RACK] = np.arange(n, dtype=np.int32) // config.rack_size
        self.machine_rack: I32 = self.mi[M_RACK].copy()  # fixed: racks never change
        self.machine_rack.setflags(write=False)
        self.n_racks = max(1, math.ceil(n / config.rack_size))
        self.n_links = self.n_racks * config.uplinks_per_rack
        self.lf: F64 = np.zeros((N_LF, self.n_links), dtype=np.float64)
        self.lf[L_WEIGHT] = 1.0 / config.uplinks_per_rack
        self.rf: F64 = np.zeros((N_RF, self.n_racks), dtype=np.float64)
        self.link_rack: I32 = (np.arange(self.n_links) // config.uplinks_per_rack).astype(np.int32)
        self.link_rack.setflags(write=False)
        self.link_capacity_mbps = config.link_capacity_gbps * 1000.0

    def _init_services(self, workload: Workload, config: SimSettings) -> None:
        svc = workload.services
        ns = self.n_services = len(svc)
        self.vf: F64 = np.zeros((N_VF, ns), dtype=np.float64)
        self.vi: I32 = np.zeros((N_VI, ns), dtype=np.int32)
        self.vf[V_CPU_REQ] = svc.cpu_request
        self.vf[V_LIMIT] = svc.cpu_request.astype(np.float64) * config.service_cpu_limit_ratio
        self.vf[V_BASE_DEM] = svc.base_cpu_demand
        # the demand the trace gives each service; ``set_service_share`` scales from it
        self.trace_cpu_demand: F64 = np.array(svc.base_cpu_demand, dtype=np.float64)
        self.vf[V_MEM_PER] = svc.base_mem_demand / np.maximum(svc.initial_replicas, 1)
        # each service's memory request per replica, and which services were resized (their
        # replicas, the workload's own included, are placed with the requests now in force)
        self.svc_mem_req: F64 = np.array(svc.mem_request, dtype=np.float64).reshape(ns)
        self.svc_resized = np.zeros(ns, dtype=bool)
        self.vi[V_DESIRED] = svc.initial_replicas
        self.vi[V_MIN] = svc.min_replicas
        self.vi[V_MAX] = svc.max_replicas
        self.vi[V_PRIO] = np.clip(svc.priority, 0, N_PRIO - 1)
        self.vi[V_PROF] = svc.profile
        self.vi[V_HEAD] = -1
        self.service_ids: I64 = np.asarray(workload.job_ids, dtype=np.int64)[svc.job]
        self.service_ids.setflags(write=False)
        # each service's replicas: the workload's own, then those created on scale-up
        members = np.flatnonzero(workload.tasks.service >= 0)
        self.svc_tasks: list[list[int]] = [[] for _ in range(ns)]
        for tid, s in zip(members.tolist(), workload.tasks.service[members].tolist(), strict=True):
            self.svc_tasks[s].append(tid)

    def _slot_args(self) -> tuple[F64, I32, F64, F64, F32, I32, I32, I32, I64]:
        """The arrays every slot-moving kernel takes, in their order."""
        p = self.pool
        return (self.mf, self.mi, self.mprio, p.sv, p.sf, p.si, self.vi, p.free, p.nfree)

    def _scratch(self, n: int) -> tuple[I32, F64]:
        if self._scratch_i.shape[0] < n:
            size = max(n, 2 * self._scratch_i.shape[0])
            self._scratch_i = np.zeros(size, dtype=np.int32)
            self._scratch_f = np.zeros(size, dtype=np.float64)
        return self._scratch_i, self._scratch_f

    # --- machines ---

    def set_state(self, m: int, state: int) -> None:
        self.mi[M_STATE, m] = state
        self.update_sched(m)

    def update_sched(self, m: int) -> None:
        mi = self.mi
        ok = mi[M_STATE, m] == MachineState.ON and mi[M_CORDON, m] == 0 and mi[M_ISOLATED, m] == 0
        mi[M_SCHED, m] = 1 if ok else 0
        mi[M_CHANGED, m] = 1  # placement retries look here

    def set_capacity(self, m: int, cpu: float, mem: float, platform: int) -> None:
        """Capacities from a trace ADD/UPDATE (missing values count as 0)."""
        self.mf[M_CPU_CAP, m] = max(cpu, 0.0) if math.isfinite(cpu) else 0.0
        self.mf[M_MEM_CAP, m] = max(mem, 0.0) if math.isfinite(mem) else 0.0
        self.mi[M_PLATFORM, m] = platform
        self.mi[M_CHANGED, m] = 1
        if 0 <= platform < self.platform_curve.shape[0]:
            self.mi[M_CURVE, m] = self.platform_curve[platform]
        else:
            self.mi[M_CURVE, m] = curve_for_capacity(float(self.mf[M_CPU_CAP, m]))

    def add_machines(
        self, slots: npt.NDArray[np.int32], cpu: F32, mem: F32, platform: npt.NDArray[np.int16]
    ) -> None:
        """Trace ADDs of absent machines, all at once: ``set_capacity`` then ``set_state(ON)``
        for each, as arrays (a whole cell is added at t = 0; one by one that took 0.5 s)."""
        c = np.asarray(cpu, dtype=np.float64)
        mm = np.asarray(mem, dtype=np.float64)
        self.mf[M_CPU_CAP, slots] = np.where(np.isfinite(c), np.maximum(c, 0.0), 0.0)
        self.mf[M_MEM_CAP, slots] = np.where(np.isfinite(mm), np.maximum(mm, 0.0), 0.0)
        plat = np.asarray(platform, dtype=np.int64)
        self.mi[M_PLATFORM, slots] = plat
        known = (plat >= 0) & (plat < self.platform_curve.shape[0])
        curve = np.empty(slots.shape[0], dtype=np.int64)
        curve[known] = self.platform_curve[plat[known]]
        for k in np.flatnonzero(~known).tolist():
            curve[k] = curve_for_capacity(float(self.mf[M_CPU_CAP, slots[k]]))
        self.mi[M_CURVE, slots] = curve
        self.mi[M_STATE, slots] = int(MachineState.ON)
        ok = (self.mi[M_CORDON, slots] == 0) & (self.mi[M_ISOLATED, slots] == 0)
        self.mi[M_SCHED, slots] = ok.astype(self.mi.dtype)
        self.mi[M_CHANGED, slots] = 1

    def machine_tasks(self, m: int) -> I32:
        """Ids of the tasks placed on machine m (stranded ones included)."""
        si = self.pool.si
        slots = []
        slot = int(self.mi[M_HEAD, m])
        while slot >= 0:
            slots.append(slot)
            slot = int(si[S_NEXT, slot])
        return si[S_TASK, np.asarray(slots, dtype=np.int64)].astype(np.int32)

    # --- tasks ---

    def create_replicas(self, service: int, count: int, now: float) -> I32:
        """New replica tasks of ``service`` submitted now (a scale-up); returns their ids."""
        ids = self.rec.create(service, count, now)
        self.svc_tasks[service].extend(ids.tolist())
        return ids

    def enqueue(self, ids: I32) -> None:
        """Put tasks in the pending queue, with what placing them needs."""
        if ids.size == 0:
            return
        ids = ids.astype(np.int32)
        k = ids.shape[0]
        if k <= _FEW_ROWS:  # a scale-up or a few evictions: rows from scalars, same values
            few = ids.tolist()
            status, slot = self.rec.status, self.rec.slot
            for tid in few:
                status[tid] = ST_PENDING
                slot[tid] = -1
            self.queue.push(*self._spec_few(few))
            return
        qf = np.empty((k, N_QF), dtype=np.float32)
        qi = np.empty((k, N_QI), dtype=np.int32)
        qi[:, Q_ID] = ids
        qi[:, Q_TRIED] = 0
        own = ids < self.rec.n_workload
        if own.all():
            self._spec_workload(ids, qf, qi)
        elif not own.any():  # created replicas only (a scale-up)
            self._spec_created(ids, qf, qi)
        else:
            wi, xi = np.flatnonzero(own), np.flatnonzero(~own)
            if wi.size:
                sub_f, sub_i = qf[wi], qi[wi]
                self._spec_workload(ids[wi], sub_f, sub_i)
                qf[wi], qi[wi] = sub_f, sub_i
            sub_f, sub_i = qf[xi], qi[xi]
            self._spec_created(ids[xi], sub_f, sub_i)
            qf[xi], qi[xi] = sub_f, sub_i
        self.rec.status[ids] = ST_PENDING
        self.rec.slot[ids] = -1
        self.queue.push(queue_key(qi[:, Q_PRIO], ids), qf, qi)

    def _spec_few(self, ids: list[int]) -> tuple[I64, F32, I32]:
        """Key, ``qf`` and ``qi`` rows of a few tasks: ``_spec_workload`` / ``_spec_created``
        row by row. Each NumPy call on a whole column costs about a microsecond whatever its
        length, and a learner scaling one service enqueues one or two replicas a step."""
        t, vf, vi, x_service = self.workload.tasks, self.vf, self.vi, self.rec.x_service
        n_workload, resized = self.rec.n_workload, self.svc_resized
        rows_f, rows_i, keys = [], [], []
        for tid in ids:
            if tid < n_workload:
                cpu, mem = t.cpu_request[tid], t.mem_request[tid]
                # the products in the columns' own dtype, as the array version computes them
                base, mem_use = cpu * t.cpu_usage_ratio[tid], mem * t.mem_usage_ratio[tid]
                prio, prof, svc = int(t.priority[tid]), int(t.profile[tid]), int(t.service[tid])
                cpu_req, mem_req = float(cpu), float(mem)
                if svc >= 0 and resized[svc]:  # a resized service's replicas: its new requests
                    cpu_req, mem_req = float(vf[V_CPU_REQ, svc]), float(self.svc_mem_req[svc])
                if self._clip_tasks:
                    prio = min(max(prio, 0), N_PRIO - 1)
                    prof = min(max(prof, 0), self.shapes.shape[0] - 1)
                rows_f.append((cpu_req, mem_req, float(t.duration_s[tid]), float(base),
                               float(mem_use)))  # fmt: skip
            else:
                svc = int(x_service[tid - n_workload])
                prio, prof = int(vi[V_PRIO, svc]), int(vi[V_PROF, svc])
                rows_f.append((float(vf[V_CPU_REQ, svc]), float(self.svc_mem_req[svc]), np.inf,
                               0.0, float(vf[V_MEM_PER, svc])))  # fmt: skip
            rows_i.append((tid, prio, prof, svc, 0))
            keys.append(((N_PRIO - 1 - prio) << 32) | tid)  # queue_key, in Python integers
        # float64 -> float32 on conversion: the rounding a column assignment makes
        qf = np.array(rows_f, dtype=np.float32).reshape(len(ids), N_QF)
        qi = np.array(rows_i, dtype=np.int32).reshape(len(ids), N_QI)
        return np.array(keys, dtype=np.int64), qf, qi

    def _spec_created(self, ids: I32, qf: F32, qi: I32) -> None:
        s = self.rec.x_service[ids - self.rec.n_workload]
        qf[:, Q_CPU_REQ] = self.vf[V_CPU_REQ, s]
        qf[:, Q_MEM_REQ] = self.svc_mem_req[s]
        qf[:, Q_WORK] = np.inf
        qf[:, Q_CPU_BASE] = 0.0
        qf[:, Q_MEM_USE] = self.vf[V_MEM_PER, s]
        qi[:, Q_PRIO] = self.vi[V_PRIO, s]
        qi[:, Q_PROF] = self.vi[V_PROF, s]
        qi[:, Q_SVC] = s

    def _spec_workload(self, ids: I32, qf: F32, qi: I32) -> None:
        t = self.workload.tasks
        kr.workload_rows(
            ids, qf, qi, t.duration_s, t.cpu_request, t.mem_request, t.cpu_usage_ratio,
            t.mem_usage_ratio, t.priority, t.profile, t.service,
        )  # fmt: skip
        if self.svc_resized.any():  # a resized service's replicas ask for its new requests
            svc = qi[:, Q_SVC]
            hit = svc >= 0
            hit[hit] = self.svc_resized[svc[hit]]
            qf[hit, Q_CPU_REQ] = self.vf[V_CPU_REQ, svc[hit]]
            qf[hit, Q_MEM_REQ] = self.svc_mem_req[svc[hit]]
        if self._clip_tasks:  # out-of-range codes in the input (checked once, at start)
            np.clip(qi[:, Q_PRIO], 0, N_PRIO - 1, out=qi[:, Q_PRIO])
            np.clip(qi[:, Q_PROF], 0, self.shapes.shape[0] - 1, out=qi[:, Q_PROF])

    def place(self, now: float) -> tuple[int, I32, F32]:
        """Place what fits; returns (placed count, preempted task ids, their work lost)."""
        q = self.queue
        # (count_nonzero: the same answer as .any(), at a third of its fixed cost a call)
        if len(q) == 0 or (not q.has_untried() and not np.count_nonzero(self.mi[M_CHANGED])):
            return 0, _NONE_I, _NONE_F  # every waiting task was refused and nothing changed
        placed, victims, lost = self._place_round(now)
        while self.pool.nfree[0] == 0 and len(self.queue):
            # the round ran out of slots: grow the pool and let the rest of the queue have its go
            more, v, lo = self._place_round(now)
            placed += more
            victims, lost = np.concatenate([victims, v]), np.concatenate([lost, lo])
            if more == 0 and self.pool.nfree[0] > 0:
                break
        if victims.size:
            self.requeue_evicted(victims, lost)
        return placed, victims, lost

    def _place_round(self, now: float) -> tuple[int, I32, F32]:
        q = self.queue
        nq = len(q)
        if nq == 0:
            return 0, _NONE_I, _NONE_F
        p, h, cfg = self.pool, self.heap, self.config
        # room for a round's placements (grown and re-run by ``place`` if it runs out)
        used = p.used
        if int(p.nfree[0]) < min(nq, max(1024, used // 8)):
            p.ensure_free(min(nq, max(1024, used // 8)))
            used = p.used
        if int(h.n[0]) > 2 * used + 4096:
            h.purge(p.si)  # evicted tasks leave stale entries behind
        h.ensure_room(min(nq, int(p.nfree[0])))  # at most one entry per placement
        out_slot = np.empty(nq, dtype=np.int32)
        out_ids = np.empty(nq, dtype=np.int32)
        out_slots = np.empty(nq, dtype=np.int32)
        vic_task, vic_lost = self._scratch(p.used + nq)
        self._count[0] = 0
        placed = ks.place(
            q.qf, q.qi, self.mf, self.mi, self.mprio, p.sv, p.sf, p.si, self.vf, self.vi,
            p.free, p.nfree, h.t, h.s, h.n, self.rng_state, self.fail, self.nfail,
            self.shape_col, now, cfg.fit == "best", cfg.candidates, cfg.scan_limit,
            cfg.preemption, self.room, self.scan_scratch, out_slot, out_ids, out_slots, vic_task,
            vic_lost, self._count, self.place_stats, self.reclaim_below,
        )  # fmt: skip
        q.tried()
        nv = int(self._count[0])
        if nv:
            victims = vic_task[:nv].copy()
            lost = vic_lost[:nv].astype(np.float32)
        else:  # the usual round: nobody preempted (the empty results are never written to)
            victims, lost = _NONE_I, _NONE_F
        if placed:
            q.keep(out_slot < 0)
            rec = self.rec
            if placed <= _FEW_ROWS:  # element by element: five array calls cost more
                status, slot_of, start = rec.status, rec.slot, rec.start
                for tid, slot in zip(out_ids[:placed].tolist(), out_slots[:placed].tolist(),
                                     strict=True):  # fmt: skip
                    status[tid] = ST_RUNNING
                    slot_of[tid] = slot
                    if math.isnan(start[tid]):
                        start[tid] = now
            else:
                ids = out_ids[:placed]
                rec.status[ids] = ST_RUNNING
                rec.slot[ids] = out_slots[:placed]
                first = np.isnan(rec.start[ids])
                rec.start[ids[first]] = now
        return placed, victims, lost

    def requeue_evicted(self, ids: I32, lost: F32) -> None:
        """Tasks thrown off their machine go back to the queue; their progress is lost."""
        kr.add_evictions(ids, lost, self.rec.evictions, self.rec.lost)  # rec.evicted, compiled
        self.enqueue(ids)

    def complete(self, now: float, dt: float) -> I32:
        """Finish the tasks whose work is done; returns their ids."""
        h = self.heap
        if h.n[0] == 0 or h.t[0] > now + ks.EPS:
            return _NONE_I  # nothing can have finished yet
        out_task, out_end = self._scratch(self.pool.used)
        cnt = ks.complete(now, dt, h.t, h.s, h.n, *self._slot_args(), out_task, out_end)
        if cnt == 0:
            return _NONE_I
        ids = out_task[:cnt].copy()
        rec = self.rec  # rec.finish(ids, ends, None), compiled: this runs every tick
        kr.finish_records(ids, out_end, rec.status, rec.slot, rec.end, rec.end_reason,
                          self.workload.tasks.end, rec.n_workload)  # fmt: skip
        return ids

    def evict_machine(self, m: int) -> tuple[I32, F32]:
        """Throw every task off machine m back into the queue; returns their ids and work lost."""
        n = int(self.mi[M_NTASKS, m])
        if n == 0:
            return _NONE_I, _NONE_F
        out_task, out_lost = self._scratch(n)
        cnt = ks.evict_machine(m, *self._slot_args(), out_task, out_lost)
        ids = out_task[:cnt].copy()
        lost = out_lost[:cnt].astype(np.float32)
        self.requeue_evicted(ids, lost)
        return ids, lost

    def remove_running(self, ids: I32) -> F32:
        """Free the slots of running tasks without requeueing them; returns their work lost."""
        slots = self.rec.slot[ids].astype(np.int64)
        lost = np.zeros(ids.shape[0], dtype=np.float64)
        ks.remove_slots(slots, *self._slot_args(), lost)
        self.rec.slot[ids] = -1
        return lost.astype(np.float32)

    def relieve_memory(self) -> tuple[I32, F32]:
        """Kill lowest-priority tasks where memory used exceeds capacity; they are requeued."""
        out_task, out_lost = self._scratch(self.pool.used)
        self._count[0] = 0
        ks.relieve_memory(RUNNING_STATES, *self._slot_args(), out_task, out_lost, self._count)
        nv = int(self._count[0])
        if nv == 0:
            return _NONE_I, _NONE_F
        ids = out_task[:nv].copy()
        lost = out_lost[:nv].astype(np.float32)
        self.requeue_evicted(ids, lost)
        return ids, lost

    def drop_pending(self, ids: I32) -> None:
        """Take tasks out of the pending queue (a service scaled down)."""
        col = self.queue.qi[:, Q_ID]
        if ids.size <= 8:  # the usual case: a few replicas; np.isin costs more than this
            keep = col != ids[0]
            for t in ids[1:]:
                keep &= col != t
        else:
            keep = ~np.isin(col, ids)
        self.queue.keep(keep)

    # --- usage and rates ---

    def set_usage_step(self, t_s: float) -> bool:
        """Move to the usage shape's step at workload time t_s; True if the step changed."""
        usage = self.workload.usage
        n_steps = self.shapes.shape[1]
        step = int(t_s // usage.step_s) % n_steps if usage.step_s > 0 else 0
        if step == self.step_index:
            return False
        self.step_index = step
        self.shape_col = np.ascontiguousarray(self.shapes[:, step])
        if self.n_services:
            prof = np.clip(self.vi[V_PROF], 0, self.shapes.shape[0] - 1)
            self.vf[V_DEMAND] = self.vf[V_BASE_DEM] * self.shape_col[prof]
            placed = self.vi[V_PLACED]
            per = np.zeros(self.n_services)
            np.divide(self.vf[V_DEMAND], placed, out=per, where=placed > 0)
            self.vf[V_PER] = np.minimum(per, self.vf[V_LIMIT])
            self.vi[V_DIRTY] = 0
        p = self.pool
        ku.recompute_sums(self.shape_col, self.vf, self.mf, self.mi, self.mprio, p.sf, p.si)
        if self.reclaim_below:  # usage moved: so do the reservations placement counts
            cfg = self.config
            keep = math.exp(-usage.step_s / cfg.reservation_decay_s) if usage.step_s > 0 else 1.0
            ku.update_reservations(
                t_s - self.workload.start_s, self.mf, self.mi, self.mprio, p.sf, p.si,
                cfg.reservation_margin, cfg.reservation_delay_s, keep,
                cfg.reclaim == "cpu+memory",
            )  # fmt: skip
        return True

    def respread_services(self) -> None:
        if self.n_services and np.count_nonzero(self.vi[V_DIRTY]):
            ku.respread_services(self.vf, self.vi, self.mf, self.pool.sf, self.pool.si)

    def refresh(self, now: float) -> None:
        """Rates, egress, power, link loads and service levels for the current state."""
        cfg = self.config
        kst.refresh_state(
            now, self.mf, self.mi, self.lf, self.rf, self.curves, self.pool.si, self.vf,
            self.vi, cfg.uplinks_per_rack, self.link_capacity_mbps, cfg.egress_mbps_per_cpu,
            cfg.slo_served_share, self.tot,
        )  # fmt: skip

    def advance_quiet(self, dt: float, k: int, now: float) -> None:
        """``k`` quiet ticks of ``dt`` ending at ``now`` (``sim.quiet``): progress clocks and
        heartbeats as k ticks would leave them (``kernels.tick.advance_quiet``)."""
        kst.advance_quiet(self.mf, self.mi, dt, k, now)

    # --- accounting ---

    def alive_replicas(self, service: int) -> I32:
        """Replicas of a service not ended (not yet submitted, pending or placed), oldest first."""
        members = self.svc_tasks[service]
        if len(members) <= 2 * _FEW_ROWS:  # a few replicas: one status look-up each
            status = self.rec.status
            kept = [tid for tid in members if status[tid] != ST_ENDED]
            if len(members) > 2 * len(kept) + 8:  # forget replicas long gone
                self.svc_tasks[service] = kept
            return np.array(kept, dtype=np.int32)
        ids = np.asarray(members, dtype=np.int32)
        alive = ids[self.rec.status[ids] != ST_ENDED]
        if len(members) > 2 * alive.shape[0] + 8:  # forget replicas long gone
            self.svc_tasks[service] = alive.tolist()
        return alive

    def state_bytes(self) -> dict[str, int]:
        """Bytes of simulator state by part (the workload's input tables are not counted)."""
        return {
            "task_records": self.rec.nbytes(),
            "slots": self.pool.nbytes(),
            "heap": self.heap.nbytes(),
            "queue": self.queue.nbytes(),
            "machines": int(self.mf.nbytes + self.mi.nbytes + self.mprio.nbytes),
            "services_network": int(
                self.vf.nbytes + self.vi.nbytes + self.lf.nbytes + self.rf.nbytes
            ),
        }
