"""Where the runs of a study execute: local processes (default) or Ray (local or a cluster).

Both take the same inputs (the runs, each seed's slice, the shared settings) and call back once per
finished run, so the harness draws one progress bar whatever runs them. Results come back in the
order of the runs given, never in completion order, so a study's output does not depend on which
worker was faster.
"""

from __future__ import annotations

from autoinfra.core.errors import ConfigError
from autoinfra.experiments.executors.base import Executor, OnDone


def check_executor(name: str) -> None:
    """Fail now, with the fix, when the executor cannot run here (before any trace is loaded)."""
    if name == "ray":
        import importlib.util

        # find_spec looks for the package without importing it (importing ray takes seconds)
        if importlib.util.find_spec("ray") is None:
            raise ConfigError(
                "the ray executor needs the 'ray' extra: pip install 'autoinfra[ray]'",
                field="executor",
            )


def make_executor(name: str, *, jobs: int, ray_address: str | None = None) -> Executor:
    if name == "ray":
        from autoinfra.experiments.executors.ray import RayExecutor

        return RayExecutor(jobs=jobs, address=ray_address)
    from autoinfra.experiments.executors.local import LocalExecutor

    return LocalExecutor(jobs=jobs)


__all__ = ["Executor", "OnDone", "check_executor", "make_executor"]
