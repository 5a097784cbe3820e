"""The dashboard's pages: server-rendered HTML over the same :class:`ClusterService` the API uses.

Each handler gathers what its page shows from the service and renders one template. Who may see a
page is decided by the app-wide authorisation (``ROUTE_ROLES`` in this package: a viewer may see
every page); what a person may *do* on it is the API's business, and the page only hides the
buttons a role cannot use: the approve button of a viewer is disabled, and if pressed anyway the
API refuses it (403). Actions are ``fetch`` calls to ``/api/v1`` with the session's CSRF token.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from autoinfra.api.auth import CSRF_COOKIE, Principal
from autoinfra.api.dashboard.compliance import compliance_report
from autoinfra.api.dashboard.render import environment
from autoinfra.api.incidents import INCIDENT_KINDS
from autoinfra.api.service import ClusterService, NotFound
from autoinfra.security.tokens import ApiRole

__all__ = ["PAGE_PATHS", "router"]

router = APIRouter(include_in_schema=False)
_env = environment()
JSON = dict[str, Any]
_STATE_ORDER = ("on", "booting", "off", "failed", "absent")
_AUDIT_PAGE = 50
_AUDIT_SCAN = 5000  # records read per page at most when filtering


def _svc(request: Request) -> ClusterService:
    service: ClusterService = request.app.state.service
    return service


def _page(request: Request, template: str, active: str, title: str, **data: Any) -> HTMLResponse:
    principal: Principal = request.state.principal
    service = _svc(request)
    html = _env.get_template(template).render(
        title=title,
        active=active,
        principal={"subject": principal.subject, "role": principal.role.value},
        csrf=request.cookies.get(CSRF_COOKIE, ""),
        status=service.status(),
        url=lambda name: f"/ui/{name}",
        **data,
    )
    # pages show live data: never cached (the security middleware adds no-store to everything)
    return HTMLResponse(html)


def _may(request: Request, role: ApiRole) -> bool:
    principal: Principal = request.state.principal
    return principal.at_least(role)


@router.get("/")
def root() -> RedirectResponse:
    return RedirectResponse("/ui/", status_code=303)


@router.get("/ui/", response_class=HTMLResponse)
def overview(request: Request) -> HTMLResponse:
    service = _svc(request)
    status = service.status()
    rows = service.metrics(None, 720)
    joules = sum(a["power_w"] * (b["time_s"] - a["time_s"]) for a, b in pairwise(rows))
    machines = status.get("machines", {})
    states = [(s, int(machines[s])) for s in _STATE_ORDER if s in machines]
    return _page(request, "overview.html", "/ui/", "Overview",
                 machine_states=states, energy_kwh=joules / 3.6e6)  # fmt: skip


@router.get("/ui/approvals", response_class=HTMLResponse)
def approvals(request: Request) -> HTMLResponse:
    service = _svc(request)
    items = []
    for p in service.proposals("pending", 100):
        try:
            items.append(service.proposal(p["request_id"]))  # with justification and what-if
        except NotFound:
            continue  # answered between the two calls
    recent = [r for r in service.proposals(None, 200) if "status" in r][-15:][::-1]
    high = getattr(getattr(service, "settings", None), "high_risk", 0.85)
    can_vote = _may(request, ApiRole.APPROVER)
    return _page(request, "approvals.html", "/ui/approvals", "Approvals", items=items,
                 recent=recent, high_risk=high, can_vote=can_vote)  # fmt: skip


@router.get("/ui/incidents", response_class=HTMLResponse)
def incidents(
    request: Request,
    kind: str = Query("", pattern=r"^([a-z_]{3,30})?$"),
    target: str = Query("", pattern=r"^([a-z]+:[0-9]{1,9})?$"),
    text: str = Query("", max_length=100),
    state: str = Query("any", pattern=r"^(any|open|recovered)$"),
) -> HTMLResponse:
    service = _svc(request)
    found = service.incidents(kind or None, target or None, None, None)
    if state != "any":
        found = [i for i in found if (i.get("closed_s") is None) == (state == "open")]
    if text:
        needle = text.lower()
        found = [i for i in found if needle in str(i.get("timeline", "")).lower()
                 or needle in i.get("kind", "") or needle in i.get("target", "")]  # fmt: skip
    shown = found[:200]
    return _page(request, "incidents.html", "/ui/incidents", "Incidents", incidents=shown,
                 truncated=len(found) > len(shown), kinds=sorted(INCIDENT_KINDS),
                 recommendations=service.recommendations(),
                 q={"kind": kind, "target": target, "text": text, "state": state})  # fmt: skip


@router.get("/ui/audit", response_class=HTMLResponse)
def audit(
    request: Request,
    before: int | None = Query(None, ge=0),
    event: str = Query("", max_length=40),
    actor: str = Query("", max_length=80),
    ticks: bool = Query(False),
) -> HTMLResponse:
    service = _svc(request)
    total = int(service.audit(0, 1)["total"])
    end = total if before is None else min(before, total)
    picked: list[JSON] = []
    scanned, cursor = 0, end
    # newest first, skipping the agents' tick records unless asked: they are most of the chain
    while cursor > 0 and len(picked) < _AUDIT_PAGE and scanned < _AUDIT_SCAN:
        start = max(0, cursor - 500)
        chunk = service.audit(start, cursor - start)["entries"]
        scanned += len(chunk)
        for e in reversed(chunk):
            if (not ticks and e["event"] == "tick") or (event and e["event"] != event):
                continue
            if actor and e["actor"] != actor:
                continue
            picked.append(e)
            if len(picked) == _AUDIT_PAGE:
                cursor = e["seq"]
                break
        else:
            cursor = start
    head_rows = service.audit(total - 1, 1)["entries"] if total else []
    query = {"event": event, "actor": actor, "ticks": "1" if ticks else ""}

    def page_query(before_seq: int) -> str:
        return urlencode({k: v for k, v in {**query, "before": before_seq}.items() if v != ""})

    return _page(
        request, "audit.html", "/ui/audit", "Audit chain", entries=picked, total=total,
        head=head_rows[0]["hash"] if head_rows else "0" * 64,
        newer=None if before is None else total, older=cursor if cursor > 0 else None,
        shown_from=picked[-1]["seq"] if picked else 0, shown_to=picked[0]["seq"] if picked else 0,
        page_query=page_query, q={"event": event, "actor": actor, "ticks": ticks},
    )  # fmt: skip


@router.get("/ui/agents", response_class=HTMLResponse)
def agents(request: Request) -> HTMLResponse:
    return _page(request, "agents.html", "/ui/agents", "Agents", agents=_svc(request).agents(),
                 can_operate=_may(request, ApiRole.OPERATOR))  # fmt: skip


@router.get("/ui/overrides", response_class=HTMLResponse)
def overrides(request: Request) -> HTMLResponse:
    service = _svc(request)
    revertible = [
        r
        for r in service.proposals("succeeded", 500)
        if r.get("action", {}).get("kind") in ("scale_service", "set_machine_power")
    ][-10:][::-1]
    return _page(request, "overrides.html", "/ui/overrides", "Overrides", agents=service.agents(),
                 pins=service.pins(), overrides=service.overrides(50), revertible=revertible,
                 can_operate=_may(request, ApiRole.OPERATOR))  # fmt: skip


@router.get("/ui/compliance", response_class=HTMLResponse)
def compliance(request: Request) -> HTMLResponse:
    return _page(request, "compliance.html", "/ui/compliance", "Compliance",
                 report=compliance_report(_svc(request)))  # fmt: skip


PAGE_PATHS = ("/", "/ui/", "/ui/approvals", "/ui/incidents", "/ui/audit", "/ui/agents",
              "/ui/overrides", "/ui/compliance")  # fmt: skip
