"""What a command tells the user about its inputs that limits what its results mean.

Not an error (the command runs), but printed whatever the progress settings: a trace folder that
starts in the middle of the trace replays a far emptier cell than the one it was cut from
(``autoinfra.traces.workload.history_warning``).
"""

from __future__ import annotations

from typing import Any

from autoinfra.traces import Workload

__all__ = ["warn", "warn_history"]


def warn(console: Any, message: str) -> None:
    """One yellow ``warning:`` line (wrapped by the console) on ``console``."""
    console.print(f"[bold yellow]warning:[/bold yellow] {message}", highlight=False)


def warn_history(console: Any, workload: Workload) -> None:
    """Warn when ``workload`` was read from a trace that starts mid-life."""
    from autoinfra.traces.workload import history_warning

    warning = history_warning(workload)
    if warning:
        warn(console, warning)
