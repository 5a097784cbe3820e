"""Findings, proposals, verdicts, answers and outcomes: what flows between the stages of a tick.

A ``Proposal`` carries its own justification (why, from which inputs, the expected effect) so a
human asked to approve it, an arbiter settling a conflict, and the audit log all see the same
reasons the agent had.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from autoinfra.core.actions import Action


@dataclass(frozen=True, slots=True)
class Finding:
    """Something a detector noticed. ``target`` uses the action target form, e.g. ``machine:12``."""

    kind: str  # an IncidentKind (core.incidents) or e.g. "demand_forecast", "monitoring_outage"
    target: str
    severity: float  # 0..1
    at_s: float
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Justification:
    reason: str
    inputs: dict[str, Any] = field(default_factory=dict)
    expected_effect: str = ""


@dataclass(frozen=True, slots=True)
class Proposal:
    """An action an agent wants taken, with who wants it, how much, and why."""

    action: Action
    agent: str
    priority: int  # higher wins in arbitration (healing > scaling > energy by default)
    justification: Justification
    confidence: float = 1.0
    # issued by the runtime ("<agent>/<random>"), which also stamps ``agent`` and ``priority``
    # (agents.admission); what an agent puts here is only its own label. Submission is idempotent
    request_id: str = ""
    findings: tuple[Finding, ...] = ()


class Decision(enum.StrEnum):
    APPROVE = "approve"
    ESCALATE = "escalate"  # needs a human
    REJECT = "reject"


@dataclass(frozen=True, slots=True)
class Verdict:
    decision: Decision
    reason: str
    risk: float = 0.0  # 0..1


@dataclass(frozen=True, slots=True)
class Answer:
    """The answer to an escalated proposal: a person's, an approver policy's, or an expiry's."""

    request_id: str
    approved: bool
    by: str  # a person's name, the approver policy's name, or "queue" for an expiry
    why: str
    at_s: float


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the backend reports for a submitted action, polled by the executor."""

    request_id: str
    succeeded: bool
    at_s: float
    detail: str = ""
