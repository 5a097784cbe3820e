"""Failure predictor on the shipped trace's machine events: trained on an earlier window, scored
on a later one, figures printed as they are (base rate about 0.1 % of machines per hour)."""

from __future__ import annotations

import numpy as np
import pytest

from autoinfra.core.actions import DrainMachine
from autoinfra.core.errors import ConfigError
from autoinfra.policies.failure import (
    FailureDrainPolicy,
    FailurePredictor,
    machine_history,
    snapshot,
)
from autoinfra.traces.tables import MachineEventType, MachineTable
from tests.agents.fakes import FakeSim

DAY = 86400.0


@pytest.fixture(scope="module")
def history() -> MachineTable:
    return machine_history()


def test_snapshot_uses_only_the_past(history: MachineTable) -> None:
    t = 5 * DAY
    ids, x, y = snapshot(history, t, 3600.0)
    assert ids.shape[0] == x.shape[0] == y.shape[0] > 10_000
    rem = (
        (history.time_s > t)
        & (history.time_s <= t + 3600)
        & (history.event == MachineEventType.REMOVE)
    )
    assert y.sum() == np.isin(ids, history.machine_id[rem]).sum()
    # features at t do not change when events after t are dropped
    keep = history.time_s <= t
    cut = MachineTable(
        *(
            getattr(history, f)[keep]
            for f in ("time_s", "machine_id", "event", "platform", "cpu", "mem")
        ),
        platforms=history.platforms,
    )
    ids2, x2, _ = snapshot(cut, t, 3600.0)
    np.testing.assert_array_equal(ids, ids2)
    np.testing.assert_allclose(x, x2)


def test_predictor_beats_the_base_rate_on_a_later_window(history: MachineTable) -> None:
    pred = FailurePredictor(horizon_s=3600.0, seed=0).fit(
        history, 600.0, 10 * DAY, step_s=12 * 3600.0
    )
    score = pred.evaluate(history, 20 * DAY, 23 * DAY, step_s=6 * 3600.0)
    print("failure predictor, trained days 0-10, scored days 20-23:", score.as_dict())
    assert score.positives > 0 and score.samples > 100_000
    # honest bar: better than flagging at random (precision above the base rate), some recall
    assert score.precision > 2 * score.base_rate and score.recall > 0.0
    with pytest.raises(ConfigError, match="inside the training window"):
        pred.evaluate(history, 5 * DAY, 8 * DAY)


def test_drain_policy_proposes_drains_for_risky_present_machines(history: MachineTable) -> None:
    pred = FailurePredictor(threshold=0.0, seed=0).fit(history, 600.0, 4 * DAY, step_s=DAY)
    world = FakeSim(n_machines=8)
    ids, _, _ = snapshot(history, 6 * DAY, 3600.0)
    pol = FailureDrainPolicy(pred, history, trace_offset_s=6 * DAY, max_drains=2)
    obs = world.observe()
    import dataclasses

    obs = dataclasses.replace(obs, machine_ids=ids[:8].astype(np.int64))
    out = pol.decide(obs, [])
    assert len(out) == 2 and all(isinstance(p.action, DrainMachine) for p in out)
    assert pol.decide(obs, [])[:0] == [] and all(p.justification.inputs for p in out)
    assert FailureDrainPolicy().decide(obs, []) == []  # untrained: nothing
