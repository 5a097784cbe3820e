"""Operator verdicts as rewards: a per-(state, action kind) preference the agents' policies heed.

Paper section 5.6 asks that operator feedback reach the learning loop. The scaling and energy
agents' policies are wrapped in :class:`PreferenceFilter`: their proposals pass through, except
that a proposal of a kind people keep rejecting in the cluster's current state is dropped with a
probability that grows with the rejections. Each verdict is a reward (reject ``-1``, approve
``+1``) for the pair (state bucket, action kind); rewards are collected as they come and folded in
at the next ``update`` (the policy's next decision), as an exponential moving average:
``q <- q + alpha * (r - q)``. The keep probability is ``1`` for ``q >= 0`` and ``1 + q`` (floored at
``min_keep``) below, so approvals never force actions and a kind is never silenced for good.

The state bucket is the cluster's CPU utilisation in thirds (low/mid/high): coarse on purpose,
since verdicts are few and must generalise. Draws use a seeded generator.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from autoinfra.core.observation import Observation
from autoinfra.core.proposal import Finding, Proposal
from autoinfra.core.protocols import Policy

__all__ = ["PreferenceFilter", "VerdictPreferences", "state_bucket"]


def state_bucket(obs: Observation) -> str:
    u = obs.cpu_utilization()
    return "low" if u < 1 / 3 else ("mid" if u < 2 / 3 else "high")


@dataclass
class VerdictPreferences:
    """Preferences learnt from verdicts; thread-safe (the API adds, the sim thread reads)."""

    alpha: float = 0.3
    min_keep: float = 0.05
    seed: int = 0
    q: dict[tuple[str, str], float] = field(default_factory=lambda: defaultdict(float))
    _pending: list[tuple[str, str, float]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    updates: int = 0

    def __post_init__(self) -> None:
        self.rng = np.random.default_rng(self.seed)

    def reward(self, state: str, kind: str, reward: float) -> None:
        with self._lock:
            self._pending.append((state, kind, float(reward)))

    def update(self) -> int:
        """Fold the rewards received since the last update in; returns how many."""
        with self._lock:
            pending, self._pending = self._pending, []
            for state, kind, r in pending:
                key = (state, kind)
                self.q[key] += self.alpha * (r - self.q[key])
            if pending:
                self.updates += 1
            return len(pending)

    def keep_probability(self, state: str, kind: str) -> float:
        q = self.q.get((state, kind), 0.0)
        return 1.0 if q >= 0 else max(self.min_keep, 1.0 + q)

    def keep(self, state: str, kind: str) -> bool:
        p = self.keep_probability(state, kind)
        return p >= 1.0 or bool(self.rng.random() < p)

    def table(self) -> list[dict[str, object]]:
        with self._lock:
            return [
                {"state": s, "kind": k, "q": round(v, 4), "keep": self.keep_probability(s, k)}
                for (s, k), v in sorted(self.q.items())
            ]


class PreferenceFilter:
    """A ``core.Policy`` that asks ``inner`` and drops what operators keep rejecting."""

    def __init__(self, inner: Policy, prefs: VerdictPreferences) -> None:
        self.inner = inner
        self.prefs = prefs
        self.dropped = 0

    def decide(self, observation: Observation, findings: Sequence[Finding]) -> list[Proposal]:
        self.prefs.update()
        state = state_bucket(observation)
        kept = []
        for p in self.inner.decide(observation, findings):
            if self.prefs.keep(state, p.action.kind):
                kept.append(p)
            else:
                self.dropped += 1
        return kept

    def __getattr__(self, name: str) -> object:
        # the agent template looks for optional hooks (observe_outcomes) on its policy
        if name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)
