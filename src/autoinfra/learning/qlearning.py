"""Tabular Q-learning (Watkins 1989): the trainer that fills a ``QTablePolicy``'s table.

The trainer runs over an abstract ``ScalingEnv``: anything that, for a fixed set of services,
hands out each service's discrete state and feasible actions, takes one action per service, and
answers with per-service rewards. The simulator-backed one (``learning.scaling_env``) and the
tiny toy MDPs of the tests are both environments, so the learning rule is tested on problems whose
answer is known before it is trusted on the cluster.

All services share one table and learn in parallel (independent learners, shared parameters):
every decision period of the simulator yields one transition per live service, which is where
tabular learning gets enough experience on a small slice of the cell.

Scaling has no terminal states: an episode ends by a time limit, so its last step still
bootstraps from the next state (Pardo et al., "Time Limits in Reinforcement Learning", ICML 2018).

``QLearner`` is the same update rule behind the ``core.Learner`` seam, for the online feedback of
past decisions (the paper's feedback loop, section 5.4).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import numpy.typing as npt

from autoinfra.core.errors import ConfigError
from autoinfra.core.protocols import Experience, LearnReport
from autoinfra.policies.scaling.qtable import QTablePolicy
from autoinfra.policies.scaling.space import ACTION_PREFERENCE, ACTIONS

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
Bool = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class QLearningSettings:
    """Hyperparameters of the tabular learner (stated choices, recorded in every artifact)."""

    # step size alpha of an entry updated n times before: learning_rate x (n + 1)^-decay, never
    # below learning_rate_min. A polynomial rate with decay in (0.5, 1) converges much faster than
    # 1/n (Even-Dar and Mansour, "Learning Rates for Q-learning", JMLR 2003) and averages out the
    # noise of many services sharing one entry; the floor keeps the table tracking drift online.
    learning_rate: float = 0.5
    learning_rate_decay: float = 0.7
    learning_rate_min: float = 0.002
    # gamma: at the scaling agent's 15 s period, 0.95 weighs roughly the next 20 periods
    # (1 / (1 - 0.95)), about 5 minutes: the Horizontal Pod Autoscaler's scale-down stabilisation
    # window, the time over which a scaling decision is judged there
    discount: float = 0.95
    epsilon_start: float = 1.0  # exploration share in the first episode
    epsilon_end: float = 0.05  # ... decaying linearly to this in the last one

    def __post_init__(self) -> None:
        checks = {
            "learning_rate": 0.0 < self.learning_rate <= 1.0,
            "learning_rate_decay": 0.0 <= self.learning_rate_decay <= 1.0,
            "learning_rate_min": 0.0 < self.learning_rate_min <= self.learning_rate,
            "discount": 0.0 <= self.discount < 1.0,
            "epsilon_start": 0.0 <= self.epsilon_start <= 1.0,
            "epsilon_end": 0.0 <= self.epsilon_end <= self.epsilon_start,
        }
        for name, ok in checks.items():
            if not ok:
                raise ConfigError(f"{getattr(self, name)} is out of range", field=name)

    def alpha(self, visits: int) -> float:
        return max(
            self.learning_rate_min, self.learning_rate * (visits + 1) ** -self.learning_rate_decay
        )

    def epsilon(self, episode: int, episodes: int) -> float:
        if episodes <= 1:
            return self.epsilon_end
        frac = episode / (episodes - 1)
        return self.epsilon_start + (self.epsilon_end - self.epsilon_start) * frac


@dataclass(frozen=True, slots=True, eq=False)
class ScalingStep:
    """What an environment says after a reset or a step, arrays aligned on service index."""

    states: I64  # discrete state per service
    feasible: Bool  # (n_services, n_actions): actions that move replicas within [min, max]
    live: Bool  # services that exist and are decided for now
    rewards: F64  # reward each service earned by the previous step's action (0 after reset)
    done: bool  # the episode's time limit is reached


class ScalingEnv(Protocol):
    """An environment the tabular trainer can learn in. ``reset`` is deterministic for a seed."""

    def reset(self, seed: int) -> ScalingStep: ...

    def step(self, actions: I64) -> ScalingStep: ...


@dataclass(frozen=True, slots=True)
class EpisodeStats:
    episode: int
    epsilon: float
    steps: int
    transitions: int
    mean_reward: float


@dataclass(frozen=True, slots=True)
class TrainReport:
    episodes: list[EpisodeStats] = field(default_factory=list)

    @property
    def transitions(self) -> int:
        return sum(e.transitions for e in self.episodes)


def explore(q: F64, states: I64, feasible: Bool, epsilon: float, rng: np.random.Generator) -> I64:
    """Epsilon-greedy over feasible actions. The greedy part reads raw Q-values: entries never
    tried stay at their initial 0, above any cost seen, which sends the learner to try them."""
    n = states.shape[0]
    greedy_scores = np.where(feasible, q[states], -np.inf)[:, ACTION_PREFERENCE]
    greedy = ACTION_PREFERENCE[np.argmax(greedy_scores, axis=1)]
    # a uniform draw among each row's feasible actions, by ranking random keys
    keys = np.where(feasible, rng.random(feasible.shape), -1.0)
    random = np.argmax(keys, axis=1)
    take_random = rng.random(n) < epsilon
    return np.where(take_random, random, greedy).astype(np.int64)


def q_update(
    policy: QTablePolicy,
    states: I64,
    actions: I64,
    rewards: F64,
    next_states: I64,
    next_feasible: Bool,
    config: QLearningSettings,
    bootstrap: Bool | None = None,
) -> None:
    """Apply Q(s,a) += alpha_n (r + gamma max_a' Q(s',a') - Q(s,a)) for each transition in order.

    The bootstrap values are read from the table as it stood before the batch, so the result does
    not depend on how services are numbered beyond the order of updates to one entry.
    """
    nxt = np.where(next_feasible, policy.q[next_states], -np.inf).max(axis=1, initial=-np.inf)
    nxt = np.where(np.isfinite(nxt), nxt, 0.0)  # a state with no usable action has no future
    if bootstrap is not None:
        nxt = np.where(bootstrap, nxt, 0.0)
    targets = rewards + config.discount * nxt
    q, visits, alpha = policy.q, policy.visits, config.alpha
    for s, a, t in zip(states.tolist(), actions.tolist(), targets.tolist(), strict=True):
        q[s, a] += alpha(int(visits[s, a])) * (t - q[s, a])
        visits[s, a] += 1


def train_qlearning(
    env: ScalingEnv,
    *,
    episodes: int,
    seed: int,
    config: QLearningSettings | None = None,
    policy: QTablePolicy | None = None,
    on_episode: Callable[[EpisodeStats], None] | None = None,
) -> tuple[QTablePolicy, TrainReport]:
    """Train a table in ``env`` for ``episodes`` episodes; deterministic for ``seed``."""
    if episodes < 1:
        raise ConfigError(f"episodes is {episodes}, expected at least 1", field="episodes")
    config = config or QLearningSettings()
    policy = policy or QTablePolicy.zeros()
    rng = np.random.default_rng(seed)
    report = TrainReport()
    for ep in range(episodes):
        epsilon = config.epsilon(ep, episodes)
        step = env.reset(seed=int(rng.integers(2**31)))
        steps = transitions = 0
        reward_sum = 0.0
        while not step.done:
            actions = explore(policy.q, step.states, step.feasible, epsilon, rng)
            nxt = env.step(actions)
            both = step.live & nxt.live
            q_update(
                policy,
                step.states[both],
                actions[both],
                nxt.rewards[both],
                nxt.states[both],
                nxt.feasible[both],
                config,
            )
            steps += 1
            transitions += int(both.sum())
            reward_sum += float(nxt.rewards[both].sum())
            step = nxt
        stats = EpisodeStats(ep, epsilon, steps, transitions, reward_sum / max(transitions, 1))
        report.episodes.append(stats)
        if on_episode is not None:
            on_episode(stats)
    return policy, report


def evaluate(env: ScalingEnv, policy: QTablePolicy, *, episodes: int, seed: int) -> float:
    """Mean reward per service-period of ``policy``'s greedy choices in ``env`` (no learning).

    An untrained table (``QTablePolicy.zeros()``) never acts, so it scores "do nothing": the
    baseline a trained table has to beat.
    """
    rng = np.random.default_rng(seed)
    total, count = 0.0, 0
    for _ in range(episodes):
        step = env.reset(seed=int(rng.integers(2**31)))
        while not step.done:
            actions = policy.greedy(step.states, step.feasible)
            nxt = env.step(actions)
            both = step.live & nxt.live
            total += float(nxt.rewards[both].sum())
            count += int(both.sum())
            step = nxt
    return total / max(count, 1)


class QLearner:
    """``core.Learner`` over a policy's table: the feedback of past decisions, applied online.

    A transition's ``observation`` and ``next_observation`` are discrete states (ints, as the
    policy's justification records them in ``inputs["state"]``), ``action`` is the action index
    (``inputs["action_index"]``; ``ACTIONS[i]`` is the replica delta). ``done`` means no next
    state is known, so the target is the reward alone.
    """

    def __init__(self, policy: QTablePolicy, config: QLearningSettings | None = None) -> None:
        self.policy = policy
        self.config = config or QLearningSettings()

    def learn(self, transitions: Sequence[Experience]) -> LearnReport:
        if not transitions:
            return LearnReport(transitions=0, mean_reward=0.0)
        n_states = self.policy.q.shape[0]
        rows = []
        for k, t in enumerate(transitions):
            s, a, s2 = t.observation, t.action, t.next_observation
            ok = all(isinstance(v, int | np.integer) for v in (s, a, s2))
            if not ok or not (0 <= s < n_states and 0 <= s2 < n_states and 0 <= a < len(ACTIONS)):
                raise ConfigError(
                    f"transition {k} is ({s!r}, {a!r}, {s2!r}); expected state ints below "
                    f"{n_states} and an action index below {len(ACTIONS)}",
                    field=f"transitions[{k}]",
                )
            rows.append((int(s), int(a), float(t.reward), int(s2), not t.done))
        arr = np.array(rows, dtype=np.float64)
        before = self.policy.q.copy()
        q_update(
            self.policy,
            arr[:, 0].astype(np.int64),
            arr[:, 1].astype(np.int64),
            arr[:, 2],
            arr[:, 3].astype(np.int64),
            # bootstrap only from estimates that exist: never-tried entries hold no value
            self.policy.visits[arr[:, 3].astype(np.int64)] > 0,
            self.config,
            bootstrap=arr[:, 4].astype(bool),
        )
        return LearnReport(
            transitions=len(rows),
            mean_reward=float(arr[:, 2].mean()),
            detail={"max_q_change": float(np.abs(self.policy.q - before).max())},
        )
