"""Every route x every role: exactly the declared set is allowed; only health is open."""

from __future__ import annotations

import re

from autoinfra.api.app import api_routes
from autoinfra.api.auth import PUBLIC, SIGNED, TOKEN_IN_BODY
from autoinfra.security.tokens import ROLE_ORDER, ApiRole
from tests.api.conftest import ROLES, Api


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "x1", path)


def _call(api: Api, method: str, path: str, headers: dict[str, str]) -> tuple[int, str]:
    kwargs: dict[str, object] = {"headers": headers}
    if method in ("POST", "PUT", "PATCH"):
        kwargs["json"] = {}  # fails validation *after* authorisation: nothing is changed
    r = api.client.request(method, _concrete(path), follow_redirects=False, **kwargs)  # type: ignore[arg-type]
    if r.status_code == 303 and r.headers["location"] == "/static/login.html":
        return 401, "sent to the login page"  # a page: the browser is sent to log in
    return r.status_code, r.text


def test_every_route_is_declared_and_nothing_stale(api: Api) -> None:
    served = set(api_routes(api.app))
    declared = set(api.app.state.route_roles)
    assert served == declared, (served - declared, declared - served)
    assert len(served) >= 25


def test_unauthenticated_requests_are_refused_everywhere_but_health(api: Api) -> None:
    opened = []
    for method, path in api_routes(api.app):
        need = api.app.state.route_roles[(method, path)]
        status, text = _call(api, method, path, {})
        if need == PUBLIC:
            assert status == 200
            opened.append(path)
        elif need == TOKEN_IN_BODY:
            assert status in (401, 422), text  # the login itself: no token, no session
        elif need == SIGNED:
            assert status in (400, 401, 403), text  # no signature: refused by its handler
        else:
            assert status == 401, (method, path, status, text)
    assert opened == ["/api/v1/health"]


def test_every_role_gets_exactly_its_routes(api: Api) -> None:
    for method, path in api_routes(api.app):
        need = api.app.state.route_roles[(method, path)]
        for role in ROLES:
            status, text = _call(api, method, path, api.h(role))
            refused = status == 403 and "needs" in text
            if need in (PUBLIC, TOKEN_IN_BODY, SIGNED):
                assert not refused
                continue
            allowed = ROLE_ORDER[ApiRole(role)] >= ROLE_ORDER[ApiRole(need)]
            assert refused != allowed, (method, path, role, status, text)
            assert status != 401, (method, path, role, text)


def test_viewer_cannot_approve(api: Api) -> None:
    item = api.wait_pending()[0]
    r = api.client.post(
        f"/api/v1/approvals/{item['request_id']}/approve",
        headers=api.h("viewer"),
        json={"digest": item["digest"], "reason": "viewer tries"},
    )
    assert r.status_code == 403
    assert "needs approver" in r.json()["error"]
    assert api.service.store.votes(item["request_id"]) == []
