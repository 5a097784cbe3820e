"""The seams between the layers: protocols of one to three methods, one verb each.

Semantics that the signatures cannot say:
- ``Sensor.collect`` is passive and cheap to call again; it never changes the world.
- ``Detector.analyze`` and ``Policy.decide`` are pure with respect to the world: they may keep
  their own state (a forecaster's filter), but they act only through the proposals they return.
- ``Actuator.submit`` is idempotent by ``request_id``: submitting the same id twice does one thing.
  Errors are not raised from ``submit`` for actions the backend later refuses; they come back from
  ``poll`` as failed outcomes (the backend is eventually consistent).
- ``Gate.review`` may put a proposal in an approval queue; it then answers ESCALATE.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from autoinfra.core.actions import Action
from autoinfra.core.clock import Clock
from autoinfra.core.observation import Observation
from autoinfra.core.proposal import Finding, Outcome, Proposal, Verdict

__all__ = [
    "Actuator",
    "Arbiter",
    "Clock",
    "Detector",
    "Gate",
    "LearnReport",
    "Learner",
    "Policy",
    "Sensor",
    "Transition",
]


@runtime_checkable
class Sensor(Protocol):
    def collect(self) -> Observation: ...


@runtime_checkable
class Detector(Protocol):
    def analyze(self, observation: Observation) -> list[Finding]: ...


@runtime_checkable
class Policy(Protocol):
    def decide(self, observation: Observation, findings: Sequence[Finding]) -> list[Proposal]: ...


@dataclass(frozen=True, slots=True)
class Transition:
    """One step of experience for a learner: what was seen, done, earned, and seen next."""

    observation: Any
    action: Any
    reward: float
    next_observation: Any
    done: bool = False


@dataclass(frozen=True, slots=True)
class LearnReport:
    transitions: int
    mean_reward: float
    detail: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class Learner(Protocol):
    def learn(self, transitions: Sequence[Transition]) -> LearnReport: ...


@runtime_checkable
class Arbiter(Protocol):
    def arbitrate(self, proposals: Sequence[Proposal]) -> list[Proposal]: ...


@runtime_checkable
class Gate(Protocol):
    def review(self, proposal: Proposal) -> Verdict: ...


@runtime_checkable
class Actuator(Protocol):
    def submit(self, request_id: str, action: Action) -> None: ...

    def poll(self) -> list[Outcome]: ...
