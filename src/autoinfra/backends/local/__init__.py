"""The ``local`` backend: a fleet of real worker processes on this machine, with real faults.

Machines are process groups under a CPU limit (cgroups where writable, else psutil), each led by
a supervisor that heartbeats; services are replicas answering HTTP on 127.0.0.1; a bounded load
generator gives them demand. Faults are real (kill -9 of a group, stress-ng, tbf on a veth in a
network namespace, a hidden process with unusual egress) and so are the fixes. See
``backend.LocalBackend`` for the life cycle and ``writer.LocalWriter`` for the operations.

Importing this package is light: the fleet's modules load when ``build`` is called, because the
worker processes themselves are started as ``python -m autoinfra.backends.local.<module>``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from autoinfra.backends.local.backend import LocalBackend

__all__ = ["build"]


def build(*, seed: int, scenario: Any, options: Mapping[str, Any]) -> LocalBackend:
    """The ``local`` backend (not started). Options: the fields of ``LocalSettings`` plus
    ``journal`` (a path: the writer's request-id journal, so ids survive a restart)."""
    from autoinfra.backends.local.backend import LocalBackend
    from autoinfra.backends.local.config import LocalSettings

    opts = dict(options)
    journal = opts.pop("journal", None)
    if isinstance(scenario, str):
        from autoinfra.faults.registry import load_scenario

        scenario = load_scenario(scenario)
    return LocalBackend(LocalSettings.from_options(opts), seed=seed, scenario=scenario,
                        journal_path=journal)  # fmt: skip
