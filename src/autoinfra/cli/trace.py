"""``autoinfra trace``: look at trace data before replaying it.

``autoinfra trace info [--trace DIR] [--json] [--lenient]`` prints what a trace folder holds
(the shipped Google 2011 slice by default): Rich tables for people, JSON for programs. A bad
trace file ends the command with exit code 2 and one line naming the file, line and field; with
``--lenient`` bad rows are skipped and the count of skipped rows per kind is always printed.
The traces package is imported inside the command so ``autoinfra --help`` stays instant.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from autoinfra.cli.errors import one_line_errors

app = typer.Typer(
    name="trace",
    help="Inspect trace data (the shipped Google 2011 slice by default).",
    no_args_is_help=True,
    add_completion=False,
)


@app.callback()
def _trace() -> None:
    """Inspect trace data (the shipped Google 2011 slice by default)."""


@app.command("info")
@one_line_errors
def info(
    trace: Path | None = typer.Option(
        None,
        "--trace",
        help="Trace folder with task_events/, machine_events/, ... "
        "(default: the shipped Google 2011 slice).",
        file_okay=False,
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of tables."),
    lenient: bool = typer.Option(
        False, "--lenient", help="Skip bad rows (and report how many) instead of failing."
    ),
) -> None:
    """Counts, time span, event mix, platforms and usage/request figures of a trace."""
    from autoinfra.traces.info import trace_info

    err = Console(stderr=True)
    data = trace_info(trace, lenient=lenient)
    if data["skipped_rows"]:
        err.print(f"[yellow]lenient: {_skipped_line(data)}[/yellow]", soft_wrap=True)
    if as_json:
        typer.echo(json.dumps(data, indent=2))
        return
    _render(data, Console())


@app.command("calibrate")
@one_line_errors
def calibrate(
    out: Path | None = typer.Option(
        None, "--out", help="Where to write (default: the calibration.json shipped in the package)."
    ),
    trace: Path | None = typer.Option(
        None,
        "--trace",
        help="Trace folder to measure (default: the shipped slice).",
        file_okay=False,
    ),
) -> None:
    """Measure the synthetic cell's calibration on a trace and write it (atomically)."""
    from autoinfra.traces.calibration import write_calibration

    written = write_calibration(out, trace)
    typer.echo(f"wrote {written}")


@app.command("standins")
@one_line_errors
def standins(
    out: Path | None = typer.Option(
        None, "--out", help="Where to write (default: the standins.json shipped in the package)."
    ),
    trace: Path | None = typer.Option(
        None,
        "--trace",
        help="Trace folder with its history from the trace's start (default: the shipped slice).",
        file_okay=False,
    ),
    at_s: float | None = typer.Option(
        None, "--at-s", help="Trace second to measure at (default: the third part's first event)."
    ),
) -> None:
    """Measure the running load and the silent tasks' mix that mid-life data's stand-ins use."""
    from autoinfra.traces.standins import write_standins

    typer.echo(f"wrote {write_standins(out, trace, at_s)}")


def _skipped_line(data: dict[str, Any]) -> str:
    parts = []
    for table, report in data["skipped"].items():
        if report["skipped_rows"]:
            kinds = ", ".join(f"{k} {n}" for k, n in sorted(report["by_kind"].items()))
            parts.append(f"{table}: {report['skipped_rows']} rows ({kinds})")
    return f"skipped {data['skipped_rows']} bad rows; " + "; ".join(parts)


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.4g}" if abs(value) < 1e4 else f"{value:,.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _render(data: dict[str, Any], out: Console) -> None:
    out.print(f"[bold]Trace[/bold] {data['trace_dir']}", soft_wrap=True, highlight=False)
    summary = Table(show_header=False)
    summary.add_column("what", style="bold")
    summary.add_column("value", justify="right")
    for table in ("machine_events", "job_events", "task_events", "task_usage"):
        missing = table in data["missing"]
        summary.add_row(
            f"{table} rows", "[yellow]missing[/yellow]" if missing else _fmt(data[table])
        )
    for key, label in (
        ("machines", "machines (machine_events, all its span)"),
        ("jobs", "jobs (task_events)"),
        ("tasks", "tasks (job, index)"),
        ("start_s", "task_events from (s)"),
        ("end_s", "task_events to (s)"),
    ):
        summary.add_row(label, _fmt(data[key]))
    start = data["start_s"]
    if start is not None:
        from autoinfra.traces.schema import TRACE_WINDOW_START_S

        summary.add_row(
            "history",
            "from the trace's start"
            if start <= TRACE_WINDOW_START_S
            else "[yellow]starts mid-life[/yellow]: silent tasks get stand-ins (--silent-tasks)",
        )
    summary.add_row("skipped rows", _fmt(data["skipped_rows"]))
    out.print(summary)
    if data["missing"]:
        out.print(f"[yellow]missing tables (no part files):[/yellow] {', '.join(data['missing'])}")

    events = Table(title="Events by type")
    events.add_column("table")
    events.add_column("event")
    events.add_column("rows", justify="right")
    for table, counts in data["events_by_type"].items():
        for event, n in counts.items():
            events.add_row(table, event, _fmt(n))
    out.print(events)

    platforms = Table(title="Platforms")
    platforms.add_column("platform id")
    platforms.add_column("machines", justify="right")
    platforms.add_column("capacities (cpus / memory: machines)")
    for p in data["platforms"]:
        caps = ", ".join(f"{c['cpus']:g}/{c['memory']:g}: {c['machines']}" for c in p["capacities"])
        platforms.add_row(p["platform_id"], _fmt(p["machines"]), caps or "-")
    out.print(platforms)

    cal = data["usage_calibration"]
    if cal is None:
        out.print("[yellow]no usage/request figures: task_usage or task_events is missing[/yellow]")
        return
    usage = Table(
        title=f"Usage / request, task_usage window {cal['window_s'][0]:g}-{cal['window_s'][1]:g} s"
    )
    for col in ("band", "tasks", "CPU median", "CPU p90", "memory median", "memory p90"):
        usage.add_column(col, justify="left" if col == "band" else "right")
    for band in ("overall", "free", "middle", "production"):
        row = cal[band]
        usage.add_row(
            band,
            _fmt(row["tasks"]),
            _fmt(row["cpu_median"]),
            _fmt(row["cpu_p90"]),
            _fmt(row["mem_median"]),
            _fmt(row["mem_p90"]),
        )
    out.print(usage)
