"""The study from spec to report: inputs, training, the grid of runs, tables, summary, figures.

``run_experiment(spec, out_dir)`` is what ``autoinfra experiment`` calls. In order:

1. check every fault scenario loads (fail before any work, with the file and field named);
2. load the trace and draw each seed's slice (``experiments.inputs``);
3. make sure the learned parts are trained on the training window (``experiments.training``);
4. run systems x scenarios x seeds on the chosen executor, with a progress bar;
5. write the raw tables (Parquet), ``summary.json``, the figures and the report, each atomically.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from autoinfra.experiments.artifacts import write_json, write_parquet
from autoinfra.experiments.executors import make_executor
from autoinfra.experiments.inputs import StudyInputs, load_inputs
from autoinfra.experiments.run import RunResult, RunSettings
from autoinfra.experiments.spec import ExperimentSpec
from autoinfra.experiments.summary import build_summary


def describe_scenarios(names: Sequence[str]) -> dict[str, str]:
    """Load every scenario (raising ConfigError for a bad one) and say what each injects."""
    from autoinfra.faults import load_scenario

    out: dict[str, str] = {}
    for name in names:
        scenario = load_scenario(name)
        parts = []
        for f in scenario.faults:
            dur = "until mitigated" if f.duration_s is None else f"for {f.duration_s:.0f} s"
            parts.append(f"{f.kind} at {f.at_s:.0f} s on {f.target}, {dur}")
        out[name] = "; ".join(parts) if parts else "no faults (steady state)"
    return out


def combine(results: Sequence[RunResult], table: str) -> pd.DataFrame:
    """One table over all runs, with system, scenario and seed columns in front."""
    frames = []
    for r in results:
        frame: pd.DataFrame = getattr(r, table)
        if frame is None or frame.empty:
            continue
        frame = frame.copy()
        frame.insert(0, "seed", r.run.seed)
        frame.insert(0, "scenario", r.run.scenario)
        frame.insert(0, "system", r.run.system)
        frames.append(frame)
    if not frames:
        return pd.DataFrame({"system": [], "scenario": [], "seed": []})
    out = pd.concat(frames, ignore_index=True)
    # object columns of mixed content (detail dicts, None) are written as text for Parquet
    for column in out.columns:
        if out[column].dtype == object:
            out[column] = out[column].map(
                lambda v: v if v is None or isinstance(v, str) else str(v)
            )
    return out


def runs_table(results: Sequence[RunResult]) -> pd.DataFrame:
    rows: list[dict[str, Any]] = []
    for r in results:
        row: dict[str, Any] = {
            "system": r.run.system,
            "scenario": r.run.scenario,
            "seed": r.run.seed,
            "wall_s": r.wall_s,
        }
        for key, value in r.metrics.items():
            if key == "faults":
                for kind, fields in value.items():
                    for name, v in fields.items():
                        row[f"{kind}.{name}"] = v
            else:
                row[key] = value
        rows.append(row)
    return pd.DataFrame(rows)


def run_experiment(
    spec: ExperimentSpec,
    out_dir: Path,
    *,
    on_stage: Callable[[str], None] | None = None,
    on_run: Callable[[RunResult], None] | None = None,
    on_total: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Run the whole study and write every output under ``out_dir``; returns the summary."""
    from autoinfra.experiments import plots
    from autoinfra.experiments.report import write_report
    from autoinfra.experiments.systems import ensure_registered
    from autoinfra.experiments.training import ensure_trained

    stage = on_stage or (lambda _msg: None)
    ensure_registered()
    scenarios = describe_scenarios(spec.faults)
    stage("loading the trace and drawing the slices")
    inputs: StudyInputs = load_inputs(spec)
    stage("training the learned parts on the training window")
    training = ensure_trained(spec, inputs)
    settings = RunSettings(
        window_s=spec.scale.window_s,
        burn_in_s=spec.burn_in_s,
        tick_s=spec.tick_s,
        record_every_s=spec.record_every_s,
        system_params={k: dict(v) for k, v in spec.system_params.items()},
        tables={s: training["artifact"] for s in training.get("systems", ())},
    )
    runs = spec.runs()
    if on_total is not None:
        on_total(len(runs))
    stage(f"running {len(runs)} runs on the {spec.executor} executor")
    executor = make_executor(spec.executor, jobs=spec.jobs, ray_address=spec.ray_address)
    results = executor.map(runs, inputs.slices, settings, on_run or (lambda _r: None))
    stage("writing tables, summary, figures and report")
    out_dir.mkdir(parents=True, exist_ok=True)
    ticks = combine(results, "ticks")
    for name in ("ticks", "tasks", "faults", "events", "actions"):
        write_parquet(
            out_dir / f"{name}.parquet", ticks if name == "ticks" else combine(results, name)
        )
    write_parquet(out_dir / "runs.parquet", runs_table(results))
    summary = build_summary(
        spec,
        inputs,
        results,
        training=training,
        scenarios=scenarios,
    )
    figures = plots.draw_all(
        out_dir,
        ticks,
        summary["systems"],
        list(spec.systems),
        list(spec.faults),
        faults=combine(results, "faults"),
        paired=summary.get("paired"),
        burn_in_s=spec.burn_in_s,
    )
    write_json(out_dir / "summary.json", summary)
    write_report(out_dir, summary, figures)
    return summary
