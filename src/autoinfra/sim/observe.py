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
- ``link_capacity_mbps``, ``tick_s``, ``machine_platform`` (index into the trace's platforms).
"""

from __future__ import annotations

import numpy as np

from autoinfra.core.observation import MachineState, Observation
from autoinfra.sim.layout import (
    L_UTIL,
    M_CORDON,
    M_CPU_ALLOC,
    M_CPU_CAP,
    M_CPU_USED,
    M_EGRESS,
    M_FZ_CPU,
    M_FZ_EGRESS,
    M_FZ_MEM,
    M_FZ_THROTTLE,
    M_HEARTBEAT,
    M_ISOLATED,
    M_MEM_ALLOC,
    M_MEM_CAP,
    M_MEM_USE,
    M_NTASKS,
    M_PLATFORM,
    M_PREV,
    M_RACK,
    M_STATE,
    M_THROTTLE,
    Q_CPU_REQ,
    Q_MEM_REQ,
    T_POWER,
    V_CPU_REQ,
    V_DEMAND,
    V_DESIRED,
    V_MAX,
    V_MIN,
    V_PLACED,
    V_SERVED,
    V_VIOLATING,
)
from autoinfra.sim.world import World


def build_observation(world: World, now: float) -> Observation:
    mf, mi = world.mf, world.mi
    state = mi[M_STATE]
    failed = state == MachineState.FAILED
    any_failed = bool(failed.any())
    reported = (
        np.where(failed, mi[M_PREV], state).astype(np.int8) if any_failed else state.astype(np.int8)
    )
    cpu_used = mf[M_CPU_USED].astype(np.float32)
    mem_used = np.where(
        (state == MachineState.ON) | (state == MachineState.DRAINING), mf[M_MEM_USE], 0.0
    ).astype(np.float32)
    egress = mf[M_EGRESS].astype(np.float32)
    throttled = mf[M_THROTTLE].astype(np.float32)
    if any_failed:
        cpu_used[failed] = mf[M_FZ_CPU, failed]
        mem_used[failed] = mf[M_FZ_MEM, failed]
        egress[failed] = mf[M_FZ_EGRESS, failed]
        throttled[failed] = mf[M_FZ_THROTTLE, failed]
    schedulable = (reported == MachineState.ON) & (mi[M_CORDON] == 0) & (mi[M_ISOLATED] == 0)
    heartbeat_age = np.maximum(now - mf[M_HEARTBEAT], 0.0).astype(np.float32)
    vf, vi = world.vf, world.vi
    svc = world.workload.services
    q = world.queue
    return Observation(
        time_s=now,
        machine_ids=world.machine_ids,
        machine_state=reported,
        schedulable=schedulable,
        cpu_capacity=mf[M_CPU_CAP].astype(np.float32),
        mem_capacity=mf[M_MEM_CAP].astype(np.float32),
        cpu_requested=mf[M_CPU_ALLOC].astype(np.float32),
        mem_requested=mf[M_MEM_ALLOC].astype(np.float32),
        cpu_used=cpu_used,
        mem_used=mem_used,
        cpu_throttled_share=throttled,
        tasks_running=mi[M_NTASKS].copy(),
        heartbeat_age_s=heartbeat_age,
        egress_mbps=egress,
        rack=mi[M_RACK].copy(),
        link_rack=world.link_rack,
        link_utilization=world.lf[L_UTIL].astype(np.float32),
        service_ids=world.service_ids,
        service_replicas=vi[V_DESIRED].copy(),
        service_running=vi[V_PLACED].copy(),
        service_cpu_request=vf[V_CPU_REQ].astype(np.float32),
        service_cpu_used=vf[V_SERVED].astype(np.float32),
        service_min_replicas=vi[V_MIN].copy(),
        pending_tasks=len(q),
        pending_cpu=float(q.qf[:, Q_CPU_REQ].sum(dtype=np.float64)),
        pending_mem=float(q.qf[:, Q_MEM_REQ].sum(dtype=np.float64)),
        power_w=float(world.tot[T_POWER]),
        extra={
            "service_cpu_demand": vf[V_DEMAND].astype(np.float32),
            "service_max_replicas": vi[V_MAX].copy(),
            "service_slo_violating": vi[V_VIOLATING] != 0,
            "link_capacity_mbps": world.link_capacity_mbps,
            "tick_s": world.config.tick_s,
            "machine_platform": mi[M_PLATFORM].copy(),
            "n_services": len(svc),
        },
    )
