"""``POST /api/v1/slack/interactions``: Slack's Approve/Reject button presses, turned into votes.

Slack cannot send our tokens, so this route is authenticated by Slack's request signature instead
(:func:`autoinfra.oversight.notify.signing.verify_slack`: v0 HMAC-SHA256 with the app's signing
secret, a five-minute replay window, constant-time comparison). It is therefore a plain Starlette
route, outside the token/session dependency, and the checks are all here, in this order:

1. the signature and timestamp (401 on any failure; nothing is read before they pass);
2. the payload's shape (400);
3. the Slack user must be mapped to an autoinfra principal (``AUTOINFRA_NOTIFY_SLACK_USERS``) who
   holds an active token of role approver or above (403): Slack is one more way for the same
   person to vote, never a way around their role;
4. the vote goes to the same ``ClusterService.vote`` as the API's, with the digest from the
   button, so a stale message, a second vote, self-approval and expiry are refused the same way.

Every signed callback (accepted or refused after step 1) is written to the audit chain; unsigned
noise is not, so it cannot flood the chain.
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from autoinfra.api.service import ClusterService, Conflict, Gone, NotFound, SelfApproval
from autoinfra.core.errors import AutoinfraError
from autoinfra.oversight.notify import (
    NotifySettings,
    SignatureInvalid,
    SlackPayloadInvalid,
    parse_interaction,
    verify_slack,
)
from autoinfra.oversight.notify.signing import SLACK_SIGNATURE_HEADER, SLACK_TIMESTAMP_HEADER
from autoinfra.security.tokens import ROLE_ORDER, ApiRole

__all__ = ["SLACK_PATH", "router", "settings_of"]

SLACK_PATH = "/api/v1/slack/interactions"
router = APIRouter(include_in_schema=False)


def settings_of(app: Any) -> NotifySettings:
    """The app's notification settings (set when it started), else read from the environment."""
    settings = getattr(app.state, "notify_settings", None)
    if not isinstance(settings, NotifySettings):
        settings = NotifySettings.from_env()
        app.state.notify_settings = settings
    return settings


def _refuse(status: int, reason: str) -> JSONResponse:
    return JSONResponse({"error": reason}, status_code=status)


def _approver(app: Any, principal: str) -> bool:
    """Does ``principal`` hold an active token of role approver or above?"""
    auth = getattr(app.state, "auth", None)
    if auth is None:
        return False
    now = time.time()
    need = ROLE_ORDER[ApiRole.APPROVER]
    return any(t.name == principal and t.active(now) and ROLE_ORDER[t.role] >= need
               for t in auth.tokens.list())  # fmt: skip


_STATUS = ((NotFound, 404), (Gone, 410), (SelfApproval, 403), (Conflict, 409))


async def slack_interactions(request: Request) -> JSONResponse:
    settings = settings_of(request.app)
    body = await request.body()
    try:
        verify_slack(
            settings.slack_signing_secret,
            body,
            request.headers.get(SLACK_TIMESTAMP_HEADER),
            request.headers.get(SLACK_SIGNATURE_HEADER),
            now_s=time.time(),
        )
    except SignatureInvalid as exc:
        return _refuse(401, f"Slack signature refused: {exc}")
    service: ClusterService = request.app.state.service
    try:
        decision = parse_interaction(body)
    except SlackPayloadInvalid as exc:
        await run_in_threadpool(service.record, "slack_refused", actor="slack",
                                data={"why": str(exc)})  # fmt: skip
        return _refuse(400, str(exc))
    principal = settings.slack_users.get(decision.slack_user_id)
    who = {"slack_user": decision.slack_user_id, "slack_name": decision.slack_user_name,
           "request_id": decision.request_id}  # fmt: skip
    if principal is None or not _approver(request.app, principal):
        why = ("Slack user is not mapped to an autoinfra principal" if principal is None
               else f"{principal!r} holds no active approver token")  # fmt: skip
        await run_in_threadpool(service.record, "slack_refused", actor=principal or "slack",
                                data={**who, "why": why})  # fmt: skip
        return _refuse(403, why)
    reason = f"via Slack by @{decision.slack_user_name} ({decision.slack_user_id})"
    try:
        out = await run_in_threadpool(
            lambda: service.vote(
                decision.request_id,
                approve=decision.approved,
                by=principal,
                digest=decision.digest,
                reason=reason,
            )
        )
    except AutoinfraError as exc:
        status = next((code for cls, code in _STATUS if isinstance(exc, cls)), 422)
        await run_in_threadpool(service.record, "slack_refused", actor=principal,
                                data={**who, "why": str(exc)})  # fmt: skip
        return _refuse(status, str(exc).splitlines()[0])
    await run_in_threadpool(service.record, "slack_vote", actor=principal,
                            data={**who, "approve": decision.approved})  # fmt: skip
    notifier = getattr(request.app.state, "notifier", None)
    if notifier is not None:
        verb = "approval" if decision.approved else "rejection"
        detail = (
            "decided"
            if out.get("decided")
            else (f"{out.get('votes')} of {out.get('approvers_required')} votes so far")
        )
        notifier.slack_update(decision.response_url, decision.request_id,
                              approved=decision.approved, by=principal,
                              detail=f"{verb} recorded; {detail}")  # fmt: skip
    return JSONResponse({"ok": True, **out})


# a plain route on purpose: no token dependency (see the module docstring)
router.add_route(SLACK_PATH, slack_interactions, methods=["POST"], include_in_schema=False)
