"""The dashboard's pages over a real simulated service: served, role-checked, escaped, CSP-clean."""

from __future__ import annotations

import re

from autoinfra.api.dashboard import ROUTE_ROLES, SIGNED_ROUTES
from autoinfra.api.dashboard.pages import PAGE_PATHS
from tests.api.conftest import ROLES, Api

PAGES = [p for p in PAGE_PATHS if p != "/"]


def login(api: Api, role: str) -> str:
    """Log the test client in with a session cookie; returns the CSRF token."""
    r = api.client.post("/api/v1/session", json={"token": api.tokens[role]})
    assert r.status_code == 200, r.text
    return str(r.json()["csrf_token"])


def test_pages_are_declared_for_viewers_and_none_is_public() -> None:
    assert set(ROUTE_ROLES) == {("GET", p) for p in PAGE_PATHS}
    assert {r.value for r in ROUTE_ROLES.values()} == {"viewer"}
    assert SIGNED_ROUTES == (("POST", "/api/v1/slack/interactions"),)


def test_without_a_session_pages_send_you_to_login(api: Api) -> None:
    for path in PAGES:
        r = api.client.get(path, follow_redirects=False)
        assert r.status_code == 303, (path, r.status_code)
        assert r.headers["location"] == "/static/login.html"
    login_page = api.client.get("/static/login.html")
    assert login_page.status_code == 200 and 'id="login"' in login_page.text


def test_every_page_renders_for_every_role(api: Api) -> None:
    api.run(120)  # ten simulated minutes: incidents, proposals and audit records exist
    for role in ROLES:
        api.client.cookies.clear()
        login(api, role)
        for path in PAGES:
            r = api.client.get(path)
            assert r.status_code == 200, (role, path, r.text[:300])
            assert f"role: {role}" in r.text
            # CSP: no inline script or style anywhere, scripts only from /static
            assert not re.search(r"<script(?![^>]*\bsrc=)", r.text), path
            assert " style=" not in r.text and "<style" not in r.text, path
            assert "default-src 'self'" in r.headers["content-security-policy"]


def test_root_redirects_to_the_overview(api: Api) -> None:
    login(api, "viewer")
    r = api.client.get("/", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/ui/"
