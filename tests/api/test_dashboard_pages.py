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


def test_approvals_page_shows_justification_what_if_and_role(api: Api) -> None:
    item = api.wait_pending()[0]
    login(api, "viewer")
    page = api.client.get("/ui/approvals").text
    card = page[page.index(f'id="req-{item["request_id"]}"') :]
    card = card[: card.index("</article>")]
    assert item["digest"] in card
    assert "What-if" in card and "with action" in card and "usable cpu" in card
    assert "Gate</dt>" in card and "needs approval" in card
    assert card.count("disabled") == 2  # a viewer's approve and reject are disabled
    assert "may read these but not vote" in page
    api.client.cookies.clear()
    login(api, "approver")
    card = api.client.get("/ui/approvals").text
    card = card[card.index(f'id="req-{item["request_id"]}"') :]
    assert card[: card.index("</article>")].count("disabled") == 0


def test_text_from_people_is_escaped(api: Api) -> None:
    evil = '<script>alert("x")</script> & <img src=x onerror=alert(1)>'
    r = api.client.post("/api/v1/overrides/pins", headers=api.h("operator"),
                        json={"target": "machine:3", "justification": evil})  # fmt: skip
    assert r.status_code == 200, r.text
    login(api, "viewer")
    page = api.client.get("/ui/overrides").text
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &lt;img" in page
    assert "<script>alert" not in page and "<img src=x" not in page
    audit = api.client.get("/ui/audit?event=override").text
    assert "<script>alert" not in audit and "&lt;script&gt;" in audit


def test_incident_search_filters(api: Api) -> None:
    for _ in range(60):
        api.run(10)
        if api.service.incidents(None, None, None, None):
            break
    incidents = api.service.incidents(None, None, None, None)
    assert incidents, "the demo storm opened no incident"
    inc = incidents[0]
    login(api, "viewer")
    hit = api.client.get("/ui/incidents", params={"kind": inc["kind"], "target": inc["target"]})
    assert hit.status_code == 200 and f'id="inc-{inc["incident_id"]}"' in hit.text
    other = "intrusion" if inc["kind"] != "intrusion" else "cpu_hog"
    miss = api.client.get("/ui/incidents", params={"kind": other, "target": inc["target"]})
    assert f'id="inc-{inc["incident_id"]}"' not in miss.text
    bad = api.client.get("/ui/incidents", params={"target": "machine 3; drop"})
    assert bad.status_code == 422


def test_audit_page_filters_and_pages(api: Api) -> None:
    api.run(60)
    login(api, "viewer")
    page = api.client.get("/ui/audit", params={"event": "proposed"}).text
    rows = page.count('<tr class="ev-')
    assert rows == page.count('<tr class="ev-proposed"') and rows > 0
    first = api.client.get("/ui/audit").text
    seqs = [int(s) for s in re.findall(r'<td class="num">(\d+)</td><td>', first)]
    assert seqs == sorted(seqs, reverse=True) and len(seqs) <= 50
    if "older" in first:
        older = api.client.get("/ui/audit", params={"before": seqs[-1]}).text
        next_seqs = [int(s) for s in re.findall(r'<td class="num">(\d+)</td><td>', older)]
        assert next_seqs and max(next_seqs) < seqs[-1]
