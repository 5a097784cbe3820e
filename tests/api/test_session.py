"""The page's session: cookie flags, CSRF on every non-GET, logout, security headers."""

from __future__ import annotations

from tests.api.conftest import Api


def test_login_sets_strict_httponly_cookie_and_csrf_is_required(api: Api) -> None:
    c = api.client
    r = c.post("/api/v1/session", json={"token": api.tokens["operator"]})
    assert r.status_code == 200
    csrf = r.json()["csrf_token"]
    cookies = r.headers.get_list("set-cookie")
    session = next(h for h in cookies if h.startswith("autoinfra_session="))
    assert "HttpOnly" in session and "SameSite=strict" in session.replace("Strict", "strict")
    assert "Secure" not in session  # plain HTTP here; Secure when served over TLS
    assert c.get("/api/v1/whoami").json() == {
        "subject": "operator-1",
        "role": "operator",
        "via": "session",
    }
    body = {"justification": "maintenance window"}
    r = c.post("/api/v1/agents/energy/pause", json=body)
    assert r.status_code == 403 and "CSRF" in r.json()["error"]
    r = c.post("/api/v1/agents/energy/pause", json=body, headers={"X-CSRF-Token": "wrong"})
    assert r.status_code == 403
    assert "energy" not in api.service.status()["paused"]
    r = c.post("/api/v1/agents/energy/pause", json=body, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 200
    api.service.step()
    assert "energy" in api.service.status()["paused"]
    # a form post carries the token as a field
    r = c.post("/api/v1/overrides/unpin", data={"csrf_token": "wrong"})
    assert r.status_code == 403
    assert c.delete("/api/v1/session", headers={"X-CSRF-Token": csrf}).status_code == 200
    assert c.get("/api/v1/whoami").status_code == 401


def test_secure_cookie_over_tls(api: Api) -> None:
    api.auth.tls = True
    r = api.client.post("/api/v1/session", json={"token": api.tokens["viewer"]})
    assert all("Secure" in h for h in r.headers.get_list("set-cookie"))


def test_security_headers_on_every_response(api: Api) -> None:
    for r in (api.client.get("/api/v1/health"), api.client.get("/api/v1/cluster/status")):
        assert r.headers["x-frame-options"] == "DENY"
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["referrer-policy"] == "no-referrer"
        csp = r.headers["content-security-policy"]
        assert "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
