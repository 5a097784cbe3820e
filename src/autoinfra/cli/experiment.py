"""``autoinfra experiment``: the study, from the command line (registered by ``cli/main.py``).

Options map one to one onto ``ExperimentSpec`` fields; ``--spec FILE`` reads the same keys from
YAML or JSON and the options given on the command line override the file. Heavy imports (the
simulator, pandas, matplotlib) happen inside the command so ``autoinfra --help`` stays instant.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from autoinfra.cli.errors import one_line_errors
from autoinfra.cli.notices import SILENT_TASKS_HELP

DEFAULT_OUT = Path("out/experiment")


@one_line_errors
def experiment(
    out: Path = typer.Option(DEFAULT_OUT, "--out", help="Folder for the report and raw data."),
    quick: bool = typer.Option(
        False,
        "--quick",
        help="The whole study at a tiny scale (20 runs): 16-20 s measured on a shared 2-core "
        "machine at load average 1.7-2.0.",
    ),
    scale: str | None = typer.Option(
        None,
        "--scale",
        help="default (300 machines, 1 h measured after a 1 h burn-in, 5 seeds; 1 min 22 s to "
        "2 min measured on a shared 2-core machine) | quick | paper "
        "(the paper's 10 nodes) | cell (the whole cell).",
    ),
    trace: Path | None = typer.Option(
        None, "--trace", help="A Google 2011 trace folder (default: the shipped slice)."
    ),
    trace_span: str | None = typer.Option(
        None,
        "--trace-span",
        help="START:END in trace seconds: the stretch of the trace to study (training on its "
        "first half); every part before END is read, so the cell at START is rebuilt from its "
        "whole history. Default: the whole trace.",
    ),
    silent_tasks: str | None = typer.Option(
        None,
        "--silent-tasks",
        help=SILENT_TASKS_HELP,
    ),
    systems: str | None = typer.Option(
        None,
        "--systems",
        help="Comma-separated systems (default: agents,kubernetes-defaults,human,noop).",
    ),
    faults: str | None = typer.Option(
        None,
        "--faults",
        help="Comma-separated fault scenarios: built-in names or files "
        "(default: none,node-failure,cpu-hog,network-congestion,storm).",
    ),
    seeds: str | None = typer.Option(
        None, "--seeds", help="Comma-separated seeds, or a count N for 0..N-1."
    ),
    jobs: int | None = typer.Option(None, "--jobs", help="Parallel runs (default 2)."),
    executor: str | None = typer.Option(None, "--executor", help="local (default) | ray."),
    ray_address: str | None = typer.Option(
        None, "--ray-address", help="Connect to this Ray cluster instead of starting one."
    ),
    machines: int | None = typer.Option(
        None, "--machines", help="Override the scale's number of machines."
    ),
    window_s: float | None = typer.Option(
        None, "--window-s", help="Override the scale's evaluated window length (seconds)."
    ),
    burn_in_s: float | None = typer.Option(
        None,
        "--burn-in-s",
        help="Seconds of the trace replayed before each measured window, left out of every "
        "metric, so that every system starts measuring at its operating point (default 3600; "
        "the report warns when one was not).",
    ),
    model: Path | None = typer.Option(
        None,
        "--model",
        help="A model `autoinfra train` wrote (Q-table .json or PPO .zip) for the agents' "
        "scaling, trained on an earlier window; default: train one on this trace's training "
        "window.",
    ),
    spec_file: Path | None = typer.Option(
        None, "--spec", help="A YAML/JSON file with the same keys; options given here win."
    ),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show progress bars."),
) -> None:
    """Run systems x fault scenarios x seeds on the trace and write a report."""
    from rich.console import Console

    from autoinfra.experiments.spec import build_spec, load_spec_file
    from autoinfra.experiments.systems import ensure_registered

    console = Console(stderr=True)
    data: dict[str, Any] = load_spec_file(spec_file) if spec_file is not None else {}
    source = str(spec_file) if spec_file is not None else "<options>"
    if quick and scale is not None and scale != "quick":
        raise typer.BadParameter("--quick and --scale name different scales; give one")
    given = {
        "scale": "quick" if quick else scale,
        "trace": str(trace) if trace is not None else None,
        "trace_span": trace_span,
        "silent_tasks": silent_tasks,
        "systems": systems,
        "faults": faults,
        "seeds": int(seeds)
        if seeds is not None and seeds.isdigit() and "," not in seeds
        else seeds,
        "jobs": jobs,
        "executor": executor,
        "ray_address": ray_address,
        "machines": machines,
        "window_s": window_s,
        "burn_in_s": burn_in_s,
        "model": str(model) if model is not None else None,
    }
    data.update({k: v for k, v in given.items() if v is not None})
    spec = build_spec(data, known_systems=ensure_registered(), source=source)
    _run(spec, out, console, progress)


def _run(spec: Any, out: Path, console: Any, progress: bool) -> None:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from autoinfra.experiments.harness import run_experiment

    # the bar appears once the runs start, so input errors print as one clean line before it
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        disable=not progress,
    )
    task = bar.add_task("runs", total=None)

    def stage(msg: str) -> None:
        if progress:
            console.print(f"[dim]{msg}[/dim]")

    def warn(msg: str) -> None:  # shown with or without progress: it changes what results mean
        from autoinfra.cli.notices import warn as show

        show(console, msg)

    def total(n: int) -> None:
        bar.update(task, total=n)
        bar.start()

    def done(result: Any) -> None:
        bar.update(task, advance=1, description=f"runs (last: {result.run.run_id})")

    try:
        summary = run_experiment(
            spec, out, on_stage=stage, on_run=done, on_total=total, on_warning=warn
        )
    finally:
        bar.stop()
    _print_summary(summary, out)


def _fmt(stat: dict[str, Any] | None, factor: float = 1.0, digits: int = 1) -> str:
    if not stat or stat.get("mean") is None:
        return "n/a"
    return f"{stat['mean'] * factor:.{digits}f} ± {(stat['std'] or 0.0) * factor:.{digits}f}"


def _print_summary(summary: dict[str, Any], out: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    systems = summary["spec"]["systems"]
    main = Table(title="measured: mean ± std across seeds")
    main.add_column("system", no_wrap=True)
    for col in ("CPU %", "memory %", "energy kWh", "SLO viol. %", "actions"):
        main.add_column(col)
    for name in systems:
        m = summary["systems"][name]
        main.add_row(
            name,
            _fmt(m["utilization_cpu"], 100.0),
            _fmt(m["utilization_mem"], 100.0),
            _fmt(m["energy_kwh"], digits=2),
            _fmt(m["slo_violation_rate"], 100.0),
            _fmt(m["actions"], digits=0),
        )
    kinds = sorted({k for name in systems for k in summary["systems"][name]["recovery_s"]})
    faults = Table(title="recovery s after injection (recovered / injected)")
    faults.add_column("system", no_wrap=True)
    for kind in kinds:
        faults.add_column(kind)
    for name in systems:
        cells = []
        for kind in kinds:
            e = summary["systems"][name]["recovery_s"].get(kind)
            cells.append(
                "-"
                if e is None
                else f"{_fmt(e['recovery_s'], digits=0)} ({e['recovered']}/{e['faults']})"
            )
        faults.add_row(name, *cells)
    console = Console()
    console.print(main)
    if kinds:
        console.print(faults)
    console.print(f"report: {out / 'report.html'} and {out / 'report.md'}; data: {out}")
