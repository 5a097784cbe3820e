"""How every ``autoinfra`` command fails: the one place that maps our errors to the shell.

- An ``AutoinfraError`` (bad input, a trace that cannot be read, an action refused) is the user's
  to fix: one red line ``error: <file>: <field>: <what was expected>`` on stderr and exit code 2,
  no traceback.
- An ``EOFError`` that escapes a command is a bug: our readers turn truncated input into
  ``TraceError``/``ConfigError``. Click in standalone mode would swallow it into a bare
  "Aborted!" naming nothing, so it is re-raised as a ``RuntimeError`` that keeps its traceback.
- Anything else is a bug too and keeps its traceback.

:func:`one_line_errors` decorates a command function (so it fails the same way in any Typer app,
including a test's); :func:`guard_commands` applies it to every command of an app and its
sub-apps, once, so a command added later cannot forget it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import typer

from autoinfra.core.errors import AutoinfraError

__all__ = ["EXIT_USAGE", "guard_commands", "one_line_errors"]

EXIT_USAGE = 2  # what Click uses for a usage error: the same for a bad file or value of ours
_MARK = "__autoinfra_guarded__"

P = ParamSpec("P")
R = TypeVar("R")


def one_line_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Wrap ``command``: our errors become one line on stderr and exit 2; EOF stays a bug."""
    if getattr(command, _MARK, False):
        return command

    @functools.wraps(command)  # Typer reads the options from the wrapped signature
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except AutoinfraError as exc:
            # secho, not a rich console: a message with [brackets] must not be read as markup
            typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
            raise typer.Exit(EXIT_USAGE) from exc
        except EOFError as exc:
            raise RuntimeError(
                f"unexpected end of input (a bug, not a usage error): {exc}"
            ) from exc

    setattr(run, _MARK, True)
    return run


def guard_commands(group: typer.Typer) -> None:
    """Apply :func:`one_line_errors` to every command of ``group`` and its sub-apps (idempotent)."""
    for info in group.registered_commands:
        if info.callback is not None:
            info.callback = one_line_errors(info.callback)
    for sub in group.registered_groups:
        if sub.typer_instance is not None:
            guard_commands(sub.typer_instance)
