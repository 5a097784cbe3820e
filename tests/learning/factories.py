"""Small hand-made observations and worlds for the learning and Q-policy tests."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from autoinfra.core.observation import MachineState, Observation
from autoinfra.traces.tables import (
    MachineTable,
    ServiceTable,
    TaskEnd,
    TaskTable,
    UsageModel,
    Workload,
)


def observation(
    *,
    replicas: Sequence[int],
    running: Sequence[int] | None = None,
    cpu_request: Sequence[float] | None = None,
    cpu_used: Sequence[float] | None = None,
    min_replicas: Sequence[int] | None = None,
    max_replicas: Sequence[int] | None = None,
    machines: int = 4,
    time_s: float = 600.0,
) -> Observation:
    """An observation of a tiny cluster with the given services (machines are filler)."""
    n = len(replicas)
    m = machines
    f32 = np.float32
    extra: dict[str, object] = {}
    if max_replicas is not None:
        extra["service_max_replicas"] = np.asarray(max_replicas, dtype=np.int32)
    return Observation(
        time_s=time_s,
        machine_ids=np.arange(m, dtype=np.int64),
        machine_state=np.full(m, MachineState.ON, dtype=np.int8),
        schedulable=np.ones(m, dtype=bool),
        cpu_capacity=np.full(m, 0.5, dtype=f32),
        mem_capacity=np.full(m, 0.5, dtype=f32),
        cpu_requested=np.full(m, 0.2, dtype=f32),
        mem_requested=np.full(m, 0.2, dtype=f32),
        cpu_used=np.full(m, 0.1, dtype=f32),
        mem_used=np.full(m, 0.1, dtype=f32),
        cpu_throttled_share=np.zeros(m, dtype=f32),
        tasks_running=np.ones(m, dtype=np.int32),
        heartbeat_age_s=np.zeros(m, dtype=f32),
        egress_mbps=np.zeros(m, dtype=f32),
        rack=np.zeros(m, dtype=np.int32),
        link_rack=np.zeros(2, dtype=np.int32),
        link_utilization=np.full(2, 0.1, dtype=f32),
        service_ids=np.arange(100, 100 + n, dtype=np.int64),
        service_replicas=np.asarray(replicas, dtype=np.int32),
        service_running=np.asarray(replicas if running is None else running, dtype=np.int32),
        service_cpu_request=np.asarray(cpu_request or [0.1] * n, dtype=f32),
        service_cpu_used=np.asarray(cpu_used or [0.05] * n, dtype=f32),
        service_min_replicas=np.asarray(min_replicas or [1] * n, dtype=np.int32),
        pending_tasks=0,
        pending_cpu=0.0,
        pending_mem=0.0,
        power_w=1000.0,
        extra=extra,
    )


def small_workload(*, machines: int = 8, end_s: float = 3600.0) -> Workload:
    """A small cluster with four services whose demand moves (0.5x..1.5x over 20 min) and a few
    batch tasks: enough for scaling to matter, small enough for fast tests."""
    n_m = machines
    mt = MachineTable(
        time_s=np.zeros(n_m),
        machine_id=np.arange(1000, 1000 + n_m, dtype=np.int64),
        event=np.zeros(n_m, dtype=np.int8),
        platform=np.zeros(n_m, dtype=np.int16),
        cpu=np.full(n_m, 0.5, dtype=np.float32),
        mem=np.full(n_m, 0.5, dtype=np.float32),
        platforms=("p0",),
    )
    # (replicas, cpu request per replica, total demand at the shape's mean, profile, max)
    services = [(2, 0.05, 0.06, 1, 8), (4, 0.04, 0.05, 2, 12), (1, 0.1, 0.09, 1, 4),
                (3, 0.02, 0.01, 0, 9)]  # fmt: skip
    rows: list[
        tuple[float, float, float, int, int, float, int]
    ] = []  # submit, dur, cpu, prio, svc, ratio, profile
    for si, (r, cpu, demand, prof, _) in enumerate(services):
        rows += [(0.0, np.inf, cpu, 9, si, demand / (r * cpu), prof)] * r
    rng = np.random.default_rng(7)
    for k in range(12):
        rows.append((float(k * 240.0), float(rng.uniform(200, 900)), 0.05, 0, -1, 0.5, 0))
    rows.sort(key=lambda x: x[0])
    n = len(rows)
    tt = TaskTable(
        submit_s=np.array([x[0] for x in rows], dtype=np.float64),
        duration_s=np.array([x[1] for x in rows], dtype=np.float32),
        cpu_request=np.array([x[2] for x in rows], dtype=np.float32),
        mem_request=np.full(n, 0.02, dtype=np.float32),
        priority=np.array([x[3] for x in rows], dtype=np.int8),
        sched_class=np.zeros(n, dtype=np.int8),
        job=np.arange(n, dtype=np.int32),
        task_index=np.zeros(n, dtype=np.int32),
        service=np.array([x[4] for x in rows], dtype=np.int32),
        cpu_usage_ratio=np.array([x[5] for x in rows], dtype=np.float32),
        mem_usage_ratio=np.full(n, 0.5, dtype=np.float32),
        profile=np.array([x[6] for x in rows], dtype=np.int16),
        end=np.array([TaskEnd.CENSORED if x[4] >= 0 else TaskEnd.FINISH for x in rows],
                     dtype=np.int8),
    )  # fmt: skip
    ns = len(services)
    st = ServiceTable(
        job=np.arange(n, n + ns, dtype=np.int32),
        initial_replicas=np.array([s[0] for s in services], dtype=np.int32),
        min_replicas=np.ones(ns, dtype=np.int32),
        max_replicas=np.array([s[4] for s in services], dtype=np.int32),
        priority=np.full(ns, 9, dtype=np.int8),
        cpu_request=np.array([s[1] for s in services], dtype=np.float32),
        mem_request=np.full(ns, 0.02, dtype=np.float32),
        base_cpu_demand=np.array([s[2] for s in services], dtype=np.float32),
        base_mem_demand=np.array([0.02 * s[0] for s in services], dtype=np.float32),
        profile=np.array([s[3] for s in services], dtype=np.int16),
    )
    t = np.arange(12)
    shapes = np.stack(
        [np.ones(12), 1.0 + 0.5 * np.sin(2 * np.pi * t / 4), 1.0 + 0.5 * np.cos(2 * np.pi * t / 6)]
    ).astype(np.float32)
    usage = UsageModel(name="test-waves", description="test usage: request x ratio x wave",
                       shapes=shapes, step_s=300.0)  # fmt: skip
    return Workload(
        machines=mt, tasks=tt, services=st, usage=usage,
        job_ids=np.arange(5000, 5000 + n + ns, dtype=np.int64),
        start_s=0.0, end_s=end_s, source="test:small", meta={},
    )  # fmt: skip
