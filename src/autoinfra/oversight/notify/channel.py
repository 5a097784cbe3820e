"""The seam every notification channel fills: render a notice to a payload, prepare it for the wire.

Rendering happens once, when a notice is put in the outbox; preparing happens at every delivery
attempt. The split keeps secrets out of the outbox on disk (webhook secrets, Slack webhook URLs,
PagerDuty routing keys are added only when a request is about to be sent) and lets each attempt
carry a fresh timestamp, so a receiver's replay window is measured from the attempt, not from when
the notice was first written.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from autoinfra.oversight.notify.notices import ApprovalNotice, IncidentNotice

__all__ = ["Channel", "Request"]


@dataclass(frozen=True, slots=True)
class Request:
    """One HTTP POST, ready to send."""

    url: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


class Channel(Protocol):
    """A place notices go. ``render_*`` return None when this channel does not carry that notice."""

    @property
    def name(self) -> str: ...

    def render_approval(self, notice: ApprovalNotice) -> dict[str, Any] | None: ...

    def render_answer(
        self, notice: ApprovalNotice, *, approved: bool, by: str
    ) -> dict[str, Any] | None: ...

    def render_incident(self, notice: IncidentNotice) -> dict[str, Any] | None: ...

    def prepare(self, payload: dict[str, Any], *, now_s: float) -> Request: ...
