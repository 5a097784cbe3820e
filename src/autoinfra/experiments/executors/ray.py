"""Runs as Ray tasks: a local Ray instance by default, or an existing cluster (``--ray-address``).

The only module that imports ``ray`` (lazily, inside ``map``), so the default experiment never
loads it. Each seed's slice is put in Ray's object store once and shared by that seed's runs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from autoinfra.core.errors import ConfigError
from autoinfra.experiments.executors.base import OnDone
from autoinfra.experiments.run import RunResult, RunSettings, execute_run
from autoinfra.experiments.spec import RunSpec
from autoinfra.traces.tables import Workload


class RayExecutor:
    def __init__(self, *, jobs: int, address: str | None = None) -> None:
        self.jobs = max(1, int(jobs))
        self.address = address

    def map(
        self,
        runs: Sequence[RunSpec],
        slices: Mapping[int, Workload],
        settings: RunSettings,
        on_done: OnDone,
    ) -> list[RunResult]:
        try:
            import ray
        except ImportError as exc:
            raise ConfigError(
                "the ray executor needs the 'ray' extra: pip install 'autoinfra[ray]'",
                field="executor",
            ) from exc
        started_here = not ray.is_initialized()
        if started_here:
            kwargs: dict[str, Any] = {
                "include_dashboard": False,
                "log_to_driver": False,
                "configure_logging": False,
            }
            if self.address:
                kwargs["address"] = self.address
            else:
                kwargs["num_cpus"] = self.jobs
            ray.init(**kwargs)
        try:
            remote = ray.remote(num_cpus=1)(execute_run)
            shared = {seed: ray.put(w) for seed, w in slices.items()}
            index = {
                remote.remote(run, shared[run.seed], settings): i for i, run in enumerate(runs)
            }
            pending = list(index)
            by_index: dict[int, RunResult] = {}
            while pending:
                done, pending = ray.wait(pending, num_returns=1)
                for ref in done:
                    result: RunResult = ray.get(ref)
                    by_index[index[ref]] = result
                    on_done(result)
            return [by_index[i] for i in range(len(runs))]
        finally:
            if started_here:
                ray.shutdown()
