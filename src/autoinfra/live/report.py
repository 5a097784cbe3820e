"""The live run's report: ``summary.json`` in the experiment's schema, plots and ``report.md``.

Per system the experiment's figures (``experiments.metrics.aggregate`` over one "seed", the live
run): ``recovery_s`` by fault kind with detect, mitigate and recovery times and counts, from the
backend's own fault timeline (never the agents' word), on the backend's clock: wall seconds for
real backends, simulated seconds (wall x ``speed``) for ``sim``. Utilisation and the pending queue
are the means over what the agents perceived through Prometheus; figures a live cluster cannot
measure the way the simulator does (energy per task, SLO violations, scheduling delay) are null.
Also per system: actions submitted, held in safe mode, the proposals' final statuses, the audit
chain verified from disk, safe-mode periods; in shadow mode what the agents would have done.

Files per system beside the summary: ``faults.parquet``, ``actions.parquet`` (every proposal's
lifecycle), ``metrics/`` (the time-series store as Parquet), ``audit.jsonl``, ``journal.jsonl``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from autoinfra.core.atomic import write_text
from autoinfra.experiments.artifacts import versions, write_json, write_parquet
from autoinfra.experiments.metrics import aggregate, fault_metrics
from autoinfra.experiments.plots import _pyplot, _save
from autoinfra.experiments.plots_recovery import recovery_figure
from autoinfra.experiments.render import Bullets, Figure, Heading, Paragraph, Table, to_markdown
from autoinfra.experiments.report import _fault_table
from autoinfra.experiments.run import actions_frame, submitted_count
from autoinfra.experiments.summary import clean
from autoinfra.live.settings import LiveSettings, SystemRun

__all__ = ["SCHEMA", "build_summary", "write_live_report"]

SCHEMA = "autoinfra-experiment-summary-v1"  # the experiment's schema, with a "live" section


def _metrics(run: SystemRun) -> dict[str, Any]:
    store = run.store
    out: dict[str, Any] = {}
    for key, series in (
        ("utilization_cpu", "cpu_util"),
        ("utilization_mem", "mem_util"),
        ("pending_tasks_mean", "pending_tasks"),
    ):
        _, values = store.cluster(series) if len(store) else (None, np.zeros(0))
        out[key] = float(np.mean(values)) if values.size else math.nan
    for key in (
        "slack_cpu",
        "energy_kwh",
        "energy_kwh_per_task",
        "tasks_finished",
        "slo_violation_rate",
        "scheduling_delay_p95_s",
        "evictions",
    ):
        out[key] = math.nan  # not measured the simulator's way on a live cluster
    out["actions"] = float(submitted_count(run.acting.records))
    out["false_alarms"] = float(run.false_alarms)
    out["faults"] = fault_metrics(run.faults, run.end_s)
    return out


def _statuses(records: Sequence[Any]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for r in records:
        counts[r.status.value] = counts.get(r.status.value, 0) + 1
    return dict(sorted(counts.items()))


def build_summary(
    settings: LiveSettings, runs: Sequence[SystemRun], **servers: str
) -> dict[str, Any]:
    entries = [
        {
            "system": r.name,
            "scenario": settings.faults,
            "seed": settings.seed,
            "metrics": _metrics(r),
        }
        for r in runs
    ]
    systems = aggregate(entries)
    for r in runs:
        systems[r.name]["description"] = r.description
    clock = (
        "simulated seconds (wall seconds x speed)" if settings.backend == "sim" else "wall seconds"
    )
    live = {
        r.name: {
            "wall_s": r.wall_s,
            "clock_end_s": r.end_s,
            "actions_by_status": _statuses(r.acting.records),
            "held_in_safe_mode": r.held,
            "safe_mode_s": r.stale_s,
            "safe_mode_transitions": [
                {"at_s": t.at_s, "stale": t.stale, "reason": t.reason} for t in r.guard_transitions
            ],
            "audit_chain_verified": r.audit_ok,
            "audit_records": r.audit_records,
            "stopped_by_signal": r.stopped_by_signal,
            "reconciled_from_previous_run": r.reconciled,
            "shadow": None
            if r.shadow is None
            else {
                "system": r.shadow.name,
                "would_have": len(r.shadow.records),
                "would_have_by_kind": _kinds(r.shadow.records),
                "first_findings_s": dict(sorted(r.shadow_detections.items())),
            },
        }
        for r in runs
    }
    summary = {
        "schema": SCHEMA,
        "question": "How do the systems detect, mitigate and recover from faults on a live "
        f"backend ({settings.backend}), measured on its clock?",
        "spec": {
            "systems": [r.name for r in runs],
            "faults": [settings.faults],
            "seeds": [settings.seed],
            "backend": settings.backend,
            "mode": settings.mode,
            "dry_run": settings.dry_run,
            "duration_s": settings.duration_s,
            "speed": settings.speed if settings.backend == "sim" else 1.0,
            "machines": settings.machines,
            "scrape_interval_s": settings.scrape_interval_s,
            "stale_after_intervals": settings.stale_after_intervals,
            "fault_lead_s": settings.fault_lead_s,
            "clock": clock,
        },
        "servers": dict(servers),
        "versions": versions(),
        "systems": systems,
        "live": live,
        "metric_definitions": [
            "detect_s / mitigate_s / recovery_s: from a fault's injection to the acting system's "
            "first finding on its target, to the first action that addresses it, and to the "
            "backend judging the world healthy again; on the backend's clock (" + clock + ").",
            "utilization_cpu / utilization_mem / pending_tasks_mean: means over the observations "
            "the agents perceived through Prometheus; other scalar figures are null live.",
            "actions: actions the acting system submitted (held ones included: they were "
            "submitted and refused by safe mode); false_alarms: incident findings on targets "
            "with no active fault.",
        ],
        "caveats": [
            "One run per system, one seed: no spread (std 0, n 1).",
            "Faults were moved earlier so the first comes fault_lead_s wall seconds after the "
            "start; their spacing is the scenario's.",
        ],
    }
    return dict(clean(summary))


def _kinds(records: Sequence[Any]) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in records:
        out[r.action.kind] = out.get(r.action.kind, 0) + 1
    return dict(sorted(out.items()))


def write_live_report(
    out_dir: Path, settings: LiveSettings, runs: Sequence[SystemRun], **servers: str
) -> dict[str, Any]:
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = build_summary(settings, runs, **servers)
    for r in runs:
        sub = out_dir / r.name
        write_parquet(sub / "faults.parquet", r.faults)
        write_parquet(sub / "actions.parquet", actions_frame(r.acting.records))
        if r.shadow is not None:
            write_parquet(sub / "shadow-actions.parquet", actions_frame(r.shadow.records))
        if len(r.store):
            r.store.to_parquet(sub / "metrics")
    names = [r.name for r in runs]
    plots: dict[str, Path] = {}
    if any(summary["systems"][n]["recovery_s"] for n in names):
        plots["recovery"] = _recovery_plot(runs, settings, out_dir / "recovery.png")
    if any(len(r.store) for r in runs):
        plots["utilization"] = _utilization_plot(runs, out_dir / "utilization.png")
    write_json(out_dir / "summary.json", summary)
    write_text(out_dir / "report.md", to_markdown(_blocks(summary, names, plots)))
    return summary


def _recovery_plot(runs: Sequence[SystemRun], settings: LiveSettings, path: Path) -> Path:
    """The experiment's fault figure over the live runs (one scenario, one seed)."""
    import pandas as pd

    scenario, seed = str(settings.faults), int(settings.seed)
    frames: list[pd.DataFrame] = [
        r.faults.assign(system=r.name, scenario=scenario, seed=seed) for r in runs if len(r.faults)
    ]
    faults = pd.concat(frames, ignore_index=True)
    ends = pd.DataFrame(
        [
            {"system": r.name, "scenario": scenario, "seed": seed, "time_s": float(r.end_s)}
            for r in runs
        ]
    )
    return recovery_figure(faults, ends, [r.name for r in runs], path, _save)


def _utilization_plot(runs: Sequence[SystemRun], path: Path) -> Path:
    """CPU utilisation and the pending queue over the run, per system, from what the agents
    perceived through Prometheus (the time-series store)."""
    plt = _pyplot()
    fig, (ax_u, ax_q) = plt.subplots(1, 2, figsize=(12, 3.8))
    for r in runs:
        if not len(r.store):
            continue
        t, util = r.store.cluster("cpu_util")
        _, pending = r.store.cluster("pending_tasks")
        ax_u.plot(t, util, label=r.name)
        ax_q.plot(t, pending, label=r.name)
    ax_u.set_title("CPU used / capacity (powered machines)")
    ax_q.set_title("pending tasks")
    for ax in (ax_u, ax_q):
        ax.set_xlabel("seconds (backend clock)")
    ax_u.legend(loc="best", fontsize=8)
    return _save(fig, path)


def _blocks(summary: dict[str, Any], names: list[str], plots: dict[str, Path]) -> list[Any]:
    spec, live = summary["spec"], summary["live"]
    rows = tuple(
        (
            n,
            str(live[n]["actions_by_status"]),
            str(live[n]["held_in_safe_mode"]),
            f"{live[n]['safe_mode_s']:.1f}",
            "yes" if live[n]["audit_chain_verified"] else "NO",
            str(live[n]["audit_records"]),
        )
        for n in names
    )
    blocks: list[Any] = [
        Heading("autoinfra live report", 1),
        Paragraph(summary["question"]),
        Bullets(
            (
                f"Backend `{spec['backend']}`, mode `{spec['mode']}`"
                + (" (dry run)" if spec["dry_run"] else "")
                + f", {spec['duration_s']:g} s per system, faults `{spec['faults'][0]}`, seed "
                f"{spec['seeds'][0]}, clock: {spec['clock']}.",
                f"Telemetry: Prometheus at {summary['servers'].get('prometheus', '?')}, scraped "
                f"every {spec['scrape_interval_s']:g} s; stale after "
                f"{spec['stale_after_intervals']:g} intervals (safe mode).",
                f"Alerts: Alertmanager at {summary['servers'].get('alertmanager', '?')}.",
            )
        ),
        Heading("Faults"),
        _fault_table(summary, names),
        Heading("Actions, safe mode, audit"),
        Table(
            (
                "system",
                "actions by final status",
                "held (safe mode)",
                "safe mode s",
                "audit chain verified",
                "audit records",
            ),
            rows,
        ),
    ]
    for n in names:
        shadow = live[n]["shadow"]
        if shadow:
            blocks += [
                Heading(f"Shadow: {shadow['system']} beside {n}", 3),
                Paragraph(
                    f"{shadow['would_have']} proposals recorded as would-have (never "
                    f"executed): {shadow['would_have_by_kind']}; first findings: "
                    f"{shadow['first_findings_s']}"
                ),
            ]
    if "recovery" in plots:
        blocks.append(Figure(plots["recovery"].name, "detect, mitigate, recover per fault kind"))
    if "utilization" in plots:
        blocks.append(
            Figure(
                plots["utilization"].name,
                "CPU utilisation and pending tasks as the agents saw them",
            )
        )
    blocks += [
        Heading("Metrics, exactly"),
        Bullets(tuple(summary["metric_definitions"])),
        Heading("Caveats"),
        Bullets(tuple(summary["caveats"])),
    ]
    return blocks
