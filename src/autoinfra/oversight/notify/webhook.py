"""The generic webhook: every notice as a JSON document, its body signed with HMAC-SHA256.

Body: ``{"id": <event id>, "type": "approval.pending" | "approval.answered" | "incident.trigger" |
"incident.acknowledge" | "incident.resolve", "data": {...the notice's fields...}}``. Headers: the
timestamp and signature of :mod:`autoinfra.oversight.notify.signing`, plus ``X-Autoinfra-Event-Id``
so a receiver can drop the duplicates that at-least-once delivery may produce after a crash.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from autoinfra.oversight.notify.channel import Request
from autoinfra.oversight.notify.notices import ApprovalNotice, IncidentNotice
from autoinfra.oversight.notify.signing import sign_webhook

__all__ = ["EVENT_ID_HEADER", "WebhookChannel"]

EVENT_ID_HEADER = "X-Autoinfra-Event-Id"


def _canonical_bytes(payload: dict[str, Any]) -> bytes:
    # one serialisation, so the bytes signed are exactly the bytes sent
    return json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()


@dataclass(frozen=True, slots=True)
class WebhookChannel:
    url: str
    secret: str
    name: str = "webhook"

    def render_approval(self, notice: ApprovalNotice) -> dict[str, Any]:
        data = notice.to_dict()
        return {"id": notice.event_id, "type": data.pop("type"), "data": data}

    def render_answer(self, notice: ApprovalNotice, *, approved: bool, by: str) -> dict[str, Any]:
        data = notice.to_dict()
        data.pop("type")
        data.update(approved=approved, by=by)
        return {"id": f"{notice.event_id}:answered", "type": "approval.answered", "data": data}

    def render_incident(self, notice: IncidentNotice) -> dict[str, Any]:
        data = notice.to_dict()
        return {"id": notice.event_id, "type": data.pop("type"), "data": data}

    def prepare(self, payload: dict[str, Any], *, now_s: float) -> Request:
        body = _canonical_bytes(payload)
        headers = {
            "Content-Type": "application/json",
            EVENT_ID_HEADER: str(payload.get("id", "")),
            **sign_webhook(self.secret, body, int(now_s)),
        }
        return Request(self.url, body, headers)
