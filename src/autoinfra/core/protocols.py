"""The seams between the layers: protocols of one to three methods, one verb each.

Semantics that the signatures cannot say:
- ``Sensor.collect`` is passive and cheap to call again; it never changes the world.
- ``Detector.analyze`` and ``Policy.decide`` are pure with respect to the world: they may keep
  their own state (a forecaster's filter), but they act only through the proposals they return.
- ``Actuator.submit`` is idempotent by ``request_id``: submitting the same id twice does one thing.
  Errors are not raised from ``submit`` for actions the backend later refuses; they come back from
  ``poll`` as failed outcomes (the backend is eventually consistent).
- ``Reviewer.review`` (the gate) may put a proposal in an approval queue; it then answers
  ESCALATE, and the answer comes back later from ``Escalating.answers``.

The optional faces below are what the runtime asks of a collaborator beyond its one verb. The
runtime checks them with ``isinstance`` (they are runtime-checkable), never by ``getattr`` on a
name, so every side channel between the layers is declared here:

- ``Escalating`` (a gate): the answers given to escalated proposals since it was last asked;
- ``Rechecking`` (a gate): the last look just before an approved action is executed;
- ``QueueHolding`` (a gate): the durable approval queue behind it, for exactly-once restarts;
- ``RulingArbiter``: why each loser of the last ``arbitrate`` lost;
- ``OutcomeAware`` (a policy or detector): how its past proposals turned out;
- ``Accepting`` / ``Identified`` (an agent): which of its proposals the runtime admitted, and the
  identity it was built with.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from autoinfra.core.actions import Action
from autoinfra.core.clock import Clock
from autoinfra.core.observation import Observation
from autoinfra.core.proposal import Answer, Finding, Outcome, Proposal, Verdict

__all__ = [
    "Accepting",
    "Actuator",
    "Arbiter",
    "Clock",
    "Detector",
    "Escalating",
    "Experience",
    "Identified",
    "LearnReport",
    "Learner",
    "OutcomeAware",
    "Policy",
    "QueueHolding",
    "Rechecking",
    "Reviewer",
    "RulingArbiter",
    "Sensor",
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
class Experience:
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
    def learn(self, transitions: Sequence[Experience]) -> LearnReport: ...


@runtime_checkable
class Arbiter(Protocol):
    def arbitrate(self, proposals: Sequence[Proposal]) -> list[Proposal]: ...


@runtime_checkable
class RulingArbiter(Arbiter, Protocol):
    @property
    def rulings(self) -> Mapping[str, str]: ...  # request id of a loser -> why it lost


@runtime_checkable
class Reviewer(Protocol):
    """The gate: approve, reject or escalate one proposal (``oversight.gate.Gate`` is one)."""

    def review(self, proposal: Proposal) -> Verdict: ...


@runtime_checkable
class Escalating(Protocol):
    def answers(self, now_s: float) -> list[Answer]: ...


@runtime_checkable
class Rechecking(Protocol):
    def recheck(
        self, proposal: Proposal, now_s: float, observation: Observation | None = None
    ) -> str | None: ...  # None: still fine to execute; else why not


@runtime_checkable
class QueueHolding(Protocol):
    @property
    def queue(self) -> object: ...  # an oversight.approval.ApprovalQueue, or None


@runtime_checkable
class OutcomeAware(Protocol):
    """A policy or detector that wants to hear how its past proposals turned out."""

    def observe_outcomes(
        self, outcomes: Sequence[Outcome], proposals: Sequence[Proposal]
    ) -> None: ...


@runtime_checkable
class Accepting(Protocol):
    def accept(self, proposals: Sequence[Proposal]) -> None: ...  # admitted, under runtime ids


@runtime_checkable
class Identified(Protocol):
    @property
    def identity(self) -> object: ...  # a security.identity.Identity, or None: an observer


@runtime_checkable
class Actuator(Protocol):
    def submit(self, request_id: str, action: Action) -> None: ...

    def poll(self) -> list[Outcome]: ...
