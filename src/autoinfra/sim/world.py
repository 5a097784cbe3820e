"""The world's state and its mechanics: machines, tasks, services, racks and links.

``World`` owns every array of the simulation and the operations that keep them consistent
(enqueue, place, finish, evict, re-spread service demand, step the usage shape, recompute rates).
It knows nothing about time-stepping, faults' timelines or who asked for a change: that is the
``Simulator``'s job. Keeping the two apart keeps each small and lets the simulator's public
methods read as a list of rules.

Tasks created by the simulator itself (replicas added when a service is scaled up) get ids after
the workload's (``n_workload_tasks`` and up); their attributes come from the service table.
"""

from __future__ import annotations

import math

import numpy as np

from autoinfra.core.observation import MachineState
from autoinfra.sim import kernels_slots as ks
from autoinfra.sim import kernels_state as kst
from autoinfra.sim import kernels_usage as ku
from autoinfra.sim.config import SimConfig
from autoinfra.sim.layout import (
    END_NONE,
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
    ST_FUTURE,
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
from autoinfra.traces.tables import Workload

# which MachineState values run tasks (indexed by state value, for the kernels)
RUNNING_STATES = np.zeros(6, dtype=np.int8)
RUNNING_STATES[[MachineState.ON, MachineState.DRAINING]] = 1


class World:
    """Every array of one simulated cluster, and the operations that keep them consistent."""

    def __init__(self, workload: Workload, config: SimConfig, rng: np.random.Generator) -> None:
        self.workload = workload
        self.config = config
        mt = workload.machines
        ids, first = np.unique(mt.machine_id, return_index=True)
        self.machine_ids: I64 = ids[np.argsort(first, kind="stable")].astype(np.int64)
        self.machine_ids.setflags(write=False)
        n = int(self.machine_ids.shape[0])
        self.n_machines = n
        # slot of each machine-event row, for replaying the trace's ADD/REMOVE/UPDATE
        lookup = np.argsort(self.machine_ids, kind="stable")
        sorted_ids = self.machine_ids[lookup]
        self.event_slot: I32 = lookup[np.searchsorted(sorted_ids, mt.machine_id)].astype(np.int32)

        self.mf: F64 = np.zeros((N_MF, n), dtype=np.float64)
        self.mi: I32 = np.zeros((N_MI, n), dtype=np.int32)
        self.mi[M_HEAD] = -1
        self.mi[M_STATE] = MachineState.ABSENT
        self.mi[M_PREV] = MachineState.ABSENT
        self.mprio: F64 = np.zeros((n, 2, N_PRIO), dtype=np.float64)
        per_platform = platform_curves(mt.platform, mt.cpu, len(mt.platforms))
        self.platform_curve: I32 = per_platform
        self.curves: F64 = curve_points(config.power_model)
        # machines are racked in slot order; each rack has uplinks_per_rack links to the spine
        self.mi[M_RACK] = np.arange(n, dtype=np.int32) // config.rack_size
        self.n_racks = max(1, math.ceil(n / config.rack_size))
        self.n_links = self.n_racks * config.uplinks_per_rack
        self.lf: F64 = np.zeros((N_LF, self.n_links), dtype=np.float64)
        self.lf[L_WEIGHT] = 1.0 / config.uplinks_per_rack
        self.rf: F64 = np.zeros((N_RF, self.n_racks), dtype=np.float64)
        self.link_rack: I32 = (np.arange(self.n_links) // config.uplinks_per_rack).astype(np.int32)
        self.link_capacity_mbps = config.link_capacity_gbps * 1000.0
        self.link_rack.setflags(write=False)

        # the placement kernel's own xorshift state (random scan starts)
        self.rng_state = np.array([int(rng.integers(1, 2**63 - 1))], dtype=np.uint64)

        tasks = workload.tasks
        self.n_workload_tasks = len(tasks)
        cap = self.n_workload_tasks + 64
        self.t_status = np.zeros(cap, dtype=np.int8)
        self.t_end_reason = np.zeros(cap, dtype=np.int8)
        self.t_evictions = np.zeros(cap, dtype=np.int32)
        self.t_slot = np.full(cap, -1, dtype=np.int32)
        self.t_start: F64 = np.full(cap, np.nan, dtype=np.float64)
        self.t_end: F64 = np.full(cap, np.nan, dtype=np.float64)
        self.t_lost: F32 = np.zeros(cap, dtype=np.float32)
        self.n_tasks = self.n_workload_tasks  # workload tasks + replicas created by scaling
        self.x_service: I32 = np.zeros(64, dtype=np.int32)  # service of each created replica
        self.x_submit: F64 = np.zeros(64, dtype=np.float64)

        svc = workload.services
        ns = len(svc)
        self.n_services = ns
        self.vf: F64 = np.zeros((N_VF, ns), dtype=np.float64)
        self.vi: I32 = np.zeros((N_VI, ns), dtype=np.int32)
        self.vf[V_CPU_REQ] = svc.cpu_request
        self.vf[V_LIMIT] = svc.cpu_request.astype(np.float64) * config.service_cpu_limit_ratio
        self.vf[V_BASE_DEM] = svc.base_cpu_demand
        self.vf[V_MEM_PER] = svc.base_mem_demand / np.maximum(svc.initial_replicas, 1)
        self.vi[V_DESIRED] = svc.initial_replicas
        self.vi[V_MIN] = svc.min_replicas
        self.vi[V_MAX] = svc.max_replicas
        self.vi[V_PRIO] = svc.priority
        self.vi[V_PROF] = svc.profile
        self.vi[V_HEAD] = -1
        self.service_ids: I64 = np.asarray(workload.job_ids, dtype=np.int64)[svc.job]
        self.service_ids.setflags(write=False)
        # the workload's own replicas of each service (created ones are appended on scale-up)
        is_svc = tasks.service >= 0
        self.svc_tasks: list[list[int]] = [[] for _ in range(ns)]
        for tid in np.flatnonzero(is_svc):
            self.svc_tasks[int(tasks.service[tid])].append(int(tid))

        self.pool = SlotPool(min(max(64, self.n_workload_tasks // 4), 1 << 20))
        self.heap = CompletionHeap(self.pool.capacity)
        self.queue = PendingQueue()
        self.tot: F64 = np.zeros(N_TOT, dtype=np.float64)
        shapes = np.asarray(workload.usage.shapes, dtype=np.float32)
        self.shapes = shapes if shapes.size else np.ones((1, 1), dtype=np.float32)
        self.step_index = -1
        self.shape_col = np.ascontiguousarray(self.shapes[:, 0])
        self._scratch_i = np.zeros(1024, dtype=np.int32)
        self._scratch_f = np.zeros(1024, dtype=np.float64)
        self._nvic = np.zeros(1, dtype=np.int64)
        # requests that fit nowhere, remembered across placement rounds (see kernels_slots)
        self.fail: F64 = np.zeros((3, ks.FAIL_MEMORY), dtype=np.float64)
        self.nfail = np.zeros(1, dtype=np.int64)
        self.place_stats = np.zeros(ks.N_STATS, dtype=np.int64)

    # --- machines ---

    def set_state(self, m: int, state: int) -> None:
        self.mi[M_STATE, m] = state
        self.update_sched(m)

    def update_sched(self, m: int) -> None:
        ok = (
            self.mi[M_STATE, m] == MachineState.ON
            and self.mi[M_CORDON, m] == 0
            and self.mi[M_ISOLATED, m] == 0
        )
        self.mi[M_SCHED, m] = 1 if ok else 0
        self.mi[M_CHANGED, m] = 1  # placement retries look here

    def set_capacity(self, m: int, cpu: float, mem: float, platform: int) -> None:
        cpu = float(cpu) if np.isfinite(cpu) else 0.0
        mem = float(mem) if np.isfinite(mem) else 0.0
        self.mf[M_CPU_CAP, m] = max(cpu, 0.0)
        self.mf[M_MEM_CAP, m] = max(mem, 0.0)
        self.mi[M_PLATFORM, m] = platform
        self.mi[M_CHANGED, m] = 1
        if 0 <= platform < self.platform_curve.shape[0]:
            self.mi[M_CURVE, m] = self.platform_curve[platform]
        else:
            self.mi[M_CURVE, m] = curve_for_capacity(cpu)

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

    def _grow_tasks(self, more: int) -> None:
        need = self.n_tasks + more
        cap = self.t_status.shape[0]
        if need > cap:
            new = max(need, cap + cap // 4 + 64)
            for name, fill in (
                ("t_status", 0),
                ("t_end_reason", 0),
                ("t_evictions", 0),
                ("t_slot", -1),
                ("t_start", np.nan),
                ("t_end", np.nan),
                ("t_lost", 0),
            ):
                old = getattr(self, name)
                arr = np.full(new, fill, dtype=old.dtype)
                arr[:cap] = old
                setattr(self, name, arr)
        xneed = need - self.n_workload_tasks
        if xneed > self.x_service.shape[0]:
            xnew = max(xneed, 2 * self.x_service.shape[0])
            self.x_service = np.concatenate(
                [self.x_service, np.zeros(xnew - self.x_service.shape[0], np.int32)]
            )
            self.x_submit = np.concatenate(
                [self.x_submit, np.zeros(xnew - self.x_submit.shape[0], np.float64)]
            )

    def create_replicas(self, service: int, count: int, now: float) -> I32:
        """New replica tasks of ``service`` submitted now (a scale-up); returns their ids."""
        self._grow_tasks(count)
        ids = np.arange(self.n_tasks, self.n_tasks + count, dtype=np.int32)
        x = ids - self.n_workload_tasks
        self.x_service[x] = service
        self.x_submit[x] = now
        self.n_tasks += count
        self.svc_tasks[service].extend(int(i) for i in ids)
        return ids

    def submit_s(self, ids: I32) -> F64:
        out = np.empty(ids.shape[0], dtype=np.float64)
        w = ids < self.n_workload_tasks
        out[w] = self.workload.tasks.submit_s[ids[w]] - self.workload.start_s
        out[~w] = self.x_submit[ids[~w] - self.n_workload_tasks]
        return out

    def enqueue(self, ids: I32) -> None:
        """Put tasks in the pending queue, with what placing them needs."""
        if ids.size == 0:
            return
        ids = ids.astype(np.int32)
        n0 = self.n_workload_tasks
        k = ids.shape[0]
        qf = np.empty((N_QF, k), dtype=np.float32)
        qi = np.empty((N_QI, k), dtype=np.int32)
        qi[Q_ID] = ids
        w = ids < n0
        if w.all():
            self._spec_workload(ids, qf, qi)
        else:
            wi = np.flatnonzero(w)
            xi = np.flatnonzero(~w)
            if wi.size:
                sub_f, sub_i = qf[:, wi], qi[:, wi]
                self._spec_workload(ids[wi], sub_f, sub_i)
                qf[:, wi], qi[:, wi] = sub_f, sub_i
            s = self.x_service[ids[xi] - n0]
            qf[Q_CPU_REQ, xi] = self.vf[V_CPU_REQ, s]
            qf[Q_MEM_REQ, xi] = self.workload.services.mem_request[s]
            qf[Q_WORK, xi] = np.inf
            qf[Q_CPU_BASE, xi] = 0.0
            qf[Q_MEM_USE, xi] = self.vf[V_MEM_PER, s]
            qi[Q_PRIO, xi] = self.vi[V_PRIO, s]
            qi[Q_PROF, xi] = self.vi[V_PROF, s]
            qi[Q_SVC, xi] = s
        qi[Q_TRIED] = 0
        self.t_status[ids] = ST_PENDING
        self.t_slot[ids] = -1
        self.queue.push(queue_key(qi[Q_PRIO], ids), qf, qi)

    def _spec_workload(self, ids: I32, qf: F32, qi: I32) -> None:
        t = self.workload.tasks
        cpu = t.cpu_request[ids]
        mem = t.mem_request[ids]
        qf[Q_CPU_REQ] = cpu
        qf[Q_MEM_REQ] = mem
        qf[Q_WORK] = t.duration_s[ids]
        qf[Q_CPU_BASE] = cpu * t.cpu_usage_ratio[ids]
        qf[Q_MEM_USE] = mem * t.mem_usage_ratio[ids]
        qi[Q_PRIO] = np.clip(t.priority[ids], 0, N_PRIO - 1)
        qi[Q_PROF] = np.clip(t.profile[ids], 0, self.shapes.shape[0] - 1)
        qi[Q_SVC] = t.service[ids]

    def _scratch(self, n: int) -> tuple[I32, F64]:
        if self._scratch_i.shape[0] < n:
            size = max(n, 2 * self._scratch_i.shape[0])
            self._scratch_i = np.zeros(size, dtype=np.int32)
            self._scratch_f = np.zeros(size, dtype=np.float64)
        return self._scratch_i, self._scratch_f

    def place(self, now: float) -> tuple[int, I32, F32]:
        """Place what fits; returns (placed count, preempted task ids, their work lost)."""
        q = self.queue
        nq = len(q)
        if nq == 0:
            return 0, np.zeros(0, np.int32), np.zeros(0, np.float32)
        p = self.pool
        p.ensure_free(nq)
        self.heap.ensure_room(nq)
        out_slot = np.empty(nq, dtype=np.int32)
        vic_task, vic_lost = self._scratch(p.used + nq)
        self._nvic[0] = 0
        cfg = self.config
        h = self.heap
        placed = ks.place(q.qf, q.qi, self.mf, self.mi, self.mprio, p.sv, p.sf, p.si,
                          self.vf, self.vi, p.free, p.nfree, h.t, h.s, h.n, self.rng_state,
                          self.fail, self.nfail, self.shape_col, now, cfg.fit == "best",
                          cfg.candidates, cfg.scan_limit, cfg.preemption, out_slot, vic_task,
                          vic_lost, self._nvic, self.place_stats)
        nv = int(self._nvic[0])
        victims = vic_task[:nv].copy()
        lost = vic_lost[:nv].astype(np.float32)
        if placed:
            ok = out_slot >= 0
            ids = q.qi[Q_ID, ok]
            self.t_status[ids] = ST_RUNNING
            self.t_slot[ids] = out_slot[ok]
            first = np.isnan(self.t_start[ids])
            self.t_start[ids[first]] = now
            q.keep(~ok)
        if nv:
            self.requeue_evicted(victims, lost)
        return placed, victims, lost

    def requeue_evicted(self, ids: I32, lost: F32) -> None:
        """Tasks thrown off their machine go back to the queue; their progress is lost."""
        np.add.at(self.t_evictions, ids, 1)
        np.add.at(self.t_lost, ids, lost)
        self.enqueue(ids)

    def complete(self, now: float, dt: float) -> I32:
        """Finish the tasks whose work is done; returns their ids."""
        p = self.pool
        h = self.heap
        out_task, out_end = self._scratch(p.used)
        cnt = ks.complete(
            now,
            dt,
            h.t,
            h.s,
            h.n,
            self.mf,
            self.mi,
            self.mprio,
            p.sv,
            p.sf,
            p.si,
            self.vi,
            p.free,
            p.nfree,
            out_task,
            out_end,
        )
        if cnt == 0:
            return np.zeros(0, dtype=np.int32)
        ids = out_task[:cnt].copy()
        self.end_tasks(ids, out_end[:cnt], None)
        return ids

    def end_tasks(self, ids: I32, end_s: F64 | float, reason: int | None) -> None:
        """Record the end of tasks (their slots already freed). reason None: the workload's."""
        self.t_status[ids] = ST_ENDED
        self.t_slot[ids] = -1
        self.t_end[ids] = end_s
        if reason is None:
            w = ids < self.n_workload_tasks
            # TaskEnd FINISH=0, FAIL=1, KILL=2, CENSORED=3 -> END_FINISH.. (offset by one)
            self.t_end_reason[ids[w]] = self.workload.tasks.end[ids[w]] + 1
            self.t_end_reason[ids[~w]] = 1
        else:
            self.t_end_reason[ids] = reason

    def evict_machine(self, m: int) -> tuple[I32, F32]:
        """Throw every task off machine m back into the queue; returns their ids and work lost."""
        n = int(self.mi[M_NTASKS, m])
        if n == 0:
            return np.zeros(0, np.int32), np.zeros(0, np.float32)
        p = self.pool
        out_task, out_lost = self._scratch(n)
        cnt = ks.evict_machine(
            m,
            self.mf,
            self.mi,
            self.mprio,
            p.sv,
            p.sf,
            p.si,
            self.vi,
            p.free,
            p.nfree,
            out_task,
            out_lost,
        )
        ids = out_task[:cnt].copy()
        lost = out_lost[:cnt].astype(np.float32)
        self.requeue_evicted(ids, lost)
        return ids, lost

    def remove_running(self, ids: I32) -> F32:
        """Free the slots of running tasks (not requeued); returns their work lost."""
        p = self.pool
        slots = self.t_slot[ids].astype(np.int64)
        lost = np.zeros(ids.shape[0], dtype=np.float64)
        ks.remove_slots(
            slots, self.mf, self.mi, self.mprio, p.sv, p.sf, p.si, self.vi, p.free, p.nfree, lost
        )
        self.t_slot[ids] = -1
        return lost.astype(np.float32)

    def relieve_memory(self) -> tuple[I32, F32]:
        p = self.pool
        out_task, out_lost = self._scratch(p.used)
        self._nvic[0] = 0
        ks.relieve_memory(
            RUNNING_STATES,
            self.mf,
            self.mi,
            self.mprio,
            p.sv,
            p.sf,
            p.si,
            self.vi,
            p.free,
            p.nfree,
            out_task,
            out_lost,
            self._nvic,
        )
        nv = int(self._nvic[0])
        if nv == 0:
            return np.zeros(0, np.int32), np.zeros(0, np.float32)
        ids = out_task[:nv].copy()
        lost = out_lost[:nv].astype(np.float32)
        self.requeue_evicted(ids, lost)
        return ids, lost

    def drop_pending(self, ids: I32) -> None:
        """Take tasks out of the pending queue (a service scaled down)."""
        self.queue.keep(~np.isin(self.queue.qi[Q_ID], ids))

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
            per = np.divide(
                self.vf[V_DEMAND], placed, out=np.zeros(self.n_services), where=placed > 0
            )
            self.vf[V_PER] = np.minimum(per, self.vf[V_LIMIT])
            self.vi[V_DIRTY] = 0
        p = self.pool
        ku.recompute_sums(self.shape_col, self.vf, self.mf, self.mi, self.mprio, p.sf, p.si)
        return True

    def respread_services(self) -> None:
        if self.n_services:
            ku.respread_services(self.vf, self.vi, self.mf, self.pool.sf, self.pool.si)

    def refresh(self, now: float) -> None:
        cfg = self.config
        kst.refresh_state(
            now,
            self.mf,
            self.mi,
            self.lf,
            self.rf,
            self.curves,
            self.pool.si,
            self.vf,
            self.vi,
            cfg.uplinks_per_rack,
            self.link_capacity_mbps,
            cfg.egress_mbps_per_cpu,
            cfg.slo_served_share,
            self.tot,
        )

    # --- accounting ---

    def alive_replicas(self, service: int) -> I32:
        """Replicas of a service not ended (future, pending or placed), oldest first."""
        ids = np.asarray(self.svc_tasks[service], dtype=np.int32)
        st = self.t_status[ids]
        return ids[st != ST_ENDED]

    def state_bytes(self) -> dict[str, int]:
        """Bytes of simulator state by part (the workload's input tables are not counted)."""
        task_cols = (
            self.t_status,
            self.t_end_reason,
            self.t_evictions,
            self.t_slot,
            self.t_start,
            self.t_end,
            self.t_lost,
        )
        return {
            "task_records": int(sum(a.nbytes for a in task_cols)),
            "slots": self.pool.nbytes(),
            "heap": self.heap.nbytes(),
            "queue": self.queue.nbytes(),
            "machines": int(self.mf.nbytes + self.mi.nbytes + self.mprio.nbytes),
            "services_network": int(
                self.vf.nbytes + self.vi.nbytes + self.lf.nbytes + self.rf.nbytes
            ),
        }

    def counts(self) -> dict[str, int]:
        st = self.t_status[: self.n_tasks]
        return {
            "future": int(np.count_nonzero(st == ST_FUTURE)),
            "pending": int(np.count_nonzero(st == ST_PENDING)),
            "running": int(np.count_nonzero(st == ST_RUNNING)),
            "ended": int(np.count_nonzero(st == ST_ENDED)),
            "end_none": int(
                np.count_nonzero((st == ST_ENDED) & (self.t_end_reason[: self.n_tasks] == END_NONE))
            ),
        }
