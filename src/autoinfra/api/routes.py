"""The API's routes under ``/api/v1``: thin handlers over the :class:`ClusterService` protocol.

Handlers do no checking of their own beyond parsing: authentication and the role come from the
app-wide dependency (``api.auth``), state rules (digest, TTL, self-approval, pins) from the
service. Each handler that changes something passes the caller's token subject as the actor.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request, Response

from autoinfra.api.auth import CSRF_COOKIE, SESSION_COOKIE, Authorizer, Principal
from autoinfra.api.models import (
    LoginBody,
    PauseBody,
    PinBody,
    RevertBody,
    StopBody,
    UnpinBody,
    VoteBody,
)
from autoinfra.api.service import ClusterService, NotFound

__all__ = ["router"]

router = APIRouter(prefix="/api/v1")
JSON = dict[str, Any]


def _svc(request: Request) -> ClusterService:
    service: ClusterService = request.app.state.service
    return service


def _who(request: Request) -> Principal:
    principal: Principal = request.state.principal
    return principal


# -- health and sessions --
@router.get("/health", tags=["health"], summary="Liveness (the only unauthenticated route)")
def health() -> JSON:
    return {"ok": True}


@router.post("/session", tags=["session"], summary="Log in: a token in, a session cookie out")
def login(body: LoginBody, request: Request, response: Response) -> JSON:
    auth: Authorizer = request.app.state.auth
    client = request.client.host if request.client else "?"
    session, csrf, info = auth.open_session(body.token, client)
    secure = auth.tls
    response.set_cookie(
        SESSION_COOKIE,
        session,
        httponly=True,
        secure=secure,
        samesite="strict",
        max_age=int(auth.session_ttl_s),
        path="/",
    )
    response.set_cookie(
        CSRF_COOKIE,
        csrf,
        httponly=False,
        secure=secure,
        samesite="strict",
        max_age=int(auth.session_ttl_s),
        path="/",
    )
    _svc(request).record("login", actor=info.name, data={"role": info.role.value})
    return {"subject": info.name, "role": info.role.value, "csrf_token": csrf}


@router.delete("/session", tags=["session"], summary="Log out")
def logout(request: Request, response: Response) -> JSON:
    session = request.cookies.get(SESSION_COOKIE)
    if session is not None:
        request.app.state.auth.close_session(session)
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.delete_cookie(CSRF_COOKIE, path="/")
    return {"logged_out": True}


@router.get("/whoami", tags=["session"], summary="The caller's subject and role")
def whoami(request: Request) -> JSON:
    p = _who(request)
    return {"subject": p.subject, "role": p.role.value, "via": p.via}


# -- cluster and agents --
@router.get("/cluster/status", tags=["cluster"], summary="Machines, load, queue, power, approvals")
async def status(request: Request) -> JSON:
    # async: the service answers from a snapshot without blocking, so skip the thread pool
    return _svc(request).status()


@router.get("/cluster/metrics", tags=["cluster"], summary="Cluster metrics over time")
def metrics(
    request: Request,
    since_s: float | None = Query(None, ge=0, description="simulated/cluster seconds"),
    limit: int = Query(500, ge=1, le=5000),
) -> list[JSON]:
    return _svc(request).metrics(since_s, limit)


@router.get("/agents", tags=["agents"], summary="Agents: state, scope, period, outcomes")
def agents(request: Request) -> list[JSON]:
    return _svc(request).agents()


@router.post("/agents/{agent_id}/pause", tags=["agents"], summary="Pause an agent")
def pause(agent_id: str, body: PauseBody, request: Request) -> JSON:
    return _svc(request).pause_agent(agent_id, by=_who(request).subject, why=body.justification)


@router.post("/agents/{agent_id}/resume", tags=["agents"], summary="Resume a paused agent")
def resume(agent_id: str, body: PauseBody, request: Request) -> JSON:
    return _svc(request).resume_agent(agent_id, by=_who(request).subject, why=body.justification)


# -- proposals and approvals --
@router.get("/proposals", tags=["proposals"], summary="Pending requests, then recent proposals")
def proposals(
    request: Request,
    status: str | None = Query(None, pattern=r"^[a-z_]{3,30}$"),
    limit: int = Query(100, ge=1, le=1000),
) -> list[JSON]:
    return _svc(request).proposals(status, limit)


@router.get(
    "/proposals/{request_id:path}",
    tags=["proposals"],
    summary="One proposal with its justification, digest and what-if",
)
def proposal(request_id: str, request: Request) -> JSON:
    return _svc(request).proposal(request_id)


@router.get("/approvals", tags=["approvals"], summary="Requests waiting for a person")
async def approvals(request: Request) -> list[JSON]:  # a snapshot too
    return _svc(request).proposals("pending", 1000)


@router.post("/approvals/{request_id:path}/approve", tags=["approvals"], summary="Vote yes")
def approve(request_id: str, body: VoteBody, request: Request) -> JSON:
    return _svc(request).vote(
        request_id, approve=True, by=_who(request).subject, digest=body.digest, reason=body.reason
    )


@router.post("/approvals/{request_id:path}/reject", tags=["approvals"], summary="Vote no (decides)")
def reject(request_id: str, body: VoteBody, request: Request) -> JSON:
    return _svc(request).vote(
        request_id, approve=False, by=_who(request).subject, digest=body.digest, reason=body.reason
    )


# -- overrides --
@router.get("/overrides", tags=["overrides"], summary="Overrides, newest first")
def overrides(request: Request, limit: int = Query(100, ge=1, le=1000)) -> list[JSON]:
    return _svc(request).overrides(limit)


@router.post("/overrides/stop-agent", tags=["overrides"], summary="Stop an agent")
def stop_agent(body: StopBody, request: Request) -> JSON:
    return _svc(request).stop_agent(body.agent_id, by=_who(request).subject, why=body.justification)


@router.post("/overrides/revert", tags=["overrides"], summary="Revert an executed action")
def revert(body: RevertBody, request: Request) -> JSON:
    return _svc(request).revert(body.request_id, by=_who(request).subject, why=body.justification)


@router.get("/overrides/pins", tags=["overrides"], summary="Targets pinned against the agents")
def pins(request: Request) -> list[JSON]:
    return _svc(request).pins()


@router.post("/overrides/pins", tags=["overrides"], summary="Pin a target against the agents")
def pin(body: PinBody, request: Request) -> JSON:
    return _svc(request).pin(body.target, by=_who(request).subject, why=body.justification)


@router.post("/overrides/unpin", tags=["overrides"], summary="Release a pinned target")
def unpin(body: UnpinBody, request: Request) -> JSON:
    return _svc(request).unpin(body.target, by=_who(request).subject, why=body.justification)


# -- incidents, recommendations, audit, learning --
@router.get("/incidents", tags=["incidents"], summary="Incident history, searchable")
def incidents(
    request: Request,
    kind: str | None = Query(None, pattern=r"^[a-z_]{3,30}$"),
    target: str | None = Query(None, pattern=r"^[a-z]+:[0-9]{1,9}$"),
    since_s: float | None = Query(None, ge=0),
    until_s: float | None = Query(None, ge=0),
) -> list[JSON]:
    return _svc(request).incidents(kind, target, since_s, until_s)


@router.get("/incidents/{incident_id}", tags=["incidents"], summary="One incident's timeline")
def incident(incident_id: str, request: Request) -> JSON:
    return _svc(request).incident(incident_id)


@router.get("/recommendations", tags=["incidents"], summary="What fixed which kind, how fast")
def recommendations(request: Request) -> list[JSON]:
    return _svc(request).recommendations()


@router.get("/audit", tags=["audit"], summary="The audit chain, paginated")
def audit(
    request: Request,
    offset: int = Query(0, ge=0),
    limit: int = Query(100, ge=1, le=1000),
) -> JSON:
    return _svc(request).audit(offset, limit)


@router.get("/audit/verify", tags=["audit"], summary="Verify the audit chain")
def verify(request: Request) -> JSON:
    return _svc(request).verify_audit()


@router.get("/learning/preferences", tags=["learning"], summary="Verdicts learnt as preferences")
def preferences(request: Request) -> list[dict[str, object]]:
    hook = getattr(_svc(request), "preferences", None)
    return hook() if hook is not None else []


# -- tokens (admin) --
@router.get("/tokens", tags=["tokens"], summary="Tokens (never their secrets)")
def tokens(request: Request) -> list[JSON]:
    return [
        {
            "token_id": t.token_id,
            "name": t.name,
            "role": t.role.value,
            "created_s": t.created_s,
            "expires_s": t.expires_s,
            "revoked_s": t.revoked_s,
        }
        for t in request.app.state.auth.tokens.list()
    ]


@router.post("/tokens/{token_id}/revoke", tags=["tokens"], summary="Revoke a token")
def revoke(token_id: str, request: Request) -> JSON:
    store = request.app.state.auth.tokens
    if store.get(token_id) is None:
        raise NotFound(f"no token {token_id!r}")
    info = store.revoke(token_id)
    _svc(request).record("token_revoked", actor=_who(request).subject, data={"token_id": token_id})
    return {"token_id": info.token_id, "revoked": True}
