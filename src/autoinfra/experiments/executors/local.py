"""Runs in this process (one job) or in a pool of local worker processes (``--jobs N``).

Workers are started with ``spawn``, not ``fork``: the parent has already used pyarrow's and
numba's thread pools to load the trace, and forking a process with live threads can deadlock the
child. Each task carries its own seed's slice (a few MB at the default scale).
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait

from autoinfra.experiments.executors.base import OnDone
from autoinfra.experiments.run import RunResult, RunSettings, execute_run
from autoinfra.experiments.spec import RunSpec
from autoinfra.traces.tables import Workload


class LocalExecutor:
    def __init__(self, *, jobs: int) -> None:
        self.jobs = max(1, int(jobs))

    def map(
        self,
        runs: Sequence[RunSpec],
        slices: Mapping[int, Workload],
        settings: RunSettings,
        on_done: OnDone,
    ) -> list[RunResult]:
        if self.jobs == 1 or len(runs) <= 1:
            results = []
            for run in runs:
                result = execute_run(run, slices[run.seed], settings)
                on_done(result)
                results.append(result)
            return results
        by_index: dict[int, RunResult] = {}
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=min(self.jobs, len(runs)), mp_context=context) as pool:
            futures: dict[Future[RunResult], int] = {
                pool.submit(execute_run, run, slices[run.seed], settings): i
                for i, run in enumerate(runs)
            }
            pending = set(futures)
            try:
                while pending:
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for future in done:
                        result = future.result()  # re-raises a worker's error here
                        by_index[futures[future]] = result
                        on_done(result)
            except BaseException:
                for future in pending:
                    future.cancel()
                raise
        return [by_index[i] for i in range(len(runs))]
