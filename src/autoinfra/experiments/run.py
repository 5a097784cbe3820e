"""One run of the grid: one system on one seed's slice under one fault scenario, start to end.

This is the function a worker process (or a Ray task) executes. It takes plain data (the run,
the slice, the shared settings) and returns plain data (metrics and tables), so it can run
anywhere. The loop is the one ``docs/architecture.md`` describes: after every simulator step the
system's runtime ticks; each incident finding the system reports goes to
``sim.record_detection`` so the fault timeline's detection time is the system's own, and findings
that match no active fault are counted as false alarms.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from autoinfra.core.actions import action_to_dict
from autoinfra.core.lifecycle import ActionRecord, ActionStatus
from autoinfra.core.proposal import Finding
from autoinfra.experiments.metrics import run_metrics
from autoinfra.experiments.spec import RunSpec
from autoinfra.traces.tables import Workload


@dataclass(frozen=True, slots=True)
class RunSettings:
    """What every run of a study shares (picklable)."""

    window_s: float
    tick_s: float
    record_every_s: float
    system_params: dict[str, dict[str, Any]] = field(default_factory=dict)
    # system -> the model trained for the study (or given), given to the build (``model_params``)
    tables: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class RunResult:
    run: RunSpec
    metrics: dict[str, Any]
    description: str
    ticks: pd.DataFrame
    tasks: pd.DataFrame
    faults: pd.DataFrame
    events: pd.DataFrame
    actions: pd.DataFrame
    n_services: int
    wall_s: float


def actions_frame(records: list[ActionRecord]) -> pd.DataFrame:
    """One row per proposal: what, by whom, its final status and when each step happened."""
    rows = []
    for r in records:
        times = {t.status.value: t.at_s for t in r.history}
        rows.append(
            {
                "request_id": r.request_id,
                "agent": r.proposed_by,
                "kind": r.action.kind,
                "target": r.action.target,
                "action": str(action_to_dict(r.action)),
                "status": r.status.value,
                "proposed_s": times.get("proposed"),
                "submitted_s": times.get("submitted"),
                "final_s": r.history[-1].at_s if r.history else None,
                "why": r.history[-1].why if r.history else "",
            }
        )
    return pd.DataFrame(
        rows,
        columns=[
            "request_id",
            "agent",
            "kind",
            "target",
            "action",
            "status",
            "proposed_s",
            "submitted_s",
            "final_s",
            "why",
        ],
    )


def submitted_count(records: list[ActionRecord]) -> int:
    """Actions that reached the cluster (submitted to the actuator), whatever their outcome."""
    return sum(1 for r in records if any(t.status == ActionStatus.SUBMITTED for t in r.history))


def oversight_metrics(records: list[ActionRecord], summary: dict[str, Any]) -> dict[str, float]:
    """Proposals made and refused by the gate (per kind that any were), and what request cuts
    cost in the world (zero for a system that never resizes): for the note on issue 9."""
    out: dict[str, float] = {"proposals": float(len(records))}
    refused: dict[str, int] = {}
    made: dict[str, int] = {}
    for r in records:
        made[r.action.kind] = made.get(r.action.kind, 0) + 1
        last = r.history[-1] if r.history else None
        if r.status == ActionStatus.REJECTED and last is not None and last.by == "gate":
            refused[r.action.kind] = refused.get(r.action.kind, 0) + 1
    out["gate_refused"] = float(sum(refused.values()))
    for kind in ("scale_service", "resize_requests"):
        out[f"proposals_{kind}"] = float(made.get(kind, 0))
        out[f"gate_refused_{kind}"] = float(refused.get(kind, 0))
    for key in ("resizes", "resize_oom_kills", "resize_throttled_ticks", "memory_kills"):
        out[key] = float(summary.get(key, 0))
    return out


def execute_run(run: RunSpec, workload: Workload, settings: RunSettings) -> RunResult:
    """Replay ``workload`` with ``run.system`` acting under ``run.scenario``, seeded by the run."""
    from autoinfra.agents import make_system
    from autoinfra.experiments.systems import ensure_registered
    from autoinfra.faults import load_scenario
    from autoinfra.sim import SimSettings, Simulator

    ensure_registered()
    started = time.perf_counter()
    config = SimSettings(
        tick_s=settings.tick_s,
        until_s=min(settings.window_s, workload.end_s - workload.start_s),
        record_every_s=settings.record_every_s,
    )
    sim = Simulator(workload, config=config, scenario=load_scenario(run.scenario), seed=run.seed)
    params = settings.system_params.get(run.system)
    if run.system in settings.tables:
        # the model trained for this study (or given: --model) is part of the build, through the
        # registry's make: a Q-table as ``qtable_path``, a PPO actor as ``ppo_path``
        from autoinfra.experiments.models import model_params

        params = {**(params or {}), **model_params(settings.tables[run.system])}
    system = make_system(run.system, sim, seed=run.seed, params=params)
    false_alarms = 0

    def on_finding(agent_id: str, finding: Finding) -> None:
        nonlocal false_alarms
        if not sim.record_detection(finding.target, by=agent_id, kind=finding.kind):
            false_alarms += 1

    system.runtime.on_finding = on_finding
    while not sim.done:
        sim.step()
        system.tick()
    results = sim.results()
    end_s = float(sim.now_s)
    records = system.records
    metrics = run_metrics(
        ticks=results.ticks,
        tasks=results.tasks,
        faults=results.faults,
        n_services=len(workload.services),
        window_end_s=end_s,
        actions=submitted_count(records),
        false_alarms=false_alarms,
        sim_counts={k: results.summary[k] for k in ("memory_kills", "throttled_machine_s")},
    )
    metrics.update(oversight_metrics(records, results.summary))
    return RunResult(
        run=run,
        metrics=metrics,
        description=system.description,
        ticks=results.ticks,
        tasks=results.tasks,
        faults=results.faults,
        events=results.events,
        actions=actions_frame(records),
        n_services=len(workload.services),
        wall_s=time.perf_counter() - started,
    )
