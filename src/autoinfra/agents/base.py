"""The agent: one tick of perceive -> analyze -> decide, and a ``learn`` hook for outcomes.

This is the paper's decision framework (section 5.2.1: perception, analysis, decision, action) as a
template. The three passive steps live here; *action* does not. ``tick`` only returns what the
agent saw, found and proposes (an :class:`AgentTickResult`); the runtime arbitrates, reviews and
lets its executor act, so an agent can be run against a live system, in a dry run or in a
benchmark without any way to change the world by itself.

Concrete agents are configurations of this class (a sensor, detectors, a policy, a period, a
priority and an identity) rather than subclasses full of logic: the logic lives in the detectors and
policies, which are tested on their own and shared (the Kubernetes baseline reuses the template
with its own policies).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from autoinfra.core.errors import ConfigError
from autoinfra.core.observation import Observation
from autoinfra.core.proposal import Finding, Outcome, Proposal
from autoinfra.core.protocols import Detector, Policy, Sensor
from autoinfra.security.identity import Identity, Role

__all__ = ["Agent", "AgentTickResult", "OutcomeAware"]


@dataclass(frozen=True, slots=True)
class AgentTickResult:
    """What one tick produced. Passive: nothing in here has been done yet."""

    observation: Observation
    findings: tuple[Finding, ...]
    proposals: tuple[Proposal, ...]
    agent_id: str = ""
    at_s: float = 0.0


@runtime_checkable
class OutcomeAware(Protocol):
    """A policy or detector that wants to hear how its past proposals turned out."""

    def observe_outcomes(
        self, outcomes: Sequence[Outcome], proposals: Sequence[Proposal]
    ) -> None: ...


class Agent:
    """The tick template. Override ``perceive``/``analyze``/``decide`` only when composition of a
    sensor, detectors and a policy is not enough.

    ``priority`` settles conflicts with other agents (higher wins); ``period_s`` is how often the
    runtime ticks it on the simulated clock; ``identity`` scopes what it may propose (by default
    an operator identity, which may propose anything: give autonomous agents a narrow role).
    """

    def __init__(
        self,
        agent_id: str,
        *,
        sensor: Sensor,
        detectors: Sequence[Detector] = (),
        policy: Policy | None = None,
        period_s: float,
        priority: int,
        identity: Identity | None = None,
        description: str = "",
    ) -> None:
        if period_s <= 0:
            raise ConfigError(f"agent {agent_id!r}: period_s must be > 0, got {period_s}")
        self.agent_id = agent_id
        self.sensor = sensor
        self.detectors = list(detectors)
        self.policy = policy
        self.period_s = float(period_s)
        self.priority = int(priority)
        self.identity = identity or Identity.for_role(agent_id, Role.OPERATOR)
        self.description = description
        self.last: AgentTickResult | None = None
        self.outcome_counts: Counter[tuple[str, bool]] = Counter()  # (action kind, succeeded)
        self._mine: dict[str, Proposal] = {}  # request id -> proposal, until its outcome

    # -- the passive steps -----------------------------------------------------------------------
    def perceive(self) -> Observation:
        return self.sensor.collect()

    def analyze(self, observation: Observation) -> list[Finding]:
        findings: list[Finding] = []
        for detector in self.detectors:
            findings.extend(detector.analyze(observation))
        return findings

    def decide(self, observation: Observation, findings: Sequence[Finding]) -> list[Proposal]:
        if self.policy is None:
            return []
        return self.policy.decide(observation, findings)

    def tick(self, now_s: float) -> AgentTickResult:
        observation = self.perceive()
        findings = tuple(self.analyze(observation))
        proposals = tuple(
            self._stamp(p, now_s, i) for i, p in enumerate(self.decide(observation, findings))
        )
        for p in proposals:
            self._mine[p.request_id] = p
        self.last = AgentTickResult(observation, findings, proposals, self.agent_id, now_s)
        return self.last

    # -- feedback --------------------------------------------------------------------------------
    def learn(self, outcomes: Sequence[Outcome]) -> None:
        """Feedback on past proposals: counted, then passed to parts that want it."""
        pairs = [(o, self._mine.pop(o.request_id)) for o in outcomes if o.request_id in self._mine]
        if not pairs:
            return
        for o, p in pairs:
            self.outcome_counts[(p.action.kind, o.succeeded)] += 1
        mine = [o for o, _ in pairs]
        proposals = [p for _, p in pairs]
        for part in (*self.detectors, self.policy):
            hook = getattr(part, "observe_outcomes", None)  # OutcomeAware, without isinstance's
            if hook is not None:  # protocol scan on every call
                hook(mine, proposals)

    def forget(self, request_ids: Sequence[str]) -> None:
        """Drop proposals that will never have an outcome (refused, lost arbitration)."""
        for rid in request_ids:
            self._mine.pop(rid, None)

    def describe(self) -> dict[str, Any]:
        return {
            "agent_id": self.agent_id,
            "role": self.identity.role.value,
            "period_s": self.period_s,
            "priority": self.priority,
            "detectors": [type(d).__name__ for d in self.detectors],
            "policy": type(self.policy).__name__ if self.policy is not None else None,
            "description": self.description,
        }

    def _stamp(self, proposal: Proposal, now_s: float, index: int) -> Proposal:
        # deterministic ids: the same agent proposing the same thing at the same instant gets the
        # same id, so a replayed tick cannot act twice (the actuator is idempotent by id)
        rid = proposal.request_id or (
            f"{self.agent_id}@{now_s:.3f}#{index}:{proposal.action.kind}:{proposal.action.target}"
        )
        # built directly: dataclasses.replace costs ~20 us, and a scaler may propose thousands
        return Proposal(
            proposal.action,
            self.agent_id,
            self.priority,
            proposal.justification,
            proposal.confidence,
            rid,
            proposal.findings,
        )
