"""``autoinfra chaos-test``: the reliability campaign, as a command anyone can run.

It starts its own nats-server and etcd on free 127.0.0.1 ports, runs the deployment and the
trials (see :mod:`autoinfra.live.chaos.campaign`), stops everything it started, prints
the counts and writes them to ``--out``. It exits 1 when anything was lost or done twice, so CI
can run it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import typer

from autoinfra.cli.errors import one_line_errors
from autoinfra.core.atomic import write_json


@one_line_errors
def chaos_test(
    trials: int = typer.Option(50, help="How many faults to inject, one after another."),
    seed: int = typer.Option(0, help="Seed of the fault schedule (which, when, how long)."),
    out: Path = typer.Option(Path("out/chaos"), help="Folder for report.json and the logs."),
) -> None:
    """Kill every autoinfra process in turn, take NATS, etcd and Prometheus down, jump clocks; count
    actions and approvals lost or duplicated, audit records lost, and time to resume."""
    from rich.progress import Progress

    from autoinfra.core.errors import ConfigError
    from autoinfra.live.chaos.campaign import CampaignSettings, run_campaign

    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} exists and is not a folder")
    settings = CampaignSettings(trials=trials, seed=seed)
    out.mkdir(parents=True, exist_ok=True)
    home = out / "run"  # the processes' state and logs, kept for a look afterwards
    if home.exists():
        shutil.rmtree(home)
    with Progress() as bar:
        task = bar.add_task("chaos trials", total=trials)

        def step(done: int, what: str) -> None:
            bar.update(task, completed=done, description=what[:40].ljust(40))

        report = run_campaign(home, settings, progress=step)
    # allow_nan as before: a NaN figure is still written, not a lost run
    write_json(out / "report.json", report, allow_nan=True)
    keys = ("trials", "kills", "server_outages", "clock_jumps", "settled", "requests_approved",
            "approvals_lost", "actions_lost", "actions_duplicated", "outcomes_lost",
            "audit_records_lost", "resume_s_p50", "resume_s_max")  # fmt: skip
    for key in keys:
        typer.echo(f"{key:>20}: {report[key]}")
    bad = sum(report[k] for k in ("approvals_lost", "actions_lost", "actions_duplicated",
                                  "outcomes_lost", "audit_records_lost"))  # fmt: skip
    if bad or not report["settled"]:
        typer.secho("the campaign found losses or duplicates (see report.json)", fg="red", err=True)
        raise typer.Exit(1)
