"""Hand-built observations for the gate's tests: a cell of machines with given capacity, usability,
requests and pending work, everything else plausible and quiet."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from autoinfra.core.observation import MachineState, Observation


def make_obs(
    time_s: float,
    cpu_capacity: npt.ArrayLike,
    usable: npt.ArrayLike,
    cpu_requested: npt.ArrayLike,
    pending_cpu: float,
    *,
    heartbeat_age_s: npt.ArrayLike | None = None,
    n_services: int = 1,
) -> Observation:
    cap = np.asarray(cpu_capacity, dtype=np.float32)
    n = cap.shape[0]
    ok = np.asarray(usable, dtype=bool)
    req = np.asarray(cpu_requested, dtype=np.float32)
    state = np.where(ok, MachineState.ON, MachineState.OFF).astype(np.int8)
    beats = np.zeros(n, dtype=np.float32) if heartbeat_age_s is None else heartbeat_age_s
    return Observation(
        time_s=float(time_s),
        machine_ids=np.arange(n, dtype=np.int64),
        machine_state=state,
        schedulable=ok.copy(),
        cpu_capacity=cap,
        mem_capacity=cap.copy(),
        cpu_requested=np.where(ok, req, 0).astype(np.float32),
        mem_requested=np.where(ok, req, 0).astype(np.float32),
        cpu_used=np.where(ok, req * 0.8, 0).astype(np.float32),
        mem_used=np.where(ok, req * 0.5, 0).astype(np.float32),
        cpu_throttled_share=np.zeros(n, dtype=np.float32),
        tasks_running=np.where(ok & (req > 0), 1, 0).astype(np.int32),
        heartbeat_age_s=np.asarray(beats, dtype=np.float32),
        egress_mbps=np.zeros(n, dtype=np.float32),
        rack=np.zeros(n, dtype=np.int32),
        link_rack=np.zeros(1, dtype=np.int32),
        link_utilization=np.zeros(1, dtype=np.float32),
        service_ids=np.arange(n_services, dtype=np.int64),
        service_replicas=np.ones(n_services, dtype=np.int32),
        service_running=np.ones(n_services, dtype=np.int32),
        service_cpu_request=np.full(n_services, 0.01, dtype=np.float32),
        service_cpu_used=np.full(n_services, 0.01, dtype=np.float32),
        service_min_replicas=np.ones(n_services, dtype=np.int32),
        pending_tasks=1 if pending_cpu > 0 else 0,
        pending_cpu=float(pending_cpu),
        pending_mem=float(pending_cpu),
        power_w=100.0 * float(ok.sum()),
    )


class ScriptedSensor:
    """A sensor that returns whatever the test last put in ``obs`` (or raises ``error``)."""

    def __init__(self, obs: Observation) -> None:
        self.obs = obs
        self.error: Exception | None = None

    def collect(self) -> Observation:
        if self.error is not None:
            raise self.error
        return self.obs
