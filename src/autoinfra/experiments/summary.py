"""``summary.json``: every figure of the study with its spread, and everything needed to trust it.

Per system the metrics of ``experiments.metrics`` as mean, std, min, max and n across seeds, per
fault kind the detect / mitigate / recovery times, and per scenario the same breakdown; plus the
spec, seeds, versions, the inputs (trace folder and file hashes), the workload model, the windows,
the training of learned parts, the metric definitions and the caveats. NaN never appears: a figure
that could not be measured is ``null``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from autoinfra.experiments.artifacts import versions
from autoinfra.experiments.inputs import StudyInputs
from autoinfra.experiments.metrics import SCALAR_METRICS, aggregate, spread
from autoinfra.experiments.paired import paired_results
from autoinfra.experiments.run import RunResult
from autoinfra.experiments.spec import ExperimentSpec
from autoinfra.experiments.steadiness import MOVED_SHARE, capacity_drift, drift_warnings

SCHEMA = "autoinfra-experiment-summary-v1"

METRIC_DEFINITIONS: tuple[str, ...] = (
    "utilization_cpu / utilization_mem: time-weighted mean over the run of CPU (memory) used by "
    "tasks / capacity of powered machines (booting, on, draining, failed: all that draw power) - "
    "the paper's metric; a hog's or intruder's CPU is not utilisation.",
    "slack_cpu: 1 - CPU used / CPU requested on powered machines (Autopilot-style slack).",
    "energy_kwh: facility energy (IT power from the SPECpower-style curves x PUE) over the run; "
    "energy_kwh_per_task divides it by the tasks that finished in the run.",
    "slo_violation_rate: share of service-ticks in which a service's CPU demand was not served "
    "(throttled, slowed by the network, stranded or too few replicas; the simulator's definition).",
    "scheduling_delay_p95_s: p95 of submit-to-first-start over tasks submitted in the run; tasks "
    "still pending at the end count with their delay so far (a lower bound).",
    "detect_s / mitigate_s / recovery_s: seconds from a fault's injection to the system's first "
    "finding of the fault's kind on its target, to the first action aimed at the detected fault "
    "(its target, a remedy for its kind; an action that happened to touch an undetected fault "
    "earns no credit), and to the world being healthy again as the simulator judges it from the "
    "state (never the system itself); averaged over the faults that got there. Counts: faults, "
    "detected, mitigated, recovered, self_cleared (recovered with nobody fixing them: their "
    "duration ran out or the world healed by itself) and no_effect (found nothing to harm, e.g. "
    "a machine that was off; left out of the times and of faults). recovery_lower_bound_s counts "
    "unrecovered faults as recovering at the end. Fault times and targets are drawn from the "
    "seed and the trace alone: every system of a seed meets the same faults.",
    "actions: actions the system submitted to the cluster; false_alarms: incident findings on "
    "targets with no active fault.",
    "cpu_throttled_share: time-weighted mean share of running tasks' CPU demand not served "
    "(contention from overcommit or a hog); throttled_machine_s: machine-seconds throttled; "
    "memory_kills: tasks killed because memory used exceeded a machine's capacity - the price of "
    "placing work against reservations rather than requests.",
    "Spread: each seed's value is the mean over the seed's scenarios (fault kinds: over the "
    "scenarios containing the kind); mean, std (ddof 1), min, max and n are across seeds.",
)

CAVEATS: tuple[str, ...] = (
    "This is a simulation replaying the Google 2011 trace, not the paper's testbed (Docker, "
    "Kubernetes, Prometheus, Gremlin, PowerAPI on 10 nodes). Kubernetes is modelled from its "
    "documented defaults; the human operator from published on-call figures.",
    "The trace has usage for one 5-minute window only: usage over time is a stated model (see "
    "'Workload model'), not the cell's measured usage.",
    "The paper states neither its workload slice, nor its fault schedule, nor how recovery or "
    "normalised energy were measured, so its figures cannot be compared like for like; they are "
    "shown as claims.",
    "Faults not recovered within the window have no recovery time; the lower bound column shows "
    "how that censoring weighs. The spread reflects only the seeds run (slice, fault targets, "
    "human delays); more seeds narrow it.",
    "Energy covers the machines of the slice only (no network gear, no storage) and uses one "
    "PUE for the facility.",
    "Placement is each system's own: kubernetes-defaults, human and noop place every task by "
    "requests (Kubernetes semantics); agents, unless its system_params say placement: requests, "
    "places non-production tasks against reservations "
    "(request for 300 s, then decaying towards CPU usage x 1.15; Borg, Verma et al. 2015, 5.5) "
    "and production by requests. Only CPU is reclaimed (memory use does not move in the usage "
    "model); the price is in the overcommit table (throttling, memory kills).",
)


def clean(value: Any) -> Any:
    """JSON-safe: NaN and infinities become None, tuples lists, numpy scalars Python numbers."""
    if isinstance(value, Mapping):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def by_scenario(results: Sequence[RunResult]) -> dict[str, dict[str, dict[str, Any]]]:
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for system in sorted({r.run.system for r in results}):
        for scenario in sorted({r.run.scenario for r in results}):
            rs = [r for r in results if r.run.system == system and r.run.scenario == scenario]
            if not rs:
                continue
            entry: dict[str, Any] = {m: spread(r.metrics[m] for r in rs) for m in SCALAR_METRICS}
            kinds = sorted({k for r in rs for k in r.metrics["faults"]})
            entry["faults"] = {
                k: {
                    f: spread(r.metrics["faults"][k][f] for r in rs if k in r.metrics["faults"])
                    for f in ("detect_s", "mitigate_s", "recovery_s")
                }
                for k in kinds
            }
            out.setdefault(system, {})[scenario] = entry
    return out


def build_summary(
    spec: ExperimentSpec,
    inputs: StudyInputs,
    results: Sequence[RunResult],
    *,
    training: Mapping[str, Any],
    scenarios: Mapping[str, str],
) -> dict[str, Any]:
    runs = [
        {
            "system": r.run.system,
            "scenario": r.run.scenario,
            "seed": r.run.seed,
            "metrics": r.metrics,
        }
        for r in results
    ]
    systems = aggregate(runs)
    for name, entry in systems.items():
        entry["description"] = next(r.description for r in results if r.run.system == name)
    usage = inputs.full.usage
    summary = {
        "schema": SCHEMA,
        "question": "Do autonomous agents beat Kubernetes defaults and a human operator on "
        "utilisation, recovery time and energy on replayed Google traces with injected faults?",
        "spec": {
            "systems": list(spec.systems),
            "faults": list(spec.faults),
            "seeds": list(spec.seeds),
            "scale": {
                "name": spec.scale.name,
                "machines": spec.scale.machines,
                "window_s": spec.scale.window_s,
                "description": spec.scale.description,
            },
            "tick_s": spec.tick_s,
            "record_every_s": spec.record_every_s,
            "train_fraction": spec.train_fraction,
            "executor": spec.executor,
            "jobs": spec.jobs,
            "system_params": spec.system_params,
            "burn_in_s": spec.burn_in_s,
            "trace_span": list(spec.trace_span) if spec.trace_span is not None else None,
            "silent_tasks": spec.silent_tasks,
        },
        "inputs": {
            "trace_dir": str(inputs.trace_dir),
            "files": inputs.files,
            "warnings": inputs.warnings(),
        },
        "workload_model": {"name": usage.name, "description": usage.description},
        "slice": inputs.slice_info(),
        "windows": {
            "train": list(inputs.train),
            "evaluation": list(inputs.evaluation),
            "evaluated": list(inputs.evaluated),
            "run_windows": [list(w) for w in inputs.windows],
            "per_seed": {str(k): list(v) for k, v in sorted(inputs.seed_windows.items())},
            "burn_in_s": inputs.burn_in_s,
            "units": "seconds from the start of the loaded trace window",
        },
        "training": dict(training),
        "versions": versions(),
        "scenarios": dict(scenarios),
        "systems": systems,
        # the answer: agents minus each baseline, paired by seed, with 95 % CIs (experiments.paired)
        "paired": paired_results(runs, list(spec.systems)),
        "by_scenario": by_scenario(results),
        "runs": [
            {
                "system": r.run.system,
                "scenario": r.run.scenario,
                "seed": r.run.seed,
                "metrics": r.metrics,
                "wall_s": r.wall_s,
            }
            for r in results
        ],
        "metric_definitions": list(METRIC_DEFINITIONS),
        "measurement": _measurement(spec, results),
        "caveats": [*inputs.warnings(), *CAVEATS],
    }
    return dict(clean(summary))


def _measurement(spec: ExperimentSpec, results: Sequence[RunResult]) -> dict[str, Any]:
    """Whether each system was at its operating point when measuring began (``steadiness``)."""
    import pandas as pd

    frames = [
        r.ticks[[c for c in ("time_s", "machines_on", "machines_draining") if c in r.ticks]].assign(
            system=r.run.system
        )
        for r in results
        if r.ticks is not None and not r.ticks.empty and "machines_on" in r.ticks
    ]
    ticks = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    window_s = spec.scale.window_s
    return {
        "capacity_drift": {
            k: round(v, 4) for k, v in capacity_drift(ticks, spec.burn_in_s, window_s).items()
        },
        "drift_threshold": MOVED_SHARE,
        "warnings": drift_warnings(ticks, spec.burn_in_s, window_s, list(spec.systems)),
    }
