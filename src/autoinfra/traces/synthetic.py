"""A synthetic cell calibrated on the Google slice: any size, any length, one seed.

``generate_cell(machines, hours, seed)`` draws, all vectorised:

- machines: capacity and platform types in the slice's shares, all present at 0, no churn;
- services: ``per_machine x machines`` of them (rounded), replicas from the slice's exact
  distribution, requests and priorities by band, all running from 0 (duration inf);
- batch tasks already there at 0: ``per_machine x machines`` of them, grouped into jobs with the
  slice's sizes of jobs present at the start, each with the band's remaining time (Kaplan-Meier;
  the share the 5.6 h slice cannot resolve runs to the end of the cell and is CENSORED);
- arriving jobs: a Poisson process per band with the slice's rate per machine, constant over the
  day (the slice is too short to show a daily cycle, so none is invented), sizes from the slice's
  new jobs, one request, priority and scheduling class per job, a duration and an end type per task;
- usage: the :mod:`autoinfra.traces.usage` model with the calibration's ratio tables.

No job or service gets more tasks than the cell has machines (a guard for small cells, where one
draw from the long tail of job sizes would otherwise swamp the cell). The calibration is the
shipped ``calibration.json`` unless given (see :mod:`autoinfra.traces.calibration`).

``meta`` reports what came out: tasks running at once (nominal: every task runs from its submit
for its duration, as if placed at once) and the task events of the day, counted as SUBMIT +
SCHEDULE for each arriving task and one end event (FINISH, FAIL or KILL) for each task that ends
inside the day; EVICT, LOST and UPDATE events are not part of the workload and are not counted.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from autoinfra.core.errors import ConfigError
from autoinfra.traces.calibration_file import load_calibration
from autoinfra.traces.tables import (
    MachineEventType,
    MachineTable,
    ServiceTable,
    TaskEnd,
    TaskTable,
    Workload,
)
from autoinfra.traces.tasks import MIN_REQUEST
from autoinfra.traces.usage import BAND_NAMES, RatioTables, azure_shapes, build_usage_model

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
_END_CODES = np.array([TaskEnd.FINISH, TaskEnd.FAIL, TaskEnd.KILL], dtype=np.int8)


def _from_counts(dist: dict[str, list[int]], n: int, cap: int, rng: np.random.Generator) -> I64:
    values = np.asarray(dist["values"], dtype=np.int64)
    p = np.asarray(dist["counts"], dtype=np.float64)
    return np.minimum(values[rng.choice(values.shape[0], size=n, p=p / p.sum())], cap)


def _from_quantiles(values: list[float], n: int, rng: np.random.Generator) -> F64:
    v = np.asarray(values, dtype=np.float64)
    return np.interp(rng.random(n), np.linspace(0.0, 1.0, v.shape[0]), v)


def _from_shares(shares: list[float], n: int, rng: np.random.Generator) -> I64:
    p = np.asarray(shares, dtype=np.float64)
    return rng.choice(p.shape[0], size=n, p=p / p.sum()).astype(np.int64)


def _durations(km: dict[str, Any], n: int, rng: np.random.Generator) -> tuple[F64, I64]:
    """Durations from a Kaplan-Meier table (inf for the unresolved tail) and end types."""
    u = rng.random(n)
    top = 1.0 - float(km["tail_share"])
    d = np.interp(u, np.asarray(km["probs"]), np.asarray(km["values"]))
    d = np.where(u >= top, np.inf, d)
    ends = _END_CODES[_from_shares(km["end_shares_finish_fail_kill"], n, rng)]
    return d, ends.astype(np.int64)


def _jobs(sizes: I64, first_job: int) -> tuple[I64, I64]:
    """Job index and task index of every row of jobs with these sizes."""
    job = np.repeat(np.arange(first_job, first_job + sizes.shape[0], dtype=np.int64), sizes)
    starts = np.repeat(np.cumsum(sizes) - sizes, sizes)
    return job, np.arange(job.shape[0], dtype=np.int64) - starts


def _rows(
    band_cal: dict[str, Any],
    sizes: I64,
    submit_job: F64,
    durations_key: str,
    first_job: int,
    rng: np.random.Generator,
) -> dict[str, npt.NDArray[Any]]:
    """Rows of jobs of one band: per-job requests, priority, class; per-task duration and end."""
    req = band_cal.get("requests", band_cal)
    n_jobs = sizes.shape[0]
    job, task_index = _jobs(sizes, first_job)
    per_job = {
        "cpu": _from_quantiles(req["cpu"], n_jobs, rng),
        "mem": _from_quantiles(req["mem"], n_jobs, rng),
        "priority": _from_shares(req["priority_shares"], n_jobs, rng),
        "sched": _from_shares(req["sched_class_shares"], n_jobs, rng),
    }
    local = job - first_job
    duration, end = _durations(band_cal[durations_key], int(job.shape[0]), rng)
    return {
        "submit": submit_job[local],
        "duration": duration,
        "end": end,
        "job": job,
        "task_index": task_index,
        "cpu": per_job["cpu"][local],
        "mem": per_job["mem"][local],
        "priority": per_job["priority"][local],
        "sched": per_job["sched"][local],
    }


def _sizes_summing_to(
    dist: dict[str, list[int]], total: int, cap: int, rng: np.random.Generator
) -> I64:
    """Job sizes drawn until they cover ``total`` tasks; the last job is trimmed to fit."""
    if total <= 0:
        return np.zeros(0, dtype=np.int64)
    sizes = _from_counts(dist, total, cap, rng)  # each size >= 1, so ``total`` draws suffice
    k = int(np.searchsorted(np.cumsum(sizes), total)) + 1
    sizes = sizes[:k].copy()
    sizes[-1] -= int(sizes.sum()) - total
    return sizes


def generate_cell(
    machines: int = 12500,
    hours: float = 24.0,
    seed: int = 0,
    calibration: dict[str, Any] | None = None,
    arrival_scale: float = 1.0,
) -> Workload:
    """A synthetic cell of ``machines`` machines over ``hours``, deterministic for ``seed``.

    ``arrival_scale`` multiplies the calibrated job arrival rate. At 1.0 the cell arrives at the
    slice's own rate (its first 5.7 hours); load tests that need the event rate of a busier day
    raise it and must say so (``meta["arrival_scale"]`` records it).
    """
    if not arrival_scale > 0:
        raise ConfigError(f"arrival_scale must be > 0, got {arrival_scale}", field="arrival_scale")
    if machines < 1:
        raise ConfigError(f"machines must be >= 1, got {machines}", field="machines")
    if not hours > 0:
        raise ConfigError(f"hours must be > 0, got {hours}", field="hours")
    if calibration is None:
        calibration = load_calibration()
    cal = calibration
    rng = np.random.default_rng(seed)
    horizon_s = float(hours) * 3600.0
    machine_table = _machines(cal, machines, rng)

    parts: list[dict[str, npt.NDArray[Any]]] = []
    next_job = 0
    svc_cal = cal["services"]
    n_svc = round(svc_cal["per_machine"] * machines)
    replicas = _from_counts(svc_cal["replicas"], n_svc, machines, rng)
    svc_band = _from_shares(svc_cal["band_shares"], n_svc, rng)
    svc_cpu, svc_mem, svc_prio = (np.zeros(n_svc), np.zeros(n_svc), np.zeros(n_svc, np.int64))
    for b, name in enumerate(BAND_NAMES):
        m = svc_band == b
        req = svc_cal["requests"][name]
        svc_cpu[m] = _from_quantiles(req["cpu"], int(m.sum()), rng)
        svc_mem[m] = _from_quantiles(req["mem"], int(m.sum()), rng)
        svc_prio[m] = _from_shares(req["priority_shares"], int(m.sum()), rng)
    svc_job, svc_task = _jobs(replicas, next_job)
    next_job += n_svc
    n_svc_rows = int(svc_job.shape[0])
    parts.append(
        {
            "submit": np.zeros(n_svc_rows),
            "duration": np.full(n_svc_rows, np.inf),
            "end": np.full(n_svc_rows, TaskEnd.CENSORED, dtype=np.int64),
            "job": svc_job,
            "task_index": svc_task,
            "cpu": svc_cpu[svc_job],
            "mem": svc_mem[svc_job],
            "priority": svc_prio[svc_job],
            "sched": _from_shares(svc_cal["sched_class_shares"], n_svc_rows, rng),
        }
    )

    start_cal = cal["batch_at_start"]
    n_start = round(start_cal["per_machine"] * machines)
    per_band = np.bincount(_from_shares(start_cal["band_shares"], n_start, rng), minlength=3)
    for b, name in enumerate(BAND_NAMES):
        sizes = _sizes_summing_to(start_cal["tasks_per_job"], int(per_band[b]), machines, rng)
        band_cal = {
            "requests": start_cal["requests"][name],
            "remaining": start_cal["remaining"][name],
        }
        parts.append(_rows(band_cal, sizes, np.zeros(sizes.shape[0]), "remaining", next_job, rng))
        next_job += sizes.shape[0]

    arr_cal = cal["arrivals"]
    for b, name in enumerate(BAND_NAMES):
        band_cal = arr_cal["by_band"][name]
        rate = arr_cal["jobs_per_machine_s"][b] * arrival_scale
        n_jobs = int(rng.poisson(rate * machines * horizon_s))
        times = np.sort(rng.uniform(0.0, horizon_s, n_jobs))
        sizes = _from_counts(band_cal["tasks_per_job"], n_jobs, machines, rng)
        parts.append(_rows(band_cal, sizes, times, "durations", next_job, rng))
        next_job += n_jobs

    cols = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    order = np.lexsort((cols["task_index"], cols["job"], cols["submit"]))
    cols = {k: v[order] for k, v in cols.items()}
    is_svc = cols["job"] < n_svc
    # a task that would run past the end of the cell is cut there, as at a trace window's end
    past = ~is_svc & (cols["submit"] + cols["duration"] > horizon_s)
    cols["duration"] = np.where(past, horizon_s - cols["submit"], cols["duration"])
    cols["end"] = np.where(past, TaskEnd.CENSORED, cols["end"])
    return _assemble(
        cal,
        cols,
        is_svc,
        replicas,
        svc_cpu,
        svc_mem,
        svc_prio,
        machine_table,
        machines,
        hours,
        seed,
        horizon_s,
        next_job,
        rng,
        arrival_scale,
    )


def _machines(cal: dict[str, Any], machines: int, rng: np.random.Generator) -> MachineTable:
    types = cal["machine_types"]
    kind = _from_shares([t["share"] for t in types], machines, rng)
    platforms = tuple(sorted({t["platform"] for t in types}))
    platform_of = np.array([platforms.index(t["platform"]) for t in types], dtype=np.int16)
    return MachineTable(
        time_s=np.zeros(machines),
        machine_id=np.arange(machines, dtype=np.int64),
        event=np.full(machines, MachineEventType.ADD, dtype=np.int8),
        platform=platform_of[kind],
        cpu=np.array([t["cpu"] for t in types], dtype=np.float32)[kind],
        mem=np.array([t["mem"] for t in types], dtype=np.float32)[kind],
        platforms=platforms,
    )


def _assemble(
    cal: dict[str, Any],
    cols: dict[str, npt.NDArray[Any]],
    is_svc: npt.NDArray[np.bool_],
    replicas: I64,
    svc_cpu: F64,
    svc_mem: F64,
    svc_prio: I64,
    machine_table: MachineTable,
    machines: int,
    hours: float,
    seed: int,
    horizon_s: float,
    n_jobs: int,
    rng: np.random.Generator,
    arrival_scale: float,
) -> Workload:
    ratios = RatioTables.from_dict(cal["usage"]["ratio_tables"])
    shapes = azure_shapes()
    usage = build_usage_model(
        ratios, shapes, cal["usage"]["ratio_stats"], ratio_source=cal["usage"]["ratio_source"]
    )
    n_svc = replicas.shape[0]
    svc_cpu_ratio, svc_mem_ratio = ratios.draw(svc_prio, svc_cpu, svc_mem, rng)
    svc_profile = rng.integers(0, int(shapes.shape[0]), size=int(n_svc)).astype(np.int16)
    cpu_ratio, mem_ratio = ratios.draw(cols["priority"], cols["cpu"], cols["mem"], rng)
    profile = rng.integers(0, int(shapes.shape[0]), size=int(cols["job"].shape[0])).astype(np.int16)
    svc_of = np.where(is_svc, cols["job"], -1).astype(np.int32)
    cpu_ratio[is_svc] = svc_cpu_ratio[svc_of[is_svc]]
    mem_ratio[is_svc] = svc_mem_ratio[svc_of[is_svc]]
    profile[is_svc] = svc_profile[svc_of[is_svc]]
    floor = MIN_REQUEST  # quantile interpolation can touch 0; requests stay in (0, 1]
    tasks = TaskTable(
        submit_s=cols["submit"].astype(np.float64),
        duration_s=cols["duration"].astype(np.float32),
        cpu_request=np.clip(cols["cpu"], floor, 1.0).astype(np.float32),
        mem_request=np.clip(cols["mem"], floor, 1.0).astype(np.float32),
        priority=cols["priority"].astype(np.int8),
        sched_class=cols["sched"].astype(np.int8),
        job=cols["job"].astype(np.int32),
        task_index=cols["task_index"].astype(np.int32),
        service=svc_of,
        cpu_usage_ratio=cpu_ratio,
        mem_usage_ratio=mem_ratio,
        profile=profile,
        end=cols["end"].astype(np.int8),
    )
    rep = replicas.astype(np.int32)
    services = ServiceTable(
        job=np.arange(n_svc, dtype=np.int32),
        initial_replicas=rep,
        min_replicas=np.ones(n_svc, dtype=np.int32),
        max_replicas=(4 * rep).astype(np.int32),
        priority=svc_prio.astype(np.int8),
        cpu_request=np.clip(svc_cpu, floor, 1.0).astype(np.float32),
        mem_request=np.clip(svc_mem, floor, 1.0).astype(np.float32),
        base_cpu_demand=(rep * np.clip(svc_cpu, floor, 1.0) * svc_cpu_ratio).astype(np.float32),
        base_mem_demand=(rep * np.clip(svc_mem, floor, 1.0) * svc_mem_ratio).astype(np.float32),
        profile=svc_profile,
    )
    meta = {
        "generator": "autoinfra.traces.synthetic.generate_cell",
        "machines": machines,
        "hours": hours,
        "seed": seed,
        "arrival_scale": arrival_scale,
        "calibration_version": cal.get("version"),
        "calibration_source": cal.get("source"),
        "trace_offset_s": 0.0,
        "max_tasks_per_job": machines,
    } | _summary(tasks, horizon_s)
    return Workload(
        machines=machine_table,
        tasks=tasks,
        services=services,
        usage=usage,
        job_ids=np.arange(n_jobs, dtype=np.int64),
        start_s=0.0,
        end_s=horizon_s,
        source=(
            f"synthetic(machines={machines}, hours={hours:g}, seed={seed}"
            + (f", arrival_scale={arrival_scale:g})" if arrival_scale != 1.0 else ")")
        ),
        meta=meta,
    )


def _summary(tasks: TaskTable, horizon_s: float) -> dict[str, Any]:
    """Nominal tasks running at once, and the day's task events (counted as the docstring says)."""
    start = tasks.submit_s
    finish = start + tasks.duration_s.astype(np.float64)
    probes = np.linspace(0.0, horizon_s, 97)[:-1]  # every 15 minutes of a day
    starts_sorted = np.sort(start)
    finish_sorted = np.sort(finish)
    running = np.searchsorted(starts_sorted, probes, side="right") - np.searchsorted(
        finish_sorted, probes, side="right"
    )
    arriving = int((start > 0.0).sum())
    ends = int((tasks.end != TaskEnd.CENSORED).sum())
    return {
        "nominal_running": {
            "at_start": int(running[0]),
            "mean": float(running.mean()),
            "max": int(running.max()),
        },
        "task_events": {
            "submit": arriving,
            "schedule": arriving,
            "end": ends,
            "total": 2 * arriving + ends,
            "rule": "SUBMIT + SCHEDULE per arriving task, one end event per task "
            "ending inside the window; EVICT/LOST/UPDATE not counted",
        },
    }
