"""What a command tells the user about its inputs that limits what its results mean.

Not an error (the command runs), but printed whatever the progress settings: a trace folder that
starts in the middle of the trace cannot show the tasks running through it without an event, and
replays stand-ins for them or a far emptier cell (``autoinfra.traces.workload.history_warning``).
Light to import: the commands read their option help from here at start-up.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from autoinfra.traces import Workload

__all__ = ["SILENT_TASKS_HELP", "warn", "warn_inputs"]

# the --silent-tasks option's help, the same for experiment, train and simulate
SILENT_TASKS_HELP = (
    "What to do about running tasks that task_events starting mid-life cannot show: "
    "stand-in (default: fill the running load up to the level the shipped slice measured "
    "with its full history, from its silent jobs) | none (replay only what the data "
    "shows, a far emptier cell). Data from part-00000 on is not touched."
)


def warn(console: Any, message: str) -> None:
    """One yellow ``warning:`` line (wrapped by the console) on ``console``."""
    console.print(f"[bold yellow]warning:[/bold yellow] {message}", highlight=False)


def warn_inputs(console: Any, workload: Workload) -> None:
    """Warn when ``workload`` was read from a trace that starts mid-life, or whose usage table
    could not fit the usage model."""
    from autoinfra.traces.workload import input_warnings

    for warning in input_warnings(workload):
        warn(console, warning)
