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

What an agent returns is a *claim*: the runtime owns the names. It stamps every proposal with the
agent id, priority and identity it registered and a request id of its own (see
``agents.admission``), then hands the admitted proposals back through :meth:`Agent.accept`, so
outcomes arrive under the runtime's ids. The ids ``tick`` puts on proposals are the agent's own
labels: the runtime keeps them per agent (a label reused is refused, so a replayed tick cannot act
twice) and never lets them name a request. An agent built without an identity is an ``OBSERVER``:
it may watch and find, and every proposal it makes is refused (and audited).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from autoinfra.core.errors import ConfigError
from autoinfra.core.observation import Observation
from autoinfra.core.proposal import Finding, Outcome, Proposal
from autoinfra.core.protocols import Detector, OutcomeAware, Policy, Sensor
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


class Agent:
    """The tick template. Override ``perceive``/``analyze``/``decide`` only when composition of a
    sensor, detectors and a policy is not enough.

    ``priority`` settles conflicts with other agents (higher wins); ``period_s`` is how often the
    runtime ticks it on the simulated clock; ``identity`` scopes what it may propose. Without
    one the agent is an observer and may propose nothing: there is no default that may do
    everything, so every agent that acts is given its scope on purpose.
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
        if identity is not None and not isinstance(identity, Identity):
            raise ConfigError(
                f"agent {agent_id!r}: identity must be an Identity, got {type(identity).__name__}",
                field="identity",
            )
        self.identity = identity or Identity.for_role(agent_id, Role.OBSERVER)
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
            if isinstance(part, OutcomeAware):
                part.observe_outcomes(mine, proposals)

    def accept(self, proposals: Sequence[Proposal]) -> None:
        """The runtime admitted these (under its request ids): their outcomes will follow."""
        for p in proposals:
            self._mine[p.request_id] = p

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
        # deterministic labels: the same agent proposing the same thing at the same instant gets
        # the same label, and the runtime refuses a label its agent used before, so a replayed
        # tick cannot act twice. The runtime replaces the label by its own request id.
        raw: object = proposal
        if not isinstance(raw, Proposal):
            return proposal  # the runtime refuses it and says why; stamping it would hide that
        # no kind or target in the label: a malformed action must not fail the agent's whole tick
        rid = proposal.request_id  # a label that is not a string is left for the runtime to refuse
        if isinstance(rid, str) and not rid:
            rid = f"{self.agent_id}@{now_s:.3f}#{index}"
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
