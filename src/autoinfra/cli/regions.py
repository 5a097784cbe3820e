"""``autoinfra regions``: several regions as separate processes, shifting load for energy."""

from __future__ import annotations

from pathlib import Path

import typer

from autoinfra.cli.errors import one_line_errors
from autoinfra.core.atomic import write_json


@one_line_errors
def regions(
    machines: int = typer.Option(100, help="Machines per region."),
    minutes: float = typer.Option(60.0, help="Simulated minutes each region runs."),
    speed: float = typer.Option(120.0, help="Simulated seconds per wall second."),
    seed: int = typer.Option(0, help="Seed of the slice and the runs."),
    out: Path = typer.Option(Path("out/regions"), help="Folder for summary.json and logs."),
) -> None:
    """Run three regions (us-west, eu-west, ap-east) twice, with and without load shifting
    over NATS, and compare the energy they used and what it cost at their prices."""
    from autoinfra.core.errors import ConfigError
    from autoinfra.experiments.regions.launch import check_region_options, run_regions

    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} exists and is not a folder")
    check_region_options(machines, minutes, speed)
    typer.echo(f"running 3 regions x {minutes:g} simulated minutes at {speed:g}x, twice ...")
    summary = run_regions(out, machines=machines, minutes=minutes, speed=speed, seed=seed)
    # allow_nan as before: a NaN figure is still written, not a lost run
    write_json(out / "summary.json", summary, allow_nan=True)
    w, wo = summary["with_shift"], summary["without_shift"]
    typer.echo(f"energy kWh: {w['energy_kwh']} with shifting, {wo['energy_kwh']} without")
    typer.echo(f"energy cost: {w['energy_cost']} with shifting, {wo['energy_cost']} without")
    typer.echo(
        f"traffic shares at the end: {summary['shares_end']} (sum {summary['share_sum_end']})"
    )
