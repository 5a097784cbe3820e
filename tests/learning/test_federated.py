"""Federated averaging of Q-tables: cells pool what they learnt, weighted by visits."""

from __future__ import annotations

import pytest

from autoinfra.core.errors import ConfigError
from autoinfra.learning.federated import federated_average
from autoinfra.policies.scaling.encoding import ENCODING_ID, ENCODINGS
from autoinfra.policies.scaling.qtable import QTablePolicy

N_STATES = ENCODINGS[ENCODING_ID].n_states


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
