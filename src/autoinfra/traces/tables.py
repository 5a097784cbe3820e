"""The workload as the simulator consumes it: plain column tables of NumPy arrays.

This module is the contract between ``autoinfra.traces`` (which builds these tables from Google
2011 trace files or from the synthetic generator) and ``autoinfra.sim`` (which replays them). No
Python object per task: one array per column, one row per task instance.

Units: seconds for times (trace microseconds / 1e6, measured from the trace's start), and the
trace's normalised CPU and memory units (1.0 = the largest machine of the cell).

For a workload built from a trace window (``load_workload``, ``window``), "the trace's start" is
the window's start: times run from 0 there and ``meta["trace_offset_s"]`` holds the trace second
of that 0.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt


class MachineEventType(enum.IntEnum):
    """Google 2011 machine_events event types (schema document, table 'machine events')."""

    ADD = 0
    REMOVE = 1
    UPDATE = 2


class TaskEnd(enum.IntEnum):
    """How a task instance's run ends in the workload (what the trace says the task did)."""

    FINISH = 0  # completed normally
    FAIL = 1  # the task itself failed (the trace may resubmit it as a new instance)
    KILL = 2  # cancelled by its user or a dependency
    CENSORED = 3  # still running when the trace window ends: duration is a lower bound


@dataclass(frozen=True, slots=True, eq=False)
class MachineTable:
    """Machine lifecycle events, sorted by time (ADD, REMOVE, UPDATE with new capacities)."""

    time_s: npt.NDArray[np.float64]
    machine_id: npt.NDArray[np.int64]
    event: npt.NDArray[np.int8]  # MachineEventType
    platform: npt.NDArray[np.int16]  # index into ``platforms``
    cpu: npt.NDArray[np.float32]  # capacity, normalised
    mem: npt.NDArray[np.float32]
    platforms: tuple[str, ...]  # the trace's platform ids (hashes), by index

    def __len__(self) -> int:
        return int(self.time_s.shape[0])


@dataclass(frozen=True, slots=True, eq=False)
class TaskTable:
    """One row per task instance to run, sorted by ``submit_s``.

    ``duration_s`` is the work the task does when it runs at full speed: the time it ran in the
    trace before its terminal event (evictions and losses caused by Google's own cluster are not
    part of the workload and are not replayed). ``np.inf`` means it runs past the window's end.
    """

    submit_s: npt.NDArray[np.float64]
    duration_s: npt.NDArray[np.float32]
    cpu_request: npt.NDArray[np.float32]
    mem_request: npt.NDArray[np.float32]
    priority: npt.NDArray[np.int8]  # 0..11, 9..11 production
    sched_class: npt.NDArray[np.int8]  # 0..3, 3 most latency-sensitive
    job: npt.NDArray[np.int32]  # index into WorkloadModel.job_ids
    task_index: npt.NDArray[np.int32]
    service: npt.NDArray[np.int32]  # index into ServiceTable, or -1 for batch
    cpu_usage_ratio: npt.NDArray[np.float32]  # usage / request at the shape's mean (usage model)
    mem_usage_ratio: npt.NDArray[np.float32]
    profile: npt.NDArray[np.int16]  # row of UsageModel.shapes that moves this task's usage
    end: npt.NDArray[np.int8]  # TaskEnd

    def __len__(self) -> int:
        return int(self.submit_s.shape[0])


@dataclass(frozen=True, slots=True, eq=False)
class ServiceTable:
    """Long-running jobs whose replica count an autoscaler may change.

    A service's CPU demand at time t is ``base_cpu_demand * shape[profile, t]``, shared by its
    running replicas; scaling changes how thinly it is spread, not how much work there is.
    """

    job: npt.NDArray[np.int32]  # index into WorkloadModel.job_ids
    initial_replicas: npt.NDArray[np.int32]
    min_replicas: npt.NDArray[np.int32]
    max_replicas: npt.NDArray[np.int32]
    priority: npt.NDArray[np.int8]
    cpu_request: npt.NDArray[np.float32]  # per replica
    mem_request: npt.NDArray[np.float32]
    base_cpu_demand: npt.NDArray[np.float32]  # total over replicas at the shape's mean
    base_mem_demand: npt.NDArray[np.float32]
    profile: npt.NDArray[np.int16]

    def __len__(self) -> int:
        return int(self.job.shape[0])


@dataclass(frozen=True, slots=True, eq=False)
class UsageModel:
    """How usage moves over time: ``usage = request x ratio x shapes[profile, step(t)]``.

    ``shapes`` rows have mean 1.0; ``step(t) = int(t // step_s) % n_steps``. ``description`` is
    printed in every report; ``calibration`` holds the figures it was fitted on.
    """

    name: str
    description: str
    shapes: npt.NDArray[np.float32]  # (n_profiles, n_steps)
    step_s: float
    calibration: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, eq=False)
class Workload:
    """Everything the simulator replays: machines, tasks, services and the usage model."""

    machines: MachineTable
    tasks: TaskTable
    services: ServiceTable
    usage: UsageModel
    job_ids: npt.NDArray[np.int64]  # the trace's job ids, by job index
    start_s: float
    end_s: float
    source: str  # where it came from: a trace directory, or "synthetic(...)" with its parameters
    meta: dict[str, Any] = field(default_factory=dict)  # seeds, slicing, calibration, versions
