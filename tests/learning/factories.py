"""Small hand-made observations and worlds for the learning and Q-policy tests."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from autoinfra.core.observation import MachineState, Observation


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
