"""The feedback loop: a Q-table that keeps learning from what its past decisions led to.

Paper section 5.4: "data on the outcomes of past decisions is fed back into the decision-making
engine, allowing the agent to adjust its behavior". ``OnlineQPolicy`` wraps a ``QTablePolicy`` and
is itself a ``core.Policy``, so an agent uses it where it would use the table: each ``decide``
first closes the previous period (for every live service: the state it was in, the replica change
that really happened, the reward the period earned, the state it is in now), hands those
transitions to a ``QLearner``, then decides with the updated table.

The action learnt from is the replica change observed, not the one proposed: a proposal the gate
refused, the arbiter overruled or the backend failed changed nothing, and a change someone else
made is still experience. Q-learning is off-policy, so every such transition is valid.

Online the reward is judged on one sample per period (the observation at the next decision),
where the offline trainer averages every tick of the period; the weights are the same
(``learning.rewards``). Outcomes are counted for the report (``observe_outcomes``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from autoinfra.core.observation import Observation
from autoinfra.core.proposal import Finding, Outcome, Proposal
from autoinfra.core.protocols import LearnReport, Transition
from autoinfra.learning.qlearning import QLearner, QLearningConfig
from autoinfra.learning.rewards import (
    DEFAULT_REWARD,
    combine,
    get_reward,
    idle_footprint,
    sample_from_observation,
    violation,
)
from autoinfra.policies.qlearning import ACTIONS, QTablePolicy, encode, service_view

I64 = npt.NDArray[np.int64]


@dataclass(slots=True)
class _Period:
    services: I64
    states: I64
    replicas: I64


@dataclass(slots=True)
class FeedbackStats:
    periods: int = 0
    transitions: int = 0
    reward_sum: float = 0.0
    outcomes: dict[str, int] = field(default_factory=lambda: {"succeeded": 0, "failed": 0})


class OnlineQPolicy:
    """A ``QTablePolicy`` that learns from each period's result before deciding the next."""

    def __init__(
        self,
        policy: QTablePolicy,
        *,
        config: QLearningConfig | None = None,
        reward: str | None = None,
    ) -> None:
        self.policy = policy
        self.learner = QLearner(policy, config)
        self.reward = get_reward(reward or policy.reward or DEFAULT_REWARD)
        self.stats = FeedbackStats()
        self.last_report = LearnReport(transitions=0, mean_reward=0.0)
        self._previous: _Period | None = None

    def decide(self, observation: Observation, findings: Sequence[Finding]) -> list[Proposal]:
        self.last_report = self.update(observation, findings)
        return self.policy.decide(observation, findings)

    def update(self, observation: Observation, findings: Sequence[Finding]) -> LearnReport:
        """Close the period that ends at ``observation`` and learn from it."""
        view = service_view(observation, findings, self.policy.bounds(observation))
        now = _Period(view.index, encode(view, self.policy.encoding), view.replicas)
        before, self._previous = self._previous, now
        if before is None:
            return LearnReport(transitions=0, mean_reward=0.0)
        transitions = self._transitions(before, now, observation)
        report = self.learner.learn(transitions)
        self.stats.periods += 1
        self.stats.transitions += report.transitions
        self.stats.reward_sum += report.mean_reward * report.transitions
        return report

    def _transitions(
        self, before: _Period, now: _Period, observation: Observation
    ) -> list[Transition]:
        common, i_before, i_now = np.intersect1d(
            before.services, now.services, assume_unique=True, return_indices=True
        )
        if common.shape[0] == 0:
            return []
        delta = now.replicas[i_now] - before.replicas[i_before]
        sample = sample_from_observation(observation, self.policy.bounds(observation))
        spec = self.reward
        rewards = combine(
            spec, violation(spec, sample)[common], idle_footprint(sample)[common], delta
        )
        # a change larger than any single action (two decisions, or another actor) is learnt
        # as the nearest action the table has
        actions = np.clip(delta, ACTIONS[0], ACTIONS[-1]) - ACTIONS[0]
        return [
            Transition(observation=s, action=a, reward=r, next_observation=s2)
            for s, a, r, s2 in zip(
                before.states[i_before].tolist(),
                actions.tolist(),
                rewards.tolist(),
                now.states[i_now].tolist(),
                strict=True,
            )
        ]

    def observe_outcomes(self, outcomes: Sequence[Outcome], proposals: Sequence[Proposal]) -> None:
        """Count how the proposals turned out (the agent template calls this with its own)."""
        for o in outcomes:
            self.stats.outcomes["succeeded" if o.succeeded else "failed"] += 1
