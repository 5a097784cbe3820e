"""Small, explicit Workloads for the simulator's tests.

Tests state exactly the machines, tasks and services they need (``make_workload``), so each one
reads as a scenario; nothing here depends on the trace readers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from autoinfra.traces.tables import (
    MachineTable,
    ServiceTable,
    TaskEnd,
    TaskTable,
    UsageModel,
    Workload,
)


@dataclass(frozen=True)
class T:
    """One task instance: when, how long (np.inf: runs on), requests, priority, service."""

    submit_s: float = 0.0
    duration_s: float = 100.0
    cpu: float = 0.1
    mem: float = 0.1
    priority: int = 0
    service: int = -1
    cpu_ratio: float = 1.0
    mem_ratio: float = 1.0
    profile: int = 0
    end: int = TaskEnd.FINISH


@dataclass(frozen=True)
class S:
    """One service: replicas, per-replica requests, total demand at the shape's mean."""

    replicas: int = 2
    cpu: float = 0.2
    mem: float = 0.1
    demand: float = 0.2
    priority: int = 9
    min_replicas: int = 1
    max_replicas: int = 8
    profile: int = 0


def make_workload(
    machines: int | Sequence[tuple[float, float]] = 4,
    tasks: Sequence[T] = (),
    services: Sequence[S] = (),
    *,
    end_s: float = 3600.0,
    shapes: np.ndarray | None = None,
    step_s: float = 300.0,
    machine_events: Sequence[tuple[float, int, int, float, float]] = (),
    platform_cpu: float = 0.5,
) -> Workload:
    """A workload: ``machines`` (a count of 0.5/0.5 machines, or (cpu, mem) pairs) added at 0,
    ``tasks`` (sorted by submit), ``services`` (their replicas are added as tasks at time 0),
    extra ``machine_events`` (time_s, machine index, MachineEventType, cpu, mem)."""
    caps = [(platform_cpu, 0.5)] * machines if isinstance(machines, int) else list(machines)
    rows = [(0.0, i, 0, c, m) for i, (c, m) in enumerate(caps)] + list(machine_events)
    rows.sort(key=lambda r: r[0])
    mt = MachineTable(
        time_s=np.array([r[0] for r in rows], dtype=np.float64),
        machine_id=np.array([1000 + r[1] for r in rows], dtype=np.int64),
        event=np.array([r[2] for r in rows], dtype=np.int8),
        platform=np.zeros(len(rows), dtype=np.int16),
        cpu=np.array([r[3] for r in rows], dtype=np.float32),
        mem=np.array([r[4] for r in rows], dtype=np.float32),
        platforms=("p0",),
    )
    all_tasks = list(tasks)
    for si, s in enumerate(services):
        ratio = s.demand / max(s.replicas * s.cpu, 1e-9)
        all_tasks += [
            T(0.0, np.inf, s.cpu, s.mem, s.priority, si, ratio, 1.0, s.profile, TaskEnd.CENSORED)
        ] * s.replicas
    all_tasks.sort(key=lambda t: t.submit_s)
    n = len(all_tasks)

    def col(name: str, dtype: Any) -> np.ndarray:
        return np.array([getattr(t, name) for t in all_tasks], dtype=dtype).reshape(n)

    tt = TaskTable(
        submit_s=col("submit_s", np.float64),
        duration_s=col("duration_s", np.float32),
        cpu_request=col("cpu", np.float32),
        mem_request=col("mem", np.float32),
        priority=col("priority", np.int8),
        sched_class=np.zeros(n, dtype=np.int8),
        job=np.arange(n, dtype=np.int32),
        task_index=np.zeros(n, dtype=np.int32),
        service=col("service", np.int32),
        cpu_usage_ratio=col("cpu_ratio", np.float32),
        mem_usage_ratio=col("mem_ratio", np.float32),
        profile=col("profile", np.int16),
        end=col("end", np.int8),
    )
    ns = len(services)

    def scol(name: str, dtype: Any) -> np.ndarray:
        return np.array([getattr(s, name) for s in services], dtype=dtype).reshape(ns)

    st = ServiceTable(
        job=np.arange(n, n + ns, dtype=np.int32),
        initial_replicas=scol("replicas", np.int32),
        min_replicas=scol("min_replicas", np.int32),
        max_replicas=scol("max_replicas", np.int32),
        priority=scol("priority", np.int8),
        cpu_request=scol("cpu", np.float32),
        mem_request=scol("mem", np.float32),
        base_cpu_demand=scol("demand", np.float32),
        base_mem_demand=np.array([s.mem * s.replicas for s in services], np.float32).reshape(ns),
        profile=scol("profile", np.int16),
    )
    shapes = np.ones((1, 12), dtype=np.float32) if shapes is None else shapes.astype(np.float32)
    usage = UsageModel(
        name="flat-test",
        description="test usage: request x ratio x shape",
        shapes=shapes,
        step_s=step_s,
    )
    return Workload(
        machines=mt,
        tasks=tt,
        services=st,
        usage=usage,
        job_ids=np.arange(5000, 5000 + n + ns, dtype=np.int64),
        start_s=0.0,
        end_s=end_s,
        source="test",
        meta={},
    )
