"""Slack: approval requests as Block Kit messages with Approve/Reject buttons, and their callbacks.

A message goes to an incoming-webhook URL (a secret: it is added at send time, never stored in the
outbox). Each button's ``value`` is ``<request id>|<action digest>``: when someone presses it, Slack
POSTs a form with one field, ``payload``, holding JSON with the user and the pressed action; the
API route verifies Slack's signature first (``signing.verify_slack``) and then hands
:func:`parse_interaction`'s result to the approval service, which checks the digest against the
action still pending, so a stale message cannot approve something that has changed.

Text from agents is escaped for mrkdwn (``&``, ``<``, ``>``), so a reason that reads ``<!channel>``
cannot ping a whole channel, and clipped to Block Kit's limits.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from autoinfra.core.errors import AutoinfraError
from autoinfra.oversight.notify.channel import Request
from autoinfra.oversight.notify.notices import ApprovalNotice, IncidentNotice

__all__ = [
    "APPROVE_ACTION_ID",
    "REJECT_ACTION_ID",
    "SlackChannel",
    "SlackDecision",
    "SlackPayloadInvalid",
    "SlackResponseChannel",
    "parse_interaction",
]

APPROVE_ACTION_ID = "autoinfra_approve"
REJECT_ACTION_ID = "autoinfra_reject"
_SECTION_MAX = 2900  # Block Kit allows 3000 characters in a section's text
_HEADER_MAX = 150
_INCIDENT_EMOJI = {"critical": ":red_circle:", "error": ":large_orange_circle:"}


class SlackPayloadInvalid(AutoinfraError):
    """A (correctly signed) Slack callback did not have the shape we send buttons for."""


def _esc(text: str, limit: int = _SECTION_MAX) -> str:
    clean = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return clean if len(clean) <= limit else clean[: limit - 1] + "…"


def _section(markdown: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": markdown}}


def _header(text: str) -> dict[str, Any]:
    return {"type": "header", "text": {"type": "plain_text", "text": text[:_HEADER_MAX]}}


def _link(url: str, label: str) -> str:
    return f"<{url}|{label}>" if url.startswith(("http://", "https://")) else label


def approval_message(notice: ApprovalNotice) -> dict[str, Any]:
    """The Block Kit message asking for an approval, with the two buttons."""
    value = f"{notice.request_id}|{notice.digest}"
    what = (
        f"*{_esc(notice.action_kind)}* on `{_esc(notice.target)}`, asked by *{_esc(notice.agent)}*"
    )
    fields = [{"type": "mrkdwn", "text": f"*Risk*\n{notice.risk:.2f}"}]
    if notice.expires_at_s is not None:
        ts = int(notice.expires_at_s)
        fields.append({"type": "mrkdwn", "text": f"*Expires*\n<!date^{ts}^{{time}}|{ts}>"})
    blocks: list[dict[str, Any]] = [
        _header("Approval needed"),
        {**_section(what), "fields": fields},
        _section(f"*Why*\n{_esc(notice.reason)}"),
    ]
    if notice.what_if:
        blocks.append(_section(f"*What-if*\n{_esc(notice.what_if)}"))
    confirm = {
        "title": {"type": "plain_text", "text": "Are you sure?"},
        "text": {"type": "mrkdwn", "text": f"Approve *{_esc(notice.action_kind)}* now?"},
        "confirm": {"type": "plain_text", "text": "Approve"},
        "deny": {"type": "plain_text", "text": "Cancel"},
    }
    blocks.append(
        {
            "type": "actions",
            "block_id": "autoinfra_approval",
            "elements": [
                {
                    "type": "button",
                    "action_id": APPROVE_ACTION_ID,
                    "text": {"type": "plain_text", "text": "Approve"},
                    "style": "primary",
                    "value": value,
                    "confirm": confirm,
                },
                {
                    "type": "button",
                    "action_id": REJECT_ACTION_ID,
                    "text": {"type": "plain_text", "text": "Reject"},
                    "style": "danger",
                    "value": value,
                },
            ],
        }
    )
    blocks.append(
        {
            "type": "context",
            "elements": [
                {
                    "type": "mrkdwn",
                    "text": f"request `{_esc(notice.request_id)}` · "
                    + _link(notice.url, "open in the dashboard"),
                }
            ],
        }
    )
    fallback = (
        f"Approval needed: {notice.action_kind} on {notice.target} by {notice.agent} "
        f"(risk {notice.risk:.2f})"
    )
    return {"text": fallback, "blocks": blocks}


def incident_message(notice: IncidentNotice) -> dict[str, Any]:
    verb = {"trigger": "opened", "acknowledge": "acknowledged", "resolve": "resolved"}[notice.phase]
    mark = (
        ":white_check_mark:"
        if notice.phase == "resolve"
        else _INCIDENT_EMOJI.get(notice.severity, ":warning:")
    )
    title = (
        f"{mark} {notice.severity} incident {verb}: {_esc(notice.kind)} on `{_esc(notice.target)}`"
    )
    blocks = [
        _section(f"{title}\n{_esc(notice.summary)}"),
        {
            "type": "context",
            "elements": [
                {
                    "type": "mrkdwn",
                    "text": f"incident `{_esc(notice.incident_id)}` · "
                    + _link(notice.url, "timeline"),
                }
            ],
        },
    ]
    return {
        "text": f"{notice.severity} incident {verb}: {notice.kind} on {notice.target}",
        "blocks": blocks,
    }


def answer_message(
    notice_request_id: str, *, approved: bool, by: str, detail: str = ""
) -> dict[str, Any]:
    """What replaces the buttons once a request is answered (so nobody presses them twice)."""
    mark, verb = (":white_check_mark:", "approved") if approved else (":x:", "rejected")
    text = f"{mark} request `{_esc(notice_request_id)}` {verb} by *{_esc(by)}*"
    if detail:
        text += f"\n{_esc(detail)}"
    return {"text": f"request {notice_request_id} {verb} by {by}", "blocks": [_section(text)]}


@dataclass(frozen=True, slots=True)
class SlackChannel:
    """Messages to one incoming webhook. The signing secret is for verifying callbacks only."""

    webhook_url: str
    name: str = "slack"

    def render_approval(self, notice: ApprovalNotice) -> dict[str, Any]:
        return approval_message(notice)

    def render_answer(self, notice: ApprovalNotice, *, approved: bool, by: str) -> dict[str, Any]:
        return answer_message(notice.request_id, approved=approved, by=by)

    def render_incident(self, notice: IncidentNotice) -> dict[str, Any] | None:
        # only what a person must look at now; acknowledgements stay in the dashboard
        if notice.phase == "acknowledge":
            return None
        if notice.phase == "trigger" and notice.severity not in {"critical", "error"}:
            return None
        return incident_message(notice)

    def prepare(self, payload: dict[str, Any], *, now_s: float) -> Request:
        body = json.dumps(payload, separators=(",", ":")).encode()
        return Request(self.webhook_url, body, {"Content-Type": "application/json"})


@dataclass(frozen=True, slots=True)
class SlackResponseChannel:
    """Updates to the message a button was pressed on, via the callback's ``response_url``.

    The URL comes from a signed callback, and is still checked against ``allowed_prefix`` (Slack's
    own host by default) so a callback can never make us POST to an arbitrary address.
    """

    allowed_prefix: str = "https://hooks.slack.com/"
    name: str = "slack_response"

    def render_approval(self, notice: ApprovalNotice) -> None:
        return None

    def render_answer(self, notice: ApprovalNotice, *, approved: bool, by: str) -> None:
        return None

    def render_incident(self, notice: IncidentNotice) -> None:
        return None

    def prepare(self, payload: dict[str, Any], *, now_s: float) -> Request:
        url = str(payload["response_url"])
        if not url.startswith(self.allowed_prefix):
            raise SlackPayloadInvalid(
                f"response_url {url[:60]!r} is not under {self.allowed_prefix!r}"
            )
        message = {"replace_original": True, **payload["message"]}
        body = json.dumps(message, separators=(",", ":")).encode()
        return Request(url, body, {"Content-Type": "application/json"})


@dataclass(frozen=True, slots=True)
class SlackDecision:
    """A button press: who pressed which button on which request (and the digest it showed)."""

    request_id: str
    digest: str
    approved: bool
    slack_user_id: str
    slack_user_name: str
    response_url: str


def parse_interaction(body: bytes) -> SlackDecision:
    """The decision in a Slack ``block_actions`` callback body (form field ``payload``)."""
    try:
        form = parse_qs(body.decode("utf-8"), strict_parsing=True, max_num_fields=8)
        raw = json.loads(form["payload"][0])
    except (UnicodeDecodeError, ValueError, KeyError, IndexError) as exc:
        raise SlackPayloadInvalid(
            f"body is not a form with a JSON 'payload' field ({exc})"
        ) from None
    if not isinstance(raw, dict) or raw.get("type") != "block_actions":
        kind = raw.get("type") if isinstance(raw, dict) else type(raw).__name__
        raise SlackPayloadInvalid(f"payload type {kind!r}, expected 'block_actions'")
    user = raw.get("user")
    actions = raw.get("actions")
    if not isinstance(user, dict) or not isinstance(user.get("id"), str):
        raise SlackPayloadInvalid("payload.user.id missing")
    if not isinstance(actions, list) or len(actions) != 1 or not isinstance(actions[0], dict):
        raise SlackPayloadInvalid("payload.actions must hold exactly one action")
    action = actions[0]
    action_id = action.get("action_id")
    if action_id not in {APPROVE_ACTION_ID, REJECT_ACTION_ID}:
        raise SlackPayloadInvalid(f"payload.actions[0].action_id {action_id!r} is not ours")
    value = action.get("value")
    if not isinstance(value, str) or value.count("|") != 1:
        raise SlackPayloadInvalid("payload.actions[0].value must be '<request id>|<digest>'")
    request_id, digest = value.split("|")
    if not request_id or not digest:
        raise SlackPayloadInvalid("payload.actions[0].value has an empty request id or digest")
    response_url = raw.get("response_url", "")
    return SlackDecision(
        request_id=request_id,
        digest=digest,
        approved=action_id == APPROVE_ACTION_ID,
        slack_user_id=user["id"],
        slack_user_name=str(user.get("username") or user.get("name") or user["id"]),
        response_url=response_url if isinstance(response_url, str) else "",
    )
