"""What a monitoring system sees of the cluster at one instant.

An ``Observation`` is a struct of arrays indexed by machine slot (0..n_machines-1; the trace's own
machine ids are in ``machine_ids``), by link, and by service. It holds what real monitoring would
report, not the simulator's hidden truth: a failed machine is not flagged as failed, its
heartbeats simply stop (``heartbeat_age_s`` grows); a CPU hog shows up as CPU used that no task
accounts for; an intrusion as unusual egress. Detectors have to work that out, as they would in
production.

Units are in the field names; CPU and memory are in the trace's normalised units (the largest
machine of the Google 2011 cell is 1.0).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
I32 = npt.NDArray[np.int32]
I64 = npt.NDArray[np.int64]
I8 = npt.NDArray[np.int8]
Bool = npt.NDArray[np.bool_]


class MachineState(enum.IntEnum):
    """Power and lifecycle state of a machine slot, as the control plane records it.

    FAILED is the simulator's truth; sensors report a failed machine as the state it was last
    known in (usually ON) and let its heartbeat age grow.
    """

    ABSENT = 0  # not (yet, or any more) part of the cell per the trace
    OFF = 1  # powered off: draws nothing, runs nothing
    BOOTING = 2  # powering on: draws idle power, cannot run tasks until boot_delay_s has passed
    ON = 3  # running and schedulable unless cordoned
    DRAINING = 4  # on, cordoned, its tasks being moved away
    FAILED = 5  # crashed: runs nothing useful; its tasks are stranded until evicted


@dataclass(frozen=True, slots=True, eq=False)
class Observation:
    """One snapshot of the cluster as monitoring sees it. Arrays must not be mutated."""

    time_s: float

    # --- machines (length n_machines) ---
    machine_ids: I64
    machine_state: I8  # MachineState values, as last reported (FAILED is never reported)
    schedulable: Bool  # False when cordoned, draining, isolated or not ON
    cpu_capacity: F32
    mem_capacity: F32
    cpu_requested: F32  # sum of the requests of tasks placed on the machine
    mem_requested: F32
    cpu_used: F32  # measured usage, including processes no task accounts for
    mem_used: F32
    cpu_throttled_share: F32  # share of CPU demand on the machine that was not served (0..1)
    tasks_running: I32
    heartbeat_age_s: F32  # seconds since the machine last reported; grows when it has failed
    egress_mbps: F32  # network egress of the machine
    rack: I32  # rack index of each machine

    # --- network links (length n_links): rack uplinks to the spine ---
    link_rack: I32  # the rack each uplink serves
    link_utilization: F32  # offered load / capacity; above 1.0 the link is congested

    # --- services (length n_services): long-running jobs whose replicas can be scaled ---
    service_ids: I64
    service_replicas: I32  # desired replica count
    service_running: I32  # replicas placed and running
    service_cpu_request: F32  # CPU request of one replica
    service_cpu_used: F32  # CPU used by all running replicas together
    service_min_replicas: I32

    # --- the queue ---
    pending_tasks: int
    pending_cpu: float  # sum of CPU requests waiting to be placed
    pending_mem: float

    # --- cluster-wide power ---
    power_w: float  # IT power draw now (before PUE)

    extra: dict[str, object] = field(default_factory=dict)  # backend-specific additions

    # when the samples were taken (the oldest of them); None: at ``time_s``. A live backend whose
    # monitoring lags or is frozen reports old samples here, and ``age_s`` grows with the clock
    collected_at_s: float | None = None

    def age_s(self, now_s: float) -> float:
        """How old the data is at ``now_s`` (telemetry.trust refuses data older than a bound)."""
        at = self.time_s if self.collected_at_s is None else self.collected_at_s
        return float(now_s) - float(at)

    @property
    def n_machines(self) -> int:
        return int(self.machine_ids.shape[0])

    @property
    def powered(self) -> Bool:
        """Machines that draw power and count for utilisation (booting, on or draining)."""
        s = self.machine_state
        return (s == MachineState.BOOTING) | (s == MachineState.ON) | (s == MachineState.DRAINING)

    def cpu_utilization(self) -> float:
        """CPU used / CPU capacity over powered machines (the paper's utilisation metric)."""
        p = self.powered
        cap = float(self.cpu_capacity[p].sum())
        return float(self.cpu_used[p].sum()) / cap if cap > 0 else 0.0

    def mem_utilization(self) -> float:
        p = self.powered
        cap = float(self.mem_capacity[p].sum())
        return float(self.mem_used[p].sum()) / cap if cap > 0 else 0.0


def placement_counted(obs: Observation, resource: str = "cpu") -> F32:
    """Per machine, what placement counts as taken: the backend's ``<resource>_counted`` when it
    places some work by reservations (``sim.observe``: production requests plus the rest's
    reservations), else the requests."""
    fallback = obs.cpu_requested if resource == "cpu" else obs.mem_requested
    counted = obs.extra.get(f"{resource}_counted")
    if isinstance(counted, np.ndarray) and counted.shape == fallback.shape:
        return counted
    return fallback


def work_at_risk_s(obs: Observation) -> F32 | None:
    """Per machine, the run time of the batch tasks on it (seconds since each started; services,
    which finish nothing, excluded): the work a drain would throw away, since an evicted task
    restarts from nothing. None when the backend does not report it (``work_at_risk_s`` in
    ``extra``: ``sim.observe`` does, and the Kubernetes backend from its Job pods' start times;
    the local backend does not)."""
    value = obs.extra.get("work_at_risk_s")
    if isinstance(value, np.ndarray) and value.shape == obs.tasks_running.shape:
        return np.asarray(value, dtype=np.float32)
    return None


def reservation_decay_s(obs: Observation) -> float | None:
    """The time constant the backend says its reservations decay with (None: it declares none,
    or places by requests). A reservation the backend reports may fall no faster than this."""
    value = obs.extra.get("reservation_decay_s")
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
        return float(value)
    return None


def taken_after_moves(obs: Observation, moving: Bool, resource: str = "cpu") -> float:
    """What placement will count as taken once the tasks of the ``moving`` machines (drained or
    powered off) are placed again: all that running machines hold now, plus what waits, plus the
    part of the moved tasks' requests their reservations had reclaimed, since a task placed anew
    reserves its whole request (``sim.config.SimSettings.reservation_delay_s``)."""
    s = obs.machine_state
    running = (s == MachineState.ON) | (s == MachineState.DRAINING)
    held = placement_counted(obs, resource)
    requested = obs.cpu_requested if resource == "cpu" else obs.mem_requested
    pending = obs.pending_cpu if resource == "cpu" else obs.pending_mem
    reclaimed = np.maximum(requested[moving] - held[moving], 0.0)
    return float(held[running].sum()) + float(pending) + float(reclaimed.sum())


def runs_nothing(obs: Observation, machine: int) -> bool:
    """The picture shows ``machine`` running and holding nothing: no tasks, no CPU or memory
    requested. Powering such a machine off disrupts no work; and since every ``ClusterWriter``
    refuses to power off a machine that runs anything (``core.cluster``), a picture that lies
    about it buys a refused action, not an outage."""
    if not 0 <= machine < obs.n_machines:
        return False
    return bool(
        obs.tasks_running[machine] == 0
        and obs.cpu_requested[machine] <= 0.0
        and obs.mem_requested[machine] <= 0.0
    )
