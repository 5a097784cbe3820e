"""Task instances to the :class:`TaskTable` and :class:`ServiceTable` the simulator replays.

The service rule (one place, applied to whole jobs): a job is a long-running **service** when

1. it already had tasks at the window start (it is long-running, not a late batch arrival),
2. none of its instances FINISHes inside the window (a job whose tasks complete is batch work),
3. at least one of its tasks is still running at the window end (it outlives the window), and
4. it is production (priority >= 9) or latency-sensitive (scheduling class >= 2).

A service's tasks become one row per task (not per instance: restarts of a replica are the
service's business, not new work) with ``duration_s = inf``, ``end = CENSORED`` and ``service``
set; those present at the window start are its initial replicas, later ones arrive when the trace
first submits them. Each service gets min 1 and max ``MAX_REPLICAS_FACTOR`` x initial replicas
(at least its task count), per-replica requests = the median of its tasks' requests, and a base
demand = initial replicas x CPU request x the usage ratio drawn for it (memory likewise), so that
scaling spreads a fixed amount of work rather than creating work.

Every other instance is a batch row: ``duration_s`` = its run time in the window, its own end.

Requests: an instance with no request on any of its events takes its task's (from another
instance), then its job's median; one with none at all is dropped and counted. A zero request
(the trace has some) is raised to the smallest non-zero request seen (at least ``MIN_REQUEST``),
so requests lie in (0, 1].
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from autoinfra.traces.tables import ServiceTable, TaskEnd, TaskTable
from autoinfra.traces.usage import RatioTables

SERVICE_MIN_PRIORITY = 9  # production band (Reiss et al. schema: priorities 9-11)
SERVICE_MIN_SCHED_CLASS = 2  # scheduling classes 2-3 are the latency-sensitive ones
MAX_REPLICAS_FACTOR = 4
# the smallest request kept: a millionth of the largest machine (the slice's smallest non-zero
# requests are 6e-4 CPU and 1.5e-5 memory); below it a float32 request would round to 0
MIN_REQUEST = 1e-6


@dataclass(frozen=True, slots=True)
class TaskTables:
    tasks: TaskTable
    services: ServiceTable
    job_ids: np.ndarray
    info: dict[str, Any]


def service_jobs(inst: pd.DataFrame) -> pd.Series:
    """Boolean per job id: does the job follow the service rule of this module's docstring?"""
    job = inst["job_id"]
    at_start = (inst["open_s"] <= 0.0).groupby(job).any()
    finishes = (inst["end"] == TaskEnd.FINISH).groupby(job).any()
    running_end = inst["running_at_end"].astype(bool).groupby(job).any()
    important = (inst["priority"].groupby(job).max() >= SERVICE_MIN_PRIORITY) | (
        inst["sched_class"].groupby(job).max() >= SERVICE_MIN_SCHED_CLASS
    )
    return at_start & ~finishes & running_end & important


def _fill_requests(inst: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, Any]]:
    inst = inst.copy()
    for col in ("cpu_request", "mem_request"):
        by_task = inst.groupby(["job_id", "task_index"], sort=False)[col]
        inst[col] = by_task.ffill().fillna(by_task.bfill())
        inst[col] = inst[col].fillna(inst.groupby("job_id", sort=False)[col].transform("median"))
    missing = inst["cpu_request"].isna() | inst["mem_request"].isna()
    inst = inst.loc[~missing]
    info: dict[str, Any] = {"dropped_without_request": int(missing.sum())}
    for col in ("cpu_request", "mem_request"):
        vals = inst[col].to_numpy(np.float64)
        positive = vals[vals > 0]
        floor = max(float(positive.min()), MIN_REQUEST) if positive.size else MIN_REQUEST
        info[f"{col}_zero_raised"] = int((vals <= 0).sum())
        info[f"{col}_floor"] = floor
        inst[col] = np.clip(vals, floor, 1.0)
    return inst, info


def build_task_tables(
    inst: pd.DataFrame,
    ratios: RatioTables,
    n_profiles: int,
    rng: np.random.Generator,
    measured: pd.DataFrame | None = None,
) -> TaskTables:
    """Rows sorted by submit time; random draws (ratios, profiles) in a fixed order from ``rng``.

    ``measured`` (``usage.measured_ratios``): tasks whose ratios the trace measured keep them
    instead of the draw, and a service whose replicas were measured takes their mean; the draws
    are made for every row all the same, so the random stream does not depend on it."""
    inst, info = _fill_requests(inst)
    is_service_job = service_jobs(inst)
    service_mask = inst["job_id"].map(is_service_job).fillna(False).to_numpy(bool)
    stand_in = inst["stand_in"].to_numpy(bool) if "stand_in" in inst else np.zeros(len(inst), bool)

    svc = (
        inst.loc[service_mask]
        .groupby(["job_id", "task_index"], sort=True)
        .agg(
            submit_s=("submit_s", "min"),
            cpu_request=("cpu_request", "last"),
            mem_request=("mem_request", "last"),
            priority=("priority", "max"),
            sched_class=("sched_class", "last"),
        )
        .reset_index()
    )
    svc["duration_s"] = np.inf
    svc["end"] = int(TaskEnd.CENSORED)
    svc["is_service"] = True
    batch = inst.loc[
        ~service_mask,
        [
            "job_id",
            "task_index",
            "submit_s",
            "cpu_request",
            "mem_request",
            "priority",
            "sched_class",
            "end",
        ],
    ].copy()
    batch["duration_s"] = inst.loc[~service_mask, "run_s"].to_numpy(np.float64)
    batch["is_service"] = False
    rows = pd.concat([batch, svc], ignore_index=True)
    order = np.lexsort(
        (rows["task_index"].to_numpy(), rows["job_id"].to_numpy(), rows["submit_s"].to_numpy())
    )
    rows = rows.iloc[order].reset_index(drop=True)

    job_ids = np.unique(rows["job_id"].to_numpy(np.int64))
    job = np.searchsorted(job_ids, rows["job_id"].to_numpy(np.int64)).astype(np.int32)
    is_svc = rows["is_service"].to_numpy(bool)
    svc_jobs = np.unique(job[is_svc])
    service = np.full(len(rows), -1, dtype=np.int32)
    service[is_svc] = np.searchsorted(svc_jobs, job[is_svc])
    services, svc_cpu_ratio, svc_mem_ratio = _service_table(
        rows, service, svc_jobs, ratios, n_profiles, rng
    )

    priority = rows["priority"].to_numpy(np.int8)
    cpu_req = rows["cpu_request"].to_numpy(np.float64)
    mem_req = rows["mem_request"].to_numpy(np.float64)
    cpu_ratio, mem_ratio = ratios.draw(priority, cpu_req, mem_req, rng)
    replayed = _replay(rows, measured, cpu_ratio, mem_ratio)
    if replayed.any():  # a service's measured replicas speak for its one demand curve
        sv = service[replayed & is_svc]
        if sv.size:
            hits = np.bincount(sv, minlength=len(services)).astype(np.float64)
            has = hits > 0
            for res, svc_ratio in (("cpu", svc_cpu_ratio), ("mem", svc_mem_ratio)):
                src = cpu_ratio if res == "cpu" else mem_ratio
                total = np.bincount(sv, weights=src[replayed & is_svc], minlength=len(services))
                svc_ratio[has] = (total[has] / hits[has]).astype(svc_ratio.dtype)
            init = services.initial_replicas
            services = dataclasses.replace(
                services,
                base_cpu_demand=(init * services.cpu_request * svc_cpu_ratio).astype(np.float32),
                base_mem_demand=(init * services.mem_request * svc_mem_ratio).astype(np.float32),
            )
    profile = rng.integers(0, n_profiles, size=len(rows)).astype(np.int16)
    # a service's replicas share its ratio and profile (its demand is one curve, spread thin)
    cpu_ratio[is_svc] = svc_cpu_ratio[service[is_svc]]
    mem_ratio[is_svc] = svc_mem_ratio[service[is_svc]]
    profile[is_svc] = services.profile[service[is_svc]]

    tasks = TaskTable(
        submit_s=rows["submit_s"].to_numpy(np.float64),
        duration_s=rows["duration_s"].to_numpy(np.float32),
        cpu_request=rows["cpu_request"].to_numpy(np.float32),
        mem_request=rows["mem_request"].to_numpy(np.float32),
        priority=priority,
        sched_class=rows["sched_class"].fillna(0).to_numpy(np.int8),
        job=job,
        task_index=rows["task_index"].to_numpy(np.int32),
        service=service,
        cpu_usage_ratio=cpu_ratio.astype(np.float32),
        mem_usage_ratio=mem_ratio.astype(np.float32),
        profile=profile,
        end=rows["end"].to_numpy(np.int8),
    )
    ends = {e.name.lower(): int((tasks.end[~is_svc] == e).sum()) for e in TaskEnd}
    info |= {
        "instances": len(inst),
        "batch_rows": int((~is_svc).sum()),
        "service_rows": int(is_svc.sum()),
        "services": len(services),
        "batch_ends": ends,
        "replayed_ratios": int(replayed.sum()),
        "stand_ins": int(stand_in.sum()),
    }
    return TaskTables(tasks, services, job_ids, info)


def _replay(
    rows: pd.DataFrame, measured: pd.DataFrame | None, cpu_ratio: np.ndarray, mem_ratio: np.ndarray
) -> np.ndarray:
    """Overwrite the drawn ratios of measured tasks with their measured ones; True where so."""
    if measured is None or measured.empty or rows.empty:
        return np.zeros(len(rows), dtype=bool)
    keys = pd.MultiIndex.from_arrays(
        [rows["job_id"].to_numpy(np.int64), rows["task_index"].to_numpy(np.int64)]
    )
    at = measured.index.get_indexer(keys)
    hit = at >= 0
    cpu_ratio[hit] = measured["cpu_ratio"].to_numpy()[at[hit]]
    mem_ratio[hit] = measured["mem_ratio"].to_numpy()[at[hit]]
    return hit


def _service_table(
    rows: pd.DataFrame,
    service: np.ndarray,
    svc_jobs: np.ndarray,
    ratios: RatioTables,
    n_profiles: int,
    rng: np.random.Generator,
) -> tuple[ServiceTable, np.ndarray, np.ndarray]:
    """The service table and the CPU and memory usage ratios drawn for each service."""
    m = service >= 0
    per = pd.DataFrame(
        {
            "service": service[m],
            "at_start": rows.loc[m, "submit_s"].to_numpy() <= 0,
            "cpu": rows.loc[m, "cpu_request"].to_numpy(),
            "mem": rows.loc[m, "mem_request"].to_numpy(),
            "priority": rows.loc[m, "priority"].to_numpy(),
        }
    ).groupby("service")
    initial = np.maximum(per["at_start"].sum().to_numpy(np.int32), 1)
    count = per.size().to_numpy(np.int32)
    priority = per["priority"].max().to_numpy(np.int8)
    cpu = per["cpu"].median().to_numpy(np.float32)
    mem = per["mem"].median().to_numpy(np.float32)
    cpu_ratio, mem_ratio = ratios.draw(priority, cpu, mem, rng)
    profile = rng.integers(0, n_profiles, size=int(svc_jobs.shape[0])).astype(np.int16)
    table = ServiceTable(
        job=svc_jobs.astype(np.int32),
        initial_replicas=initial,
        min_replicas=np.ones(svc_jobs.shape[0], dtype=np.int32),
        max_replicas=np.maximum(MAX_REPLICAS_FACTOR * initial, count).astype(np.int32),
        priority=priority,
        cpu_request=cpu,
        mem_request=mem,
        base_cpu_demand=(initial * cpu * cpu_ratio).astype(np.float32),
        base_mem_demand=(initial * mem * mem_ratio).astype(np.float32),
        profile=profile,
    )
    return table, cpu_ratio, mem_ratio
