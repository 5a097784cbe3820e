"""The online feedback loop and federated averaging of Q-tables."""

from __future__ import annotations

import numpy as np
import pytest

from autoinfra.core.errors import ConfigError
from autoinfra.core.proposal import Outcome
from autoinfra.core.protocols import Policy
from autoinfra.learning.federated import federated_average
from autoinfra.learning.online import OnlineQPolicy
from autoinfra.learning.qlearning import QLearningConfig
from autoinfra.learning.rewards import REWARDS
from autoinfra.policies.qlearning import (
    ACTIONS,
    ENCODING_ID,
    ENCODINGS,
    QTablePolicy,
    encode,
    service_view,
)
from tests.learning.factories import observation

N_STATES = ENCODINGS[ENCODING_ID].n_states


def test_online_policy_learns_from_the_change_that_really_happened() -> None:
    online = OnlineQPolicy(
        QTablePolicy.zeros(), config=QLearningConfig(learning_rate=0.5, learning_rate_decay=0.0)
    )
    assert isinstance(online, Policy)
    first = observation(replicas=[2, 4], cpu_used=[0.19, 0.1], max_replicas=[8, 8], time_s=0.0)
    assert online.decide(first, []) == []  # nothing learnt yet, an untrained table does nothing
    s0 = encode(service_view(first, [], np.array([8, 8])), online.policy.encoding)
    # service 0 was scaled 2 -> 3 by someone; service 1 left alone
    second = observation(replicas=[3, 4], cpu_used=[0.19, 0.1], max_replicas=[8, 8], time_s=60.0)
    online.decide(second, [])
    report = online.last_report
    assert report.transitions == 2
    spec = REWARDS["slo-energy-v1"]
    # service 0 at 3 replicas x 0.1: utilisation 0.63, no SLO miss, 0.11 CPU idle of a maximum
    # footprint of 8 x 0.1, one change
    r0 = -(spec.w_energy * (0.3 - 0.19) / 0.8 + spec.w_action)
    # service 1: 0.1 used of 0.4 reserved, 0.3 idle, no change
    r1 = -(spec.w_energy * 0.3 / 0.8)
    q = online.policy.q
    assert q[s0[0], ACTIONS.index(1)] == pytest.approx(0.5 * r0, rel=1e-5)
    assert q[s0[1], ACTIONS.index(0)] == pytest.approx(0.5 * r1, rel=1e-5)
    assert online.stats.transitions == 2
    online.observe_outcomes([Outcome("x", True, 60.0), Outcome("y", False, 61.0)], [])
    assert online.stats.outcomes == {"succeeded": 1, "failed": 1}


def test_online_policy_sees_slo_misses() -> None:
    online = OnlineQPolicy(
        QTablePolicy.zeros(), config=QLearningConfig(learning_rate=1.0, learning_rate_decay=0.0)
    )
    hot = observation(replicas=[2], cpu_used=[0.195], max_replicas=[8])
    online.decide(hot, [])
    online.decide(hot, [])
    s = int(encode(service_view(hot, [], np.array([8])), online.policy.encoding)[0])
    spec = REWARDS["slo-energy-v1"]
    expected = -(spec.w_slo + spec.w_energy * (0.2 - 0.195) / 0.8)
    assert online.policy.q[s, ACTIONS.index(0)] == pytest.approx(expected, rel=1e-5)


def test_federated_average_weights_by_visits() -> None:
    a = QTablePolicy.zeros(provenance={"cell": "a"})
    b = QTablePolicy.zeros(provenance={"cell": "b"})
    a.q[5, 1], a.visits[5, 1] = -1.0, 3
    b.q[5, 1], b.visits[5, 1] = -3.0, 1
    b.q[6, 2], b.visits[6, 2] = -2.0, 2
    merged = federated_average([a, b])
    assert merged.q[5, 1] == pytest.approx(-1.5)
    assert merged.visits[5, 1] == 4
    assert merged.q[6, 2] == pytest.approx(-2.0) and merged.visits[6, 2] == 2
    assert merged.visits.sum() == 6 and merged.q[0, 0] == 0.0
    assert a.q[5, 1] == -1.0  # inputs untouched
    assert [p["cell"] for p in merged.provenance["federated_average"]] == ["a", "b"]


def test_federated_average_refuses_unlike_tables() -> None:
    with pytest.raises(ConfigError, match="only like tables"):
        federated_average([QTablePolicy.zeros(), QTablePolicy.zeros(reward="other-v1")])
    with pytest.raises(ConfigError, match="no tables"):
        federated_average([])
    assert N_STATES == 108


def test_online_policy_keeps_learning_on_the_simulator() -> None:
    from autoinfra.sim import SimConfig, Simulator
    from tests.learning.factories import small_workload

    sim = Simulator(small_workload(), SimConfig(tick_s=15.0), seed=0)
    online = OnlineQPolicy(QTablePolicy.default())
    before = online.policy.q.copy()
    for _ in range(12):
        for p in online.decide(sim.observe(), []):
            a = p.action
            replicas = int(sim.observe().service_replicas[a.service]) + a.delta_replicas
            sim.writer.set_service_replicas(a.service, replicas, by="test")
        sim.step()
    assert online.stats.periods == 11 and online.stats.transitions == 11 * 4
    assert not np.array_equal(online.policy.q, before)
    assert np.isfinite(online.policy.q).all()
