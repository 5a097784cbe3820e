"""Digests of simulator runs driven by a seeded stream of mutations: the exactness reference.

Speed work on the simulator's Python paths (enqueueing, scaling down, recording) must leave
every run as it was. A case runs a small slice of the shipped trace under a fault scenario and,
every tick, a few mutations drawn with a seed (replica changes of random services, now and then
a request resize, a drain or an uncordon), then hashes the run's tables (ticks, tasks, faults,
events; ``pandas.util.hash_pandas_object``, the index included) and its summary counters.
``tests/sim/test_exact_mutations.py`` compares with the reference file.

The reference was written by this module on the code before the speed work (commit fb4a009):

    PYTHONPATH=src python -m tests.sim.mutation_digest  # writes REFERENCE

Regenerate it only for a change that is meant to move the simulator's results, and say so.
Regenerated once since: for the pending queue's "untried rows" fix (a read of the queue had
marked new rows as tried, so a placement round skipped them; ``reservations-storm`` then placed
1,453 tasks instead of 1,623). The other two cases did not move.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

REFERENCE = Path(__file__).resolve().parents[1] / "data/sim/mutation_digests.json"

# (name, placement, fault scenario, slice seed, mutation seed)
CASES: tuple[tuple[str, str, str, int, int], ...] = (
    ("requests-storm", "requests", "storm", 1, 0),
    ("reservations-storm", "reservations", "storm", 2, 1),
    ("requests-node-failure", "requests", "node-failure", 3, 2),
)
_COUNTERS = ("placements", "evictions", "preemptions", "memory_kills", "tasks_finished",
             "tasks_scaled_down", "resize_oom_kills", "faults_recovered")  # fmt: skip


def run_case(placement: str, scenario: str, slice_seed: int, seed: int) -> dict[str, Any]:
    """One run (40 machines, 30 simulated minutes, 15 s ticks); its digests."""
    import pandas as pd

    from autoinfra.core.errors import SimulationError
    from autoinfra.learning.pipeline import TrainSettings, training_windows
    from autoinfra.sim import SimSettings, Simulator

    pieces, _, _ = training_windows(TrainSettings(machines=40, seed=slice_seed, episode_s=1800.0))
    workload = pieces[0]
    config = SimSettings(tick_s=15.0, until_s=1800.0, placement=placement)  # type: ignore[arg-type]
    sim = Simulator(workload, config, scenario=scenario, seed=seed)
    rng = np.random.default_rng(seed)
    svc = workload.services
    scalable = np.flatnonzero(svc.max_replicas > svc.min_replicas)
    n_machines = int(sim.observe().n_machines)
    while not sim.done:
        for _ in range(int(rng.integers(0, 4))):
            s = int(rng.choice(scalable))
            lo, hi = int(svc.min_replicas[s]), int(svc.max_replicas[s])
            with contextlib.suppress(SimulationError):  # e.g. a bound the draw ignores
                sim.writer.set_service_replicas(s, int(rng.integers(lo, hi + 1)), by="test")
        roll = rng.random()
        try:
            if roll < 0.05:
                s = int(rng.choice(scalable))
                sim.writer.resize_service_requests(
                    s, float(rng.uniform(0.005, 0.05)), float(rng.uniform(0.005, 0.05)), by="test"
                )
            elif roll < 0.08:
                sim.writer.drain(int(rng.integers(n_machines)), by="test")
            elif roll < 0.12:
                sim.writer.cordon(int(rng.integers(n_machines)), schedulable=True, by="test")
        except SimulationError:
            pass
        sim.step()
    res = sim.results()
    digests = {}
    for name in ("ticks", "tasks", "faults", "events"):
        table: pd.DataFrame = getattr(res, name)
        hashed = pd.util.hash_pandas_object(table, index=True).to_numpy()
        digests[name] = hashlib.sha256(hashed.tobytes() + repr(list(table.columns)).encode())
        digests[name] = digests[name].hexdigest()  # type: ignore[assignment]
    return {"digests": digests, "rows": {k: len(getattr(res, k)) for k in digests},
            "summary": {k: res.summary.get(k) for k in _COUNTERS}}  # fmt: skip


def record_all() -> dict[str, Any]:
    return {name: run_case(p, sc, ss, s) for name, p, sc, ss, s in CASES}


if __name__ == "__main__":
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else REFERENCE
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(record_all(), indent=1, sort_keys=True) + "\n")
    tmp.replace(out)  # atomic: never a half-written reference
    print(f"wrote {out}")
