"""The tabular learner on toy MDPs whose optimal policy is known, and the online Learner seam."""

from __future__ import annotations

import numpy as np
import pytest

from autoinfra.core.errors import ConfigError
from autoinfra.core.protocols import Experience, Learner
from autoinfra.learning.qlearning import (
    QLearner,
    QLearningSettings,
    ScalingStep,
    evaluate,
    train_qlearning,
)
from autoinfra.policies.scaling.qtable import QTablePolicy
from autoinfra.policies.scaling.space import ACTIONS, NOOP


class ReplicaToy:
    """n services, each a replica count 0..4 (its state id); reward -|r - 2| - 0.1|delta|.

    The optimal action moves straight to 2 replicas: +2, +1, 0, -1, -2 from 0..4.
    """

    def __init__(self, services: int = 6, horizon: int = 12) -> None:
        self.n, self.horizon = services, horizon
        self.r = np.zeros(services, dtype=np.int64)
        self.t = 0

    def _step(self, rewards: np.ndarray) -> ScalingStep:
        deltas = np.asarray(ACTIONS)
        target = self.r[:, None] + deltas[None, :]
        feasible = (deltas == 0) | ((target >= 0) & (target <= 4))
        return ScalingStep(
            states=self.r.copy(),
            feasible=feasible,
            live=np.ones(self.n, dtype=bool),
            rewards=rewards,
            done=self.t >= self.horizon,
        )

    def reset(self, seed: int) -> ScalingStep:
        self.r = np.random.default_rng(seed).integers(0, 5, self.n)
        self.t = 0
        return self._step(np.zeros(self.n))

    def step(self, actions: np.ndarray) -> ScalingStep:
        delta = np.asarray(ACTIONS)[actions]
        self.r = np.clip(self.r + delta, 0, 4)
        self.t += 1
        return self._step(-np.abs(self.r - 2.0) - 0.1 * np.abs(delta))


def test_learns_the_toy_optimum() -> None:
    policy, report = train_qlearning(ReplicaToy(), episodes=150, seed=3)
    states = np.arange(5)
    world = ReplicaToy()
    world.r = states.copy()
    feasible = world._step(np.zeros(5)).feasible
    best = [ACTIONS[a] for a in policy.greedy(states, feasible)]
    assert best == [2, 1, 0, -1, -2]
    assert report.episodes[-1].mean_reward > report.episodes[0].mean_reward
    assert report.transitions == 150 * 12 * 6


def test_same_seed_same_table_other_seed_differs() -> None:
    a, _ = train_qlearning(ReplicaToy(), episodes=20, seed=1)
    b, _ = train_qlearning(ReplicaToy(), episodes=20, seed=1)
    c, _ = train_qlearning(ReplicaToy(), episodes=20, seed=2)
    assert np.array_equal(a.q, b.q) and np.array_equal(a.visits, b.visits)
    assert not np.array_equal(a.q, c.q)


def test_infeasible_actions_are_never_explored() -> None:
    policy, _ = train_qlearning(ReplicaToy(), episodes=30, seed=0)
    # from 4 replicas +1/+2 leave [0, 4]; from 0 replicas -1/-2 do
    assert policy.visits[4, 3] == policy.visits[4, 4] == 0
    assert policy.visits[0, 0] == policy.visits[0, 1] == 0


def test_config_rejects_out_of_range() -> None:
    with pytest.raises(ConfigError, match="discount"):
        QLearningSettings(discount=1.0)
    with pytest.raises(ConfigError, match="episodes"):
        train_qlearning(ReplicaToy(), episodes=0, seed=0)


def test_online_learner_moves_the_table_toward_the_reward() -> None:
    policy = QTablePolicy.zeros()
    learner = QLearner(policy, QLearningSettings(learning_rate=0.5, learning_rate_decay=0.0))
    assert isinstance(learner, Learner)
    up = ACTIONS.index(1)
    report = learner.learn(
        [Experience(observation=7, action=up, reward=-1.0, next_observation=8, done=True)] * 2
    )
    assert report.transitions == 2 and report.mean_reward == -1.0
    assert policy.q[7, up] == pytest.approx(-0.75)  # -0.5, then -0.5 + 0.5 * (-1 + 0.5)
    assert policy.visits[7, up] == 2 and policy.visits[7, NOOP] == 0
    assert report.detail["max_q_change"] == pytest.approx(0.75)


def test_online_learner_rejects_transitions_it_cannot_read() -> None:
    learner = QLearner(QTablePolicy.zeros())
    with pytest.raises(ConfigError, match=r"transitions\[0\]"):
        learner.learn([Experience(observation="hot", action=1, reward=0.0, next_observation=3)])
    assert learner.learn([]).transitions == 0


def test_evaluate_scores_the_greedy_table_above_doing_nothing() -> None:
    policy, _ = train_qlearning(ReplicaToy(), episodes=150, seed=3)
    trained = evaluate(ReplicaToy(), policy, episodes=5, seed=11)
    idle = evaluate(ReplicaToy(), QTablePolicy.zeros(), episodes=5, seed=11)
    assert trained > idle
    # the optimum moves to 2 replicas at once: from a uniform start the move costs 0.1 x 1.2
    # replicas on average, then nothing: about -0.01 per service-step over 12 steps
    assert trained == pytest.approx(-0.1 * 1.2 / 12, abs=0.005)
