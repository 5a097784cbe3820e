"""Simulator runs under a stream of mutations are exactly what they were before the speed work.

``tests/sim/mutation_digest.py`` recorded, on commit fb4a009, digests of every output table of
runs that mix faults, both placement modes, replica changes, resizes and drains; the same runs
must give the same digests and counters now.
"""

from __future__ import annotations

import json

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
