"""Simulator runs under a stream of mutations are exactly what they were before the speed work.

``tests/sim/mutation_digest.py`` recorded, on commit fb4a009, digests of every output table of
runs that mix faults, both placement modes, replica changes, resizes and drains; the same runs
must give the same digests and counters now.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.sim.mutation_digest import CASES, REFERENCE, run_case


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_run_matches_the_recorded_digests(case: tuple[str, str, str, int, int]) -> None:
    name, placement, scenario, slice_seed, seed = case
    want = json.loads(REFERENCE.read_text())[name]
    got = run_case(placement, scenario, slice_seed, seed)
    assert got["summary"] == want["summary"]
    assert got["rows"] == want["rows"]
    assert got["digests"] == want["digests"]


def test_the_reference_runs_exercise_the_paths() -> None:
    # runs without evictions, preemptions or scale-downs could not catch a change in them
    ref = json.loads(REFERENCE.read_text())
    for name, case in ref.items():
        s = case["summary"]
        assert s["preemptions"] > 0 and s["resize_oom_kills"] > 0, name
        assert s["tasks_scaled_down"] > 50 and s["placements"] > 500, name
        assert case["rows"]["faults"] > 0, name
    assert any(case["summary"]["memory_kills"] > 0 for case in ref.values())


def _rates(sim: object) -> list[bytes]:
    w = sim._state  # type: ignore[attr-defined]
    return [w.tot.tobytes(), w.mf.tobytes(), w.vf.tobytes(), w.vi.tobytes(), w.lf.tobytes()]


def test_every_mutation_leaves_the_state_pass_current() -> None:
    # a replica change that skips the state pass must leave exactly what a pass would write,
    # whatever came before it: a stale state (a fault injected between ticks), a scale-up, a
    # scale-down of placed replicas, a drain
    from autoinfra.faults.spec import FaultKind, FaultSpec
    from autoinfra.learning.pipeline import TrainSettings, training_windows
    from autoinfra.sim import SimSettings, Simulator

    pieces, _, _ = training_windows(TrainSettings(machines=20, seed=0, episode_s=600.0))
    sim = Simulator(pieces[0], SimSettings(tick_s=15.0, until_s=600.0), seed=0)
    svc = pieces[0].services
    room = (svc.max_replicas > svc.min_replicas + 2) & (svc.initial_replicas > 0)
    s = int(np.flatnonzero(room)[0])
    lo, hi = int(svc.min_replicas[s]), int(svc.max_replicas[s])
    for _ in range(3):
        sim.step()
    sim.inject(FaultSpec(kind=FaultKind.CPU_HOG, at_s=sim.now_s, target="machine:3", cpu_share=0.5))
    steps = [
        lambda: sim.writer.set_service_replicas(s, hi, by="t"),  # scale-up on a stale state
        lambda: sim.writer.drain(5, by="t"),
        lambda: sim.writer.set_service_replicas(s, lo, by="t"),  # stops placed replicas
        lambda: sim.writer.set_service_replicas(s, hi, by="t"),  # scale-up: pass skipped
        lambda: sim.writer.cordon(5, schedulable=True, by="t"),
    ]
    for change in steps:
        change()
        after = _rates(sim)
        sim._state.refresh(sim.now_s)
        assert _rates(sim) == after
        sim.step()


def test_observing_between_mutations_and_steps_does_not_change_the_run() -> None:
    """Monitoring reads the world; it must not steer it. A read of the pending queue once
    merged its new rows and made the next placement round skip them (a scale-up's replicas
    then waited for some machine to change)."""
    from autoinfra.learning.pipeline import TrainSettings, training_windows
    from autoinfra.sim import SimSettings, Simulator

    pieces, _, _ = training_windows(TrainSettings(machines=40, seed=2, episode_s=900.0))
    runs = []
    for observe in (False, True):
        sim = Simulator(pieces[0], SimSettings(tick_s=15.0, until_s=900.0), seed=0)
        rng = np.random.default_rng(0)
        svc = pieces[0].services
        scalable = np.flatnonzero(svc.max_replicas > svc.min_replicas)
        while not sim.done:
            s = int(rng.choice(scalable))
            hi = int(svc.max_replicas[s])
            sim.writer.set_service_replicas(s, int(rng.integers(1, hi + 1)), by="test")
            if observe:
                sim.observe()
            sim.step()
        runs.append((sim.results().summary["placements"], _rates(sim)))
    assert runs[0] == runs[1]
