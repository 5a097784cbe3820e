"""What the notifiers are told about: a pending approval or an incident, as plain frozen data.

The API and the runtime have their own richer records (approval items, incident timelines); they
map them onto these two shapes so every channel (webhook, Slack, PagerDuty) renders the same facts
and none of them imports the server. ``digest`` binds an approval notice to the exact action shown,
so a button pressed on a stale message cannot approve an action that has since changed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

__all__ = ["ApprovalNotice", "IncidentNotice", "IncidentPhase", "Severity"]

Severity = Literal["critical", "error", "warning", "info"]
# trigger: the incident opened (or became critical); acknowledge: someone is on it; resolve: over
IncidentPhase = Literal["trigger", "acknowledge", "resolve"]


@dataclass(frozen=True, slots=True)
class ApprovalNotice:
    """A proposal waiting for a person: what, who asks, why, how risky, and what-if."""

    request_id: str
    agent: str
    action_kind: str
    target: str
    reason: str
    risk: float
    digest: str  # of the exact action shown; the approval route checks it again
    what_if: str = ""  # predicted effect from the forked world, in one or two sentences
    expires_at_s: float | None = None  # wall-clock epoch seconds after which the answer is deny
    url: str = ""  # the dashboard page of this request

    @property
    def event_id(self) -> str:
        return f"approval:{self.request_id}"

    def to_dict(self) -> dict[str, Any]:
        return {"type": "approval.pending", **asdict(self)}


@dataclass(frozen=True, slots=True)
class IncidentNotice:
    """An incident at one phase of its life; ``incident_id`` is stable across phases."""

    incident_id: str
    kind: str  # an IncidentKind value, e.g. node_failure, intrusion
    target: str  # e.g. machine:12
    summary: str
    severity: Severity = "critical"
    phase: IncidentPhase = "trigger"
    at_s: float = 0.0  # wall-clock epoch seconds
    source: str = "autoinfra"
    url: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def event_id(self) -> str:
        return f"incident:{self.incident_id}:{self.phase}"

    def to_dict(self) -> dict[str, Any]:
        return {"type": f"incident.{self.phase}", **asdict(self)}
