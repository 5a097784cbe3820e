"""Fixtures for the agent-loop tests: a fake world, a scripted policy, and a runtime factory."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest

from autoinfra.core.actions import Action
from autoinfra.core.observation import Observation
from autoinfra.core.proposal import Finding, Justification, Proposal
from tests.agents.fakes import FakeSim


class ScriptedPolicy:
    """Proposes the actions ``plan(time_s)`` returns; remembers every call."""

    def __init__(self, plan: Callable[[float], Sequence[Action]], confidence: float = 1.0):
        self.plan = plan
        self.confidence = confidence
        self.calls: list[float] = []
        self.outcomes: list[tuple[str, bool]] = []

    def decide(self, observation: Observation, findings: Sequence[Finding]) -> list[Proposal]:
        self.calls.append(observation.time_s)
        return [
            Proposal(
                action=a,
                agent="",
                priority=0,
                justification=Justification("scripted", {"t": observation.time_s}),
                confidence=self.confidence,
            )
            for a in self.plan(observation.time_s)
        ]

    def observe_outcomes(self, outcomes: Sequence[object], proposals: Sequence[Proposal]) -> None:
        for o in outcomes:
            self.outcomes.append((o.request_id, o.succeeded))  # type: ignore[attr-defined]


@pytest.fixture
def world() -> FakeSim:
    return FakeSim(seed=0)
