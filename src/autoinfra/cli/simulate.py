"""``autoinfra simulate``: replay a workload in the simulator, with faults, and nobody acting.

On the shipped Google 2011 slice by default (``--machines N`` samples N machines of the cell and
their share of the jobs with ``sample_cell``; ``--hours H`` keeps the first H hours), on any
Google 2011 download with ``--trace DIR``, or on a synthetic cell with ``--synthetic``. No agent
runs here, so the simulator resubmits the tasks of a failed machine itself at once
(``auto_evict_failed_after_s = 0``). Prints a summary table; ``--out DIR`` writes the ticks, tasks,
fault timelines, events (Parquet) and the summary (JSON). Heavy imports happen inside the command
so ``autoinfra --help`` stays instant.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from autoinfra.cli.errors import one_line_errors
from autoinfra.cli.notices import SILENT_TASKS_HELP


def _finite(value: float | None) -> float | None:
    """Click's ranges let NaN through (every comparison with NaN is false)."""
    if value is not None and not math.isfinite(value):
        raise typer.BadParameter(f"expected a finite number, got {value}")
    return value


@one_line_errors
def simulate(
    trace: Path | None = typer.Option(
        None,
        "--trace",
        help="Google 2011 trace folder (default: the shipped slice).",
        file_okay=False,
    ),
    machines: int | None = typer.Option(
        None,
        "--machines",
        min=1,
        max=100_000,  # the Google cell has about 12,500; more is a typo that would fill memory
        help="Machines to simulate: sampled from the trace's cell (default: the whole cell), or "
        "the synthetic cell's size (default 12500).",
    ),
    hours: float | None = typer.Option(
        None,
        "--hours",
        min=0.001,
        max=744.0,  # 31 days: the 2011 trace spans 29
        callback=_finite,
        help="Simulated hours from the start (default: all of the trace; 24 for --synthetic).",
    ),
    faults: str = typer.Option(
        "none",
        "--faults",
        help="Fault scenario: a YAML/JSON file or a built-in name (none, node-failure, cpu-hog, "
        "network-congestion, intrusion, storm).",
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of every random choice (sampling, faults)."),
    out: Path | None = typer.Option(
        None,
        "--out",
        help="Write ticks/tasks/faults/events Parquet and summary.json here.",
        file_okay=False,
    ),
    synthetic: bool = typer.Option(
        False, "--synthetic", help="Simulate a synthetic cell calibrated on the slice instead."
    ),
    tick_s: float = typer.Option(
        5.0, "--tick-s", min=0.1, max=3600.0, callback=_finite, help="Simulated seconds per tick."
    ),
    placement: str = typer.Option(
        "requests",
        "--placement",
        help="requests (Kubernetes) | reservations (non-production work against usage + margin, "
        "as Borg).",
    ),
    silent_tasks: str = typer.Option(
        "stand-in",
        "--silent-tasks",
        help=SILENT_TASKS_HELP,
    ),
) -> None:
    """Replay a workload in the simulated cluster with a fault scenario and no agent acting
    (tasks of a failed machine are resubmitted at once, since nobody would evict them)."""
    results, wall_s = _run(
        trace, machines, hours, faults, seed, synthetic, tick_s, placement, silent_tasks
    )
    paths = results.to_parquet(out) if out is not None else {}
    console = Console()
    console.print(_table(results.summary, wall_s))
    for name, path in paths.items():
        console.print(f"wrote {name}: {path}", highlight=False, soft_wrap=True)


def _run(
    trace: Path | None,
    machines: int | None,
    hours: float | None,
    faults: str,
    seed: int,
    synthetic: bool,
    tick_s: float,
    placement: str = "requests",
    silent_tasks: str = "stand-in",
) -> tuple[Any, float]:
    import time

    from autoinfra.faults import load_scenario
    from autoinfra.sim import SimSettings, Simulator

    # first: a bad setting or scenario file fails before any heavy work
    config = SimSettings(
        tick_s=tick_s,
        auto_evict_failed_after_s=0.0,
        placement=placement,  # type: ignore[arg-type]  # checked by SimSettings
    )
    scenario = load_scenario(faults)
    if synthetic:
        from autoinfra.traces import generate_cell

        workload = generate_cell(machines=machines or 12500, hours=hours or 24.0, seed=seed)
    else:
        from autoinfra.traces import load_workload, sample_cell, window

        workload = load_workload(trace, seed=seed, silent_tasks=silent_tasks)
        from autoinfra.cli.notices import warn_inputs

        warn_inputs(Console(stderr=True), workload)
        if hours is not None:
            end = min(workload.start_s + hours * 3600.0, workload.end_s)
            workload = window(workload, workload.start_s, end)
        if machines is not None:
            workload = sample_cell(workload, machines, seed)
    sim = Simulator(workload, config=config, scenario=scenario, seed=seed)
    t0 = time.perf_counter()
    sim.run(progress=True)
    return sim.results(), time.perf_counter() - t0


def _table(summary: dict[str, Any], wall_s: float) -> Table:
    table = Table(title=f"simulated {summary['sim_time_s'] / 3600:.2f} h in {wall_s:.1f} s")
    table.add_column("measure")
    table.add_column("value", justify="right")
    rows = [
        ("workload", str(summary["workload_source"])),
        ("scenario", str(summary["scenario"])),
        ("machines", f"{summary['machines']:,}"),
        (
            "tasks submitted / finished",
            f"{summary['tasks_submitted']:,} / {summary['tasks_finished']:,}",
        ),
        (
            "running / pending at the end",
            f"{summary['tasks_running']:,} / {summary['tasks_pending']:,}",
        ),
        (
            "mean CPU / memory utilisation",
            f"{summary['mean_cpu_util']:.1%} / {summary['mean_mem_util']:.1%}",
        ),
        ("mean CPU allocated", f"{summary['mean_cpu_alloc']:.1%}"),
        (
            "mean / p90 scheduling delay",
            f"{summary['mean_sched_delay_s']:.1f} s / {summary['p90_sched_delay_s']:.1f} s",
        ),
        ("evictions (preemptions)", f"{summary['evictions']:,} ({summary['preemptions']:,})"),
        (
            f"placed by {summary['placement']}: throttled / memory kills",
            f"{summary['throttled_machine_s']:,.0f} machine-s / {summary['memory_kills']:,}",
        ),
        ("work lost", f"{summary['work_lost_s'] / 3600:,.1f} task-hours"),
        ("SLO violation rate", f"{summary['slo_violation_rate']:.2%}"),
        (
            "energy IT / facility",
            f"{summary['energy_kwh']:,.1f} / {summary['facility_energy_kwh']:,.1f} kWh",
        ),
        (
            "faults injected / recovered",
            f"{summary['faults_injected']} / {summary['faults_recovered']}",
        ),
    ]
    for name, value in rows:
        table.add_row(name, value)
    return table
