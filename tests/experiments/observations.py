"""Small hand-made observations for rule tests: every array filled, any field overridable."""

from __future__ import annotations

from typing import Any

import numpy as np

from autoinfra.core.observation import MachineState, Observation


def make_observation(
    n_machines: int = 4, n_services: int = 1, n_links: int = 2, time_s: float = 0.0, **over: Any
) -> Observation:
    f32 = np.float32
    fields: dict[str, Any] = {
        "time_s": time_s,
        "machine_ids": np.arange(n_machines, dtype=np.int64),
        "machine_state": np.full(n_machines, MachineState.ON, dtype=np.int8),
        "schedulable": np.ones(n_machines, dtype=bool),
        "cpu_capacity": np.full(n_machines, 0.5, dtype=f32),
        "mem_capacity": np.full(n_machines, 0.5, dtype=f32),
        "cpu_requested": np.full(n_machines, 0.3, dtype=f32),
        "mem_requested": np.full(n_machines, 0.3, dtype=f32),
        "cpu_used": np.full(n_machines, 0.1, dtype=f32),
        "mem_used": np.full(n_machines, 0.1, dtype=f32),
        "cpu_throttled_share": np.zeros(n_machines, dtype=f32),
        "tasks_running": np.full(n_machines, 3, dtype=np.int32),
        "heartbeat_age_s": np.zeros(n_machines, dtype=f32),
        "egress_mbps": np.full(n_machines, 10.0, dtype=f32),
        "rack": np.zeros(n_machines, dtype=np.int32),
        "link_rack": np.zeros(n_links, dtype=np.int32),
        "link_utilization": np.full(n_links, 0.2, dtype=f32),
        "service_ids": np.arange(n_services, dtype=np.int64),
        "service_replicas": np.full(n_services, 2, dtype=np.int32),
        "service_running": np.full(n_services, 2, dtype=np.int32),
        "service_cpu_request": np.full(n_services, 0.1, dtype=f32),
        "service_cpu_used": np.full(n_services, 0.1, dtype=f32),
        "service_min_replicas": np.ones(n_services, dtype=np.int32),
        "pending_tasks": 0,
        "pending_cpu": 0.0,
        "pending_mem": 0.0,
        "power_w": 1000.0,
    }
    for key, value in over.items():
        if key not in fields:
            raise KeyError(key)
        current = fields[key]
        fields[key] = (
            np.asarray(value, dtype=current.dtype) if isinstance(current, np.ndarray) else value
        )
    return Observation(**fields)
