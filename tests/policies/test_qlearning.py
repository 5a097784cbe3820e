"""QTablePolicy: state encoding, greedy choice with clamping, justification, artifact files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autoinfra.core.actions import ScaleService
from autoinfra.core.errors import ConfigError
from autoinfra.core.proposal import Finding
from autoinfra.core.protocols import Policy
from autoinfra.policies.scaling.encoding import ENCODING_ID, ENCODINGS, encode
from autoinfra.policies.scaling.qtable import QTablePolicy
from autoinfra.policies.scaling.space import ACTIONS, NOOP, ReplicaBounds, service_view
from tests.learning.factories import observation

ENC = ENCODINGS[ENCODING_ID]


def prefers(action_delta: int) -> QTablePolicy:
    """A table whose every state has tried every action and prefers ``action_delta``."""
    q = np.full((ENC.n_states, len(ACTIONS)), -1.0)
    q[:, ACTIONS.index(action_delta)] = -0.1
    return QTablePolicy(q, np.ones_like(q, dtype=np.int64))


def test_is_a_policy_and_untrained_does_nothing() -> None:
    policy = QTablePolicy.zeros()
    assert isinstance(policy, Policy)
    assert policy.decide(observation(replicas=[2, 3], max_replicas=[8, 8]), []) == []


def test_scale_up_is_clamped_to_max_and_skipped_at_max() -> None:
    obs = observation(replicas=[3, 7, 8], max_replicas=[8, 8, 8])
    proposals = prefers(2).decide(obs, [])
    moves = {p.action.service: p.action.delta_replicas for p in proposals}
    assert moves == {0: 2, 1: 1}  # service 2 is at max: +2 is infeasible, no proposal
    assert all(isinstance(p.action, ScaleService) for p in proposals)


def test_at_max_the_best_feasible_action_is_taken_instead() -> None:
    q = np.full((ENC.n_states, len(ACTIONS)), -1.0)
    q[:, ACTIONS.index(2)] = 0.0
    q[:, ACTIONS.index(-1)] = -0.5  # second best
    policy = QTablePolicy(q, np.ones_like(q, dtype=np.int64))
    (p,) = policy.decide(observation(replicas=[8], max_replicas=[8]), [])
    assert p.action.delta_replicas == -1


def test_scale_down_is_clamped_to_min() -> None:
    obs = observation(replicas=[1, 2, 5], min_replicas=[1, 1, 1], max_replicas=[9, 9, 9])
    moves = {p.action.service: p.action.delta_replicas for p in prefers(-2).decide(obs, [])}
    assert moves == {1: -1, 2: -2}


def test_untried_actions_are_never_chosen() -> None:
    q = np.zeros((ENC.n_states, len(ACTIONS)))
    visits = np.zeros_like(q, dtype=np.int64)
    q[:, NOOP], visits[:, NOOP] = -5.0, 1  # only "do nothing" was ever tried, and it was bad
    policy = QTablePolicy(q, visits)
    assert policy.decide(observation(replicas=[3], max_replicas=[8]), []) == []


def test_justification_names_state_q_values_and_effect() -> None:
    obs = observation(replicas=[4], cpu_used=[0.38], cpu_request=[0.1], max_replicas=[8])
    (p,) = prefers(1).decide(obs, [])
    inputs = p.justification.inputs
    assert inputs["encoding"] == ENCODING_ID and inputs["reward"] == "slo-energy-v1"
    assert inputs["state_parts"]["utilisation"] == "0.9-0.97"
    assert set(inputs["q_values"]) == {str(a) for a in ACTIONS}
    assert inputs["action_index"] == ACTIONS.index(1)
    assert "replicas 4 -> 5" in p.justification.expected_effect
    assert "0.95 -> 0.76" in p.justification.expected_effect
    assert p.request_id == "scaling:600:service:0"


def test_forecast_findings_set_the_trend_and_are_cited() -> None:
    obs = observation(replicas=[4], cpu_used=[0.2], cpu_request=[0.1], max_replicas=[8])
    rising = Finding(
        kind="demand_forecast",
        target="service:0",
        severity=0.5,
        at_s=600.0,
        detail={"cpu_forecast": 0.3, "cpu_std": 0.02, "horizon_s": 300.0},
    )
    bounds = np.array([8])
    flat_state = encode(service_view(obs, [], bounds), ENC)
    rising_state = encode(service_view(obs, [rising], bounds), ENC)
    assert ENC.describe(int(flat_state[0]))["trend"] == "steady"
    assert ENC.describe(int(rising_state[0]))["trend"] == "rising"
    (p,) = prefers(1).decide(obs, [rising])
    assert p.findings == (rising,)


def test_bounds_fall_back_to_factor_times_first_seen() -> None:
    bounds = ReplicaBounds(factor=2.0)
    first = observation(replicas=[3, 1])
    assert bounds(first).tolist() == [6, 2]
    later = observation(replicas=[6, 2])  # grew: the maximum stays tied to what was first seen
    assert bounds(later).tolist() == [6, 2]
    assert ReplicaBounds([5, 5])(later).tolist() == [5, 5]


@settings(max_examples=60, deadline=None)
@given(
    data=st.lists(
        st.tuples(st.integers(1, 12), st.integers(0, 12), st.integers(1, 3), st.integers(0, 8)),
        min_size=1,
        max_size=12,
    ),
    seed=st.integers(0, 2**16),
)
def test_replicas_stay_within_bounds(data: list[tuple[int, int, int, int]], seed: int) -> None:
    replicas = [d[0] for d in data]
    mins = [min(d[2], d[0]) for d in data]
    maxs = [max(d[0], d[2]) + d[3] for d in data]
    used = [0.02 * d[1] for d in data]
    rng = np.random.default_rng(seed)
    policy = QTablePolicy(
        rng.normal(size=(ENC.n_states, len(ACTIONS))),
        rng.integers(0, 3, (ENC.n_states, len(ACTIONS))),
    )
    obs = observation(replicas=replicas, cpu_used=used, min_replicas=mins, max_replicas=maxs)
    for p in policy.decide(obs, []):
        s = p.action.service
        after = replicas[s] + p.action.delta_replicas
        assert mins[s] <= after <= maxs[s]
        assert p.action.delta_replicas != 0


def test_save_load_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    policy = QTablePolicy(
        rng.normal(size=(ENC.n_states, len(ACTIONS))),
        rng.integers(0, 9, (ENC.n_states, len(ACTIONS))),
        provenance={"seed": 4, "command": "autoinfra train --seed 4"},
    )
    path = policy.save(tmp_path / "sub" / "t.json")
    again = QTablePolicy.load(path)
    assert np.array_equal(again.q, policy.q) and np.array_equal(again.visits, policy.visits)
    assert again.provenance == policy.provenance and again.reward == policy.reward
    assert again.save(tmp_path / "u.json").read_bytes() == path.read_bytes()
    assert not list((tmp_path / "sub").glob("*.tmp"))


def _doc(tmp_path: Path) -> dict[str, object]:
    doc: dict[str, object] = json.loads(QTablePolicy.zeros().save(tmp_path / "ok.json").read_text())
    return doc


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"format": "other"}, "format", "expected 'autoinfra.qtable'"),
        ({"version": 99}, "version", "newer than this autoinfra reads"),
        ({"version": "one"}, "version", "positive integer"),
        ({"encoding": "scale-state-v0"}, "encoding", "unknown state encoding"),
        ({"actions": [-1, 0, 1]}, "actions", "expected"),
        ({"q": [[0.0] * 5] * 3}, "q", "shape"),
        ({"visits": "many"}, "visits", "not a numeric table"),
    ],
)
def test_bad_artifacts_are_refused_clearly(
    tmp_path: Path, change: dict[str, object], field: str, message: str
) -> None:
    doc = _doc(tmp_path)
    doc.update(change)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc))
    with pytest.raises(ConfigError, match=message) as err:
        QTablePolicy.load(bad)
    assert err.value.field == field and err.value.source == str(bad)


def test_not_json_and_missing_files_are_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "autoinfra.qtable",\n "version": 1,\n oops}')
    with pytest.raises(ConfigError, match="line 3"):
        QTablePolicy.load(bad)
    with pytest.raises(ConfigError, match="cannot read"):
        QTablePolicy.load(tmp_path / "missing.json")


def test_at_most_max_proposals_largest_gain_first() -> None:
    q = np.full((ENC.n_states, len(ACTIONS)), -1.0)
    q[:, ACTIONS.index(1)] = -0.5
    q[:, ACTIONS.index(-1)] = -0.2  # scaling down has the larger gain where it is possible
    policy = QTablePolicy(q, np.ones_like(q, dtype=np.int64), max_proposals=2)
    obs = observation(replicas=[1, 4, 1, 4], max_replicas=[8, 8, 8, 8])  # 0 and 2 are at min
    moves = {p.action.service: p.action.delta_replicas for p in policy.decide(obs, [])}
    assert moves == {1: -1, 3: -1}
    policy.max_proposals = None
    assert len(policy.decide(obs, [])) == 4
