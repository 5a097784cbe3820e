"""The study from spec to report: inputs, training, the grid of runs, tables, summary, figures.

``run_experiment(spec, out_dir)`` is what ``autoinfra experiment`` calls. In order:

1. check what can be checked before any work (``preflight``): the output folder is not a file,
   the executor can run here, the trace folder holds a trace, every fault scenario loads; each
   failure one line naming the option or file;
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

from autoinfra.core.errors import ConfigError
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
            parts.append(f.describe())
        out[name] = "; ".join(parts) if parts else "no faults (steady state)"
    return out


def check_out_dir(out_dir: Path) -> None:
    """The output must be a folder (new or existing): a file there, or above it, is refused."""
    for path in (out_dir, *out_dir.parents):
        if path.exists():
            if not path.is_dir():
                what = "is a file" if path == out_dir else f"is inside {path}, which is a file"
                raise ConfigError(
                    f"{out_dir} {what}; expected a folder for the report (new or existing)",
                    field="out",
                )
            return


def check_trace_dir(trace_dir: Path | None) -> None:
    """A trace given must be a folder with ``task_events/`` and ``machine_events/`` part files."""
    if trace_dir is None:
        return
    from autoinfra.traces.reader import has_table

    expected = "a Google 2011 trace folder with task_events/ and machine_events/ part files"
    if not trace_dir.exists():
        raise ConfigError(f"{trace_dir} does not exist; expected {expected}", field="trace")
    if not trace_dir.is_dir():
        raise ConfigError(f"{trace_dir} is a file; expected {expected}", field="trace")
    missing = [t for t in ("task_events", "machine_events") if not has_table(trace_dir, t)]
    if missing:
        raise ConfigError(
            f"{trace_dir} has no {' or '.join(missing)} part files; expected {expected}",
            field="trace",
        )


def preflight(spec: ExperimentSpec, out_dir: Path) -> dict[str, str]:
    """Every check that needs no trace loaded; returns the scenarios' descriptions."""
    from autoinfra.experiments.executors import check_executor

    check_out_dir(out_dir)
    check_executor(spec.executor)
    check_trace_dir(spec.trace_dir)
    return describe_scenarios(spec.faults)


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
    on_warning: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Run the whole study and write every output under ``out_dir``; returns the summary."""
    from autoinfra.experiments import plots
    from autoinfra.experiments.report import write_report
    from autoinfra.experiments.systems import ensure_registered
    from autoinfra.experiments.training import ensure_trained

    stage = on_stage or (lambda _msg: None)
    ensure_registered()
    scenarios = preflight(spec, out_dir)
    stage("loading the trace and drawing the slices")
    inputs: StudyInputs = load_inputs(spec)
    for warning in inputs.warnings():
        (on_warning or stage)(warning)
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
