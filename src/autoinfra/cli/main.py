"""Entry point of the ``autoinfra`` command.

Each subcommand lives in its own module and imports its heavy parts inside the command body, so
``autoinfra --help`` answers at once. Any ``AutoinfraError`` becomes one red line on stderr and
exit code 2; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any

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
from autoinfra.core.errors import AutoinfraError

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


def app() -> None:
    """Console-script entry: run Typer, turning our own errors into clean one-line failures.

    Typer runs in standalone mode, so usage errors and ``typer.Exit`` codes reach the shell as
    Click sets them; only ``AutoinfraError`` needs translating here. Standalone mode also turns
    *any* ``EOFError`` into a bare "Aborted!" naming nothing (a truncated gzip file deep in a
    reader printed only that): :func:`_eof_is_a_bug` makes such an error keep its traceback.
    """
    _eof_is_a_bug(typer_app)
    try:
        typer_app()
    except AutoinfraError as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        sys.exit(2)


def _eof_is_a_bug(group: typer.Typer) -> None:
    """Wrap every command so an ``EOFError`` escaping it surfaces as a bug with its traceback.

    Our readers turn truncated input into ``TraceError``/``ConfigError``; an ``EOFError`` that
    still escapes is a bug, and Typer would otherwise swallow it into "Aborted!".
    """
    for info in group.registered_commands:
        if info.callback is not None and not hasattr(info.callback, "__eof_guarded__"):
            info.callback = _guarded(info.callback)
    for sub in group.registered_groups:
        if sub.typer_instance is not None:
            _eof_is_a_bug(sub.typer_instance)


def _guarded(command: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(command)  # Typer reads the options from the wrapped signature
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except EOFError as exc:
            raise RuntimeError(
                f"unexpected end of input (a bug, not a usage error): {exc}"
            ) from exc

    run.__eof_guarded__ = True  # type: ignore[attr-defined]
    return run
