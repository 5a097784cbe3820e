"""One run of the grid: one system on one seed's slice under one fault scenario, start to end.

This is the function a worker process (or a Ray task) executes. It takes plain data (the run,
the slice, the shared settings) and returns plain data (metrics and tables), so it can run
anywhere. The loop is the one ``docs/architecture.md`` describes: after every simulator step the
system's runtime ticks; each incident finding the system reports goes to
``sim.record_detection`` so the fault timeline's detection time is the system's own, and findings
that match no active fault are counted as false alarms.

Each run replays ``burn_in_s + window_s`` seconds and measures the last ``window_s`` only: no
fault strikes during the burn-in (a scenario that would is moved later, all its faults by the same
amount: ``after_burn_in``), and the metrics leave the burn-in out
(``metrics.run_metrics(measure_from_s)``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Any

import pandas as pd

from autoinfra.core.actions import action_to_dict
from autoinfra.core.lifecycle import ActionRecord, ActionStatus
from autoinfra.core.proposal import Finding
from autoinfra.experiments.metrics import run_metrics
from autoinfra.experiments.spec import RunSpec
from autoinfra.faults.spec import FaultScenario
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
    burn_in_s: float = 0.0  # replayed before ``window_s``, not measured


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


def submitted_count(records: list[ActionRecord], from_s: float = 0.0) -> int:
    """Actions that reached the cluster (submitted to the actuator) from ``from_s`` on."""
    return sum(
        1
        for r in records
        if any(t.status == ActionStatus.SUBMITTED and t.at_s >= from_s for t in r.history)
    )


def _earliest_s(spec: Any) -> float:
    window = getattr(spec, "window_s", None)  # a fault drawn in a window starts at its start
    return float(window[0]) if window is not None else float(spec.at_s)


def after_burn_in(scenario: FaultScenario, burn_in_s: float) -> FaultScenario:
    """The scenario moved later just enough that no fault strikes during the burn-in.

    Every fault moves by the same amount (their spacing is the scenario's), and not at all when
    the scenario already starts after the burn-in (scenarios written for the default 900 s).
    """
    if burn_in_s <= 0 or not scenario.faults:
        return scenario
    shift = max(0.0, burn_in_s - min(_earliest_s(f) for f in scenario.faults))
    if shift == 0.0:
        return scenario
    moved = []
    for f in scenario.faults:
        changes: dict[str, Any] = {"at_s": f.at_s + shift}
        window = getattr(f, "window_s", None)
        if window is not None:
            lo, hi = window
            changes["window_s"] = (lo + shift, None if hi is None else hi + shift)
        moved.append(replace(f, **changes))
    return replace(scenario, faults=tuple(moved))


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
    # (memory_kills is a scalar metric already, measured after the burn-in: run_metrics)
    for key in ("resizes", "resize_oom_kills", "resize_throttled_ticks"):
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
        until_s=min(settings.burn_in_s + settings.window_s, workload.end_s - workload.start_s),
        record_every_s=settings.record_every_s,
    )
    scenario = after_burn_in(load_scenario(run.scenario), settings.burn_in_s)
    sim = Simulator(workload, config=config, scenario=scenario, seed=run.seed)
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
        matched = sim.record_detection(finding.target, by=agent_id, kind=finding.kind)
        if not matched and sim.now_s >= settings.burn_in_s:  # the burn-in is not measured
            false_alarms += 1

    system.runtime.on_finding = on_finding
    # the price of overcommit during the burn-in is nobody's doing: subtracted at the end
    at_burn_in = sim.price_counters() if settings.burn_in_s <= 0 else None
    while not sim.done:
        if at_burn_in is None and sim.now_s >= settings.burn_in_s:
            at_burn_in = sim.price_counters()
        sim.step()
        system.tick()
    results = sim.results()
    at_end = sim.price_counters()
    measured = {k: at_end[k] - (at_burn_in or at_end)[k] for k in at_end}
    end_s = float(sim.now_s)
    records = system.records
    metrics = run_metrics(
        ticks=results.ticks,
        tasks=results.tasks,
        faults=results.faults,
        n_services=len(workload.services),
        window_end_s=end_s,
        actions=submitted_count(records, from_s=settings.burn_in_s),
        false_alarms=false_alarms,
        measure_from_s=settings.burn_in_s,
        sim_counts=measured,
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
