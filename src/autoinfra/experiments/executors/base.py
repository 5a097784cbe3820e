"""What every executor is: the ``Executor`` protocol and the per-run callback it calls.

Its own module so ``local`` and ``ray`` import it without importing the package that chooses
between them (``executors/__init__``): that would be an import cycle.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

from autoinfra.experiments.run import RunResult, RunSettings
from autoinfra.experiments.spec import RunSpec
from autoinfra.traces.tables import Workload

__all__ = ["Executor", "OnDone"]

OnDone = Callable[[RunResult], None]


class Executor(Protocol):
    """Runs every spec of a study and returns their results in the order given."""

    def map(
        self,
        runs: Sequence[RunSpec],
        slices: Mapping[int, Workload],
        settings: RunSettings,
        on_done: OnDone,
    ) -> list[RunResult]: ...
