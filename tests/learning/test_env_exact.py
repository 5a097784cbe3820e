"""The registered environment steps exactly as it did before the speed work (a recorded reference).

``tests/learning/trajectory.py`` recorded, on commit fb4a009, the outputs of
``gymnasium.make("autoinfra/Scaling-v0")`` for fixed seeds and actions; here the same actions are
stepped again and every observation, reward, flag and info field must be bit-identical.
"""

from __future__ import annotations

import json

import pytest

from tests.learning.trajectory import CASES, REFERENCE, record


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_trajectory_matches_the_recorded_reference(
    case: tuple[str, dict[str, object], int, int, int],
) -> None:
    name, kwargs, reset_seed, action_seed, steps = case
    want = json.loads(REFERENCE.read_text())[name]
    assert want["make"] == kwargs
    got = record(kwargs, reset_seed, action_seed, steps)
    assert got["actions"] == want["actions"]
    assert len(got["rows"]) == len(want["rows"])
    for k, (g, w) in enumerate(zip(got["rows"], want["rows"], strict=True)):
        assert g == w, f"{name}: row {k} differs: {g} != {w}"


def test_the_reference_exercises_the_environment() -> None:
    # a reference of no-ops or of one state could not catch a change: check it has variety
    ref = json.loads(REFERENCE.read_text())
    rows = [r for case in ref.values() for r in case["rows"]]
    assert sum(r[8] != 0 for r in rows) > 100  # replica changes
    assert len({r[5] for r in rows}) > 5  # discrete states
    assert len({r[1] for r in rows}) > 50  # distinct rewards
    assert sum(r[3] for r in rows) >= 5  # truncations (resets)
    assert len({r[4] for r in rows}) > 3  # focal services
