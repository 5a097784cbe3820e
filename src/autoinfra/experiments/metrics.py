"""What one run measured, computed from the simulator's output tables, and its spread across seeds.

Every figure of the report comes from here, from the DataFrames the simulator writes (``ticks``,
``tasks``, ``faults``; see ``autoinfra.sim``) and the actions the system under test submitted. The
definitions are exact and the same for every system (``docs/evaluation.md`` repeats them):

- ``utilization_cpu`` / ``utilization_mem``: time-weighted mean over the evaluation window of CPU
  (memory) used by tasks / capacity of powered machines (booting, on, draining, failed: all that
  draw power): the paper's metric. A hog's or intruder's CPU is not utilisation.
- ``slack_cpu``: Autopilot-style slack, 1 - used / requested over the same machines (mean of ticks).
- ``energy_kwh``: facility energy (IT power x PUE) integrated over the window.
- ``energy_kwh_per_task``: ``energy_kwh`` / tasks that completed in the window (their work done
  as the trace has it: finished, failed, killed, or reached the trace window's end; NaN when none
  did). ``pending_tasks_mean``: time-weighted mean of the pending queue's length.
- ``slo_violation_rate``: share of service-ticks in violation (``services_violating`` / services,
  averaged over ticks); the simulator defines a violating service.
- ``scheduling_delay_p95_s``: 95th percentile of submit-to-first-start delay over the tasks
  submitted in the window; a task still pending at the end counts with its delay so far (a lower
  bound), so a system that never places work cannot look fast.
- per fault kind: ``detect_s`` (to the system's first finding of that kind on the target),
  ``mitigate_s`` (to the first action aimed at the detected fault: its target, a remedy for its
  kind; an action that happened to touch an undetected fault earns nothing) and ``recovery_s``
  (to the world showing no damage, as the simulator judged it from the state alone), each from
  injection and averaged over the faults of that kind that got there; ``detected``,
  ``mitigated``, ``recovered`` / ``faults`` count them; ``self_cleared`` counts the recovered
  ones nobody fixed (their duration ran out, or the world healed without a credited action);
  ``no_effect`` counts faults that found nothing to harm (their machine was off or failed, or
  nothing was throttled, slowed or stranded when they struck): they are left out of every time
  and of ``faults``, since a recovery from no damage says nothing about a system.
  ``recovery_lower_bound_s`` counts unrecovered faults as recovering at the window's end, a
  lower bound that keeps a system that never recovers from looking better than one that does.
  Only the scenario's faults count.
- ``actions``: actions the system submitted; ``false_alarms``: findings on targets with no active
  fault (counted by the simulator's ``record_detection``).
- Burn-in: with ``measure_from_s`` > 0 every figure covers ``[measure_from_s, end]`` only: ticks
  from then on, energy and evictions as differences of their cumulative counters, tasks finished
  then, scheduling delay of tasks submitted then. The start-up transient is nobody's doing.
  (``throttled_machine_s`` and ``memory_kills``, the simulator's cumulative counters, as
  differences from the burn-in's end: ``experiments.run``.)
- the price of overcommit: ``cpu_throttled_share``, time-weighted mean share of running tasks' CPU
  demand not served (throttled by contention: overcommit or a hog); ``throttled_machine_s``,
  machine-seconds spent throttled; ``memory_kills``, tasks killed because memory used exceeded a
  machine's capacity (the last two from the simulator's counters, after the burn-in).

No figure is clamped, rounded toward or compared with the paper's inside this module.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

SCALAR_METRICS: tuple[str, ...] = (
    "utilization_cpu",
    "utilization_mem",
    "slack_cpu",
    "energy_kwh",
    "energy_kwh_per_task",
    "tasks_finished",
    "pending_tasks_mean",
    "slo_violation_rate",
    "scheduling_delay_p95_s",
    "evictions",
    "actions",
    "false_alarms",
    "cpu_throttled_share",
    "throttled_machine_s",
    "memory_kills",
)
WORKLOAD_ENDINGS = ("finish", "fail", "kill", "censored")
FAULT_FIELDS: tuple[str, ...] = ("detect_s", "mitigate_s", "recovery_s", "recovery_lower_bound_s")
FAULT_COUNTS: tuple[str, ...] = (
    "faults",
    "detected",
    "mitigated",
    "recovered",
    "self_cleared",
    "no_effect",
)


def time_weighted_mean(time_s: pd.Series | np.ndarray, values: pd.Series | np.ndarray) -> float:
    """Mean of a step function sampled at ``time_s`` (each value holds until the next sample).

    The last sample gets the median spacing as its weight, so evenly spaced samples reduce to the
    plain mean.
    """
    t = np.asarray(time_s, dtype=np.float64)
    v = np.asarray(values, dtype=np.float64)
    ok = ~np.isnan(v)
    t, v = t[ok], v[ok]
    if v.size == 0:
        return math.nan
    if v.size == 1:
        return float(v[0])
    dt = np.diff(t)
    w = np.append(dt, np.median(dt))
    total = float(w.sum())
    return float((w * v).sum() / total) if total > 0 else float(v.mean())


def tick_metrics(
    ticks: pd.DataFrame, n_services: int, energy_before_kwh: float = 0.0
) -> dict[str, float]:
    """Utilisation, slack, energy and SLO violation from the per-tick table.

    ``ticks.energy_kwh`` is cumulative since the simulation started; ``energy_before_kwh`` is its
    value when the measured window began (0 when the window is the whole run).
    """
    if ticks.empty:
        names = (
            "utilization_cpu",
            "utilization_mem",
            "slack_cpu",
            "energy_kwh",
            "pending_tasks_mean",
            "cpu_throttled_share",
        )
        return {**{k: math.nan for k in names}, "slo_violation_rate": math.nan}
    t = ticks["time_s"]
    cpu = time_weighted_mean(t, ticks["cpu_util"])
    mem = time_weighted_mean(t, ticks["mem_util"])
    alloc = ticks["cpu_alloc"].to_numpy(dtype=np.float64)
    used = ticks["cpu_util"].to_numpy(dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        slack = np.where(alloc > 0, 1.0 - used / alloc, np.nan)
    # facility energy (IT x PUE) when the simulator reports it, else IT energy
    energy = ticks["facility_energy_kwh"] if "facility_energy_kwh" in ticks else ticks["energy_kwh"]
    spent = float(energy.iloc[-1]) - energy_before_kwh
    if "services" in ticks:
        services = ticks["services"].to_numpy(dtype=np.float64)
    else:
        services = np.full(len(ticks), float(n_services))
    if "services_violating" in ticks and services.max(initial=0.0) > 0:
        violating = ticks["services_violating"].to_numpy(dtype=np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            share = np.where(services > 0, violating / services, 0.0)
        slo = time_weighted_mean(t, share)
    else:
        slo = 0.0 if services.max(initial=0.0) <= 0 else math.nan
    pending = (
        time_weighted_mean(t, ticks["pending_tasks"]) if "pending_tasks" in ticks else math.nan
    )
    throttled = (
        time_weighted_mean(t, ticks["throttled_share"]) if "throttled_share" in ticks else math.nan
    )
    return {
        "cpu_throttled_share": throttled,
        "pending_tasks_mean": pending,
        "utilization_cpu": cpu,
        "utilization_mem": mem,
        "slack_cpu": time_weighted_mean(t, slack),
        "energy_kwh": spent,
        "slo_violation_rate": slo,
    }


def task_metrics(tasks: pd.DataFrame, window_end_s: float, from_s: float = 0.0) -> dict[str, float]:
    """Finished tasks, scheduling delay p95 (pending tasks censored at the end) and evictions.

    Only what happened from ``from_s`` on: tasks that ended then, delays of tasks submitted then.
    """
    if tasks.empty:
        return {"tasks_finished": 0.0, "scheduling_delay_p95_s": math.nan, "evictions": 0.0}
    start = tasks["start_s"].to_numpy(dtype=np.float64)
    submit = tasks["submit_s"].to_numpy(dtype=np.float64)
    delay = np.where(np.isnan(start), window_end_s - submit, start - submit)
    delay = np.clip(delay, 0.0, None)[submit >= from_s]
    reason = tasks["end_reason"].astype(str).str.lower()
    if from_s > 0 and "end_s" in tasks:
        # NaN end (still running) compares False: not finished in the window
        reason = reason[tasks["end_s"].to_numpy(dtype=np.float64) >= from_s]
    # the workload's own endings: its work done (finish), or it failed, was killed or reached the
    # trace window's end (censored) as in the trace; not "scaled_down" by a system
    finished = int(reason.isin(WORKLOAD_ENDINGS).sum())
    evictions = float(tasks["evictions"].sum()) if "evictions" in tasks else 0.0
    return {
        "tasks_finished": float(finished),
        "scheduling_delay_p95_s": float(np.percentile(delay, 95)) if delay.size else math.nan,
        "evictions": evictions,
    }


def fault_metrics(faults: pd.DataFrame, window_end_s: float) -> dict[str, dict[str, float]]:
    """Per fault kind: mean detect / mitigate / recovery times and how many got there."""
    out: dict[str, dict[str, float]] = {}
    if faults.empty:
        return out
    # only the scenario's faults that found a target; the trace's own machine removals (origin
    # "trace") are the workload's history, resubmitted by the simulator as Borg did
    if "origin" in faults:
        faults = faults[faults["origin"] == "scenario"]
    if "target" in faults:
        faults = faults[faults["target"].astype(str) != ""]
    for kind, everything in faults.groupby("kind", sort=True):
        harmless = (
            everything["no_effect"].astype(bool)
            if "no_effect" in everything
            else pd.Series(False, index=everything.index)
        )
        group = everything[~harmless]
        rec = group["recovery_s"].to_numpy(dtype=np.float64)
        injected = group["injected_s"].to_numpy(dtype=np.float64)
        lower = np.where(np.isnan(rec), window_end_s - injected, rec)
        out[str(kind)] = {
            "faults": float(len(group)),
            "no_effect": float(harmless.sum()),
            "detected": float(group["detect_s"].notna().sum()),
            "mitigated": float(group["mitigate_s"].notna().sum()),
            "recovered": float(np.count_nonzero(~np.isnan(rec))),
            "self_cleared": float(group["self_cleared"].astype(bool).sum())
            if "self_cleared" in group
            else 0.0,
            "detect_s": _nanmean(group["detect_s"]),
            "mitigate_s": _nanmean(group["mitigate_s"]),
            "recovery_s": _nanmean(group["recovery_s"]),
            "recovery_lower_bound_s": float(np.mean(lower)) if lower.size else math.nan,
        }
    return out


def run_metrics(
    *,
    ticks: pd.DataFrame,
    tasks: pd.DataFrame,
    faults: pd.DataFrame,
    n_services: int,
    window_end_s: float,
    actions: int,
    false_alarms: int,
    measure_from_s: float = 0.0,
    sim_counts: Mapping[str, float] | None = None,
) -> dict[str, Any]:
    """Every metric of one run: scalars plus ``faults`` (per kind, see :func:`fault_metrics`).

    ``measure_from_s``: the end of the burn-in; what happened before it is not measured.
    ``sim_counts``: ``memory_kills`` and ``throttled_machine_s`` over the measured span (NaN
    without).
    """
    metrics: dict[str, Any] = {}
    for name in ("memory_kills", "throttled_machine_s"):
        metrics[name] = float((sim_counts or {}).get(name, math.nan))
    energy_before = 0.0
    evictions_before = 0.0
    if measure_from_s > 0 and not ticks.empty:
        before = ticks[ticks["time_s"] <= measure_from_s]
        if not before.empty:
            column = "facility_energy_kwh" if "facility_energy_kwh" in ticks else "energy_kwh"
            energy_before = float(before[column].iloc[-1])
            if "evictions" in before:
                evictions_before = float(before["evictions"].iloc[-1])
        measured = ticks[ticks["time_s"] >= measure_from_s]
    else:
        measured = ticks
    metrics.update(tick_metrics(measured, n_services, energy_before_kwh=energy_before))
    metrics.update(task_metrics(tasks, window_end_s, from_s=measure_from_s))
    if measure_from_s > 0 and "evictions" in measured and not measured.empty:
        # the per-task counter cannot say when an eviction happened; the tick counter can
        metrics["evictions"] = float(measured["evictions"].iloc[-1]) - evictions_before
    finished = metrics["tasks_finished"]
    metrics["energy_kwh_per_task"] = metrics["energy_kwh"] / finished if finished > 0 else math.nan
    metrics["actions"] = float(actions)
    metrics["false_alarms"] = float(false_alarms)
    metrics["faults"] = fault_metrics(faults, window_end_s)
    return metrics


def spread(values: Iterable[float]) -> dict[str, float | int | None]:
    """mean, std (sample, ddof=1; 0 for one value), min, max and n of the non-NaN values."""
    arr = np.asarray([v for v in values if v is not None and not math.isnan(v)], dtype=np.float64)
    if arr.size == 0:
        return {"mean": None, "std": None, "min": None, "max": None, "n": 0}
    return {
        "mean": float(arr.mean()),
        "std": float(arr.std(ddof=1)) if arr.size > 1 else 0.0,
        "min": float(arr.min()),
        "max": float(arr.max()),
        "n": int(arr.size),
    }


def aggregate(runs: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per system: each metric's spread across seeds.

    A seed's value is the mean over that seed's scenarios (fault kinds: over the scenarios that
    contain the kind), so ``n`` counts seeds, and every seed weighs the same.
    """
    by_system: dict[str, dict[int, list[Mapping[str, Any]]]] = {}
    for run in runs:
        by_system.setdefault(str(run["system"]), {}).setdefault(int(run["seed"]), []).append(run)
    out: dict[str, dict[str, Any]] = {}
    for system, seeds in sorted(by_system.items()):
        entry: dict[str, Any] = {}
        for name in SCALAR_METRICS:
            entry[name] = spread(
                _nanmean([float(r["metrics"].get(name, math.nan)) for r in rs])
                for rs in seeds.values()
            )
        kinds = sorted({k for rs in seeds.values() for r in rs for k in r["metrics"]["faults"]})
        recovery: dict[str, Any] = {}
        for kind in kinds:
            per_kind: dict[str, Any] = {}
            for field_name in FAULT_FIELDS:
                per_kind[field_name] = spread(
                    _nanmean(
                        [
                            r["metrics"]["faults"][kind][field_name]
                            for r in rs
                            if kind in r["metrics"]["faults"]
                        ]
                    )
                    for rs in seeds.values()
                )
            for count in FAULT_COUNTS:
                per_kind[count] = int(
                    sum(
                        r["metrics"]["faults"][kind].get(count, 0)
                        for rs in seeds.values()
                        for r in rs
                        if kind in r["metrics"]["faults"]
                    )
                )
            recovery[kind] = per_kind
        entry["recovery_s"] = recovery
        out[system] = entry
    return out


def _nanmean(values: Iterable[float] | pd.Series) -> float:
    arr = np.asarray(list(values), dtype=np.float64)
    arr = arr[~np.isnan(arr)]
    return float(arr.mean()) if arr.size else math.nan
