"""Entry point of the ``autoinfra`` command.

Each subcommand lives in its own module and imports its heavy parts inside the command body, so
``autoinfra --help`` answers at once. Any ``AutoinfraError`` becomes one red line on stderr and
exit code 2; anything else is a bug and keeps its traceback (both in :mod:`autoinfra.cli.errors`).
"""

from __future__ import annotations

import typer

from autoinfra import __version__
from autoinfra.cli import chaos as chaos_cmd
from autoinfra.cli import experiment as experiment_cmd
from autoinfra.cli import live as live_cmd
from autoinfra.cli import regions as regions_cmd
from autoinfra.cli import serve as serve_cmd
from autoinfra.cli import simulate as simulate_cmd
from autoinfra.cli import token as token_cmd
from autoinfra.cli import trace as trace_cmd
from autoinfra.cli import train as train_cmd
from autoinfra.cli.errors import guard_commands

typer_app = typer.Typer(
    name="autoinfra",
    help=(
        "Autonomous agents for compute-cluster operations, evaluated on real Google cluster "
        "traces.\n\nStart with `autoinfra experiment --quick`, or `autoinfra trace info` to see "
        "the shipped trace slice."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
typer_app.add_typer(trace_cmd.app, name="trace")
typer_app.command("simulate")(simulate_cmd.simulate)
typer_app.command("experiment")(experiment_cmd.experiment)
typer_app.command("train")(train_cmd.train)
typer_app.command("live")(live_cmd.live)
typer_app.command("serve")(serve_cmd.serve)
typer_app.add_typer(token_cmd.app, name="token")
typer_app.command("chaos-test")(chaos_cmd.chaos_test)
typer_app.command("regions")(regions_cmd.regions)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"autoinfra {__version__}")
        raise typer.Exit()


@typer_app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Autonomous agents for compute-cluster operations."""


# every command, the sub-apps' included: our errors are one line and exit 2 (cli.errors)
guard_commands(typer_app)


def app() -> None:
    """Console-script entry. Usage errors and ``typer.Exit`` codes reach the shell as Click
    sets them; our own errors are already one line and exit 2 (:mod:`autoinfra.cli.errors`)."""
    typer_app()
