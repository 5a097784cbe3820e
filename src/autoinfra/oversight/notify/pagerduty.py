"""PagerDuty Events API v2: incidents (and long-waiting approvals) as trigger/acknowledge/resolve.

One incident is one PagerDuty alert: every phase carries the same ``dedup_key``
(``autoinfra:<incident id>``), so PagerDuty folds a repeated trigger into the open alert, and an
acknowledge or resolve finds it. A pending approval pages too (severity ``warning``, key
``autoinfra:approval:<request id>``) and is resolved when someone answers it. The routing key is a
secret: it is put into the body only when the request is prepared, never into the outbox.

Field limits from the Events v2 reference: ``summary`` up to 1024 characters, ``dedup_key`` up to
255; ``severity`` one of critical, error, warning, info.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from autoinfra.oversight.notify.channel import Request
from autoinfra.oversight.notify.notices import ApprovalNotice, IncidentNotice

__all__ = ["EVENTS_V2_URL", "PagerDutyChannel", "dedup_key"]

EVENTS_V2_URL = "https://events.pagerduty.com/v2/enqueue"
_SUMMARY_MAX = 1024
_DEDUP_MAX = 255


def dedup_key(kind: str, ident: str) -> str:
    return f"autoinfra:{kind}:{ident}"[:_DEDUP_MAX]


def _iso(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, tz=UTC).isoformat(timespec="seconds")


def _clip(text: str) -> str:
    return text if len(text) <= _SUMMARY_MAX else text[: _SUMMARY_MAX - 1] + "…"


@dataclass(frozen=True, slots=True)
class PagerDutyChannel:
    routing_key: str
    events_url: str = EVENTS_V2_URL
    name: str = "pagerduty"

    def render_incident(self, notice: IncidentNotice) -> dict[str, Any]:
        event: dict[str, Any] = {
            "event_action": notice.phase,
            "dedup_key": dedup_key("incident", notice.incident_id),
        }
        if notice.phase == "trigger":
            event["payload"] = {
                "summary": _clip(f"{notice.kind} on {notice.target}: {notice.summary}"),
                "source": notice.source,
                "severity": notice.severity,
                "timestamp": _iso(notice.at_s),
                "component": notice.target,
                "class": notice.kind,
                "custom_details": dict(notice.details),
            }
            event["client"] = "autoinfra"
            if notice.url:
                event["client_url"] = notice.url
                event["links"] = [{"href": notice.url, "text": "incident timeline"}]
        return event

    def render_approval(self, notice: ApprovalNotice) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "summary": _clip(
                f"approval needed: {notice.action_kind} on {notice.target} "
                f"(agent {notice.agent}, risk {notice.risk:.2f}): {notice.reason}"
            ),
            "source": notice.agent,
            "severity": "warning",
            "component": notice.target,
            "class": "approval",
            "custom_details": {"request_id": notice.request_id, "what_if": notice.what_if},
        }
        event: dict[str, Any] = {
            "event_action": "trigger",
            "dedup_key": dedup_key("approval", notice.request_id),
            "payload": payload,
            "client": "autoinfra",
        }
        if notice.url:
            event["client_url"] = notice.url
            event["links"] = [{"href": notice.url, "text": "approve or reject"}]
        return event

    def render_answer(self, notice: ApprovalNotice, *, approved: bool, by: str) -> dict[str, Any]:
        return {"event_action": "resolve", "dedup_key": dedup_key("approval", notice.request_id)}

    def prepare(self, payload: dict[str, Any], *, now_s: float) -> Request:
        body = json.dumps({"routing_key": self.routing_key, **payload}, separators=(",", ":"))
        return Request(self.events_url, body.encode(), {"Content-Type": "application/json"})
