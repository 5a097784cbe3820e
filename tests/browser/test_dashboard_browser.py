"""The dashboard in a real browser against the real server: log in, approve, watch it execute.

One approver (alice) logs in with her token, finds a pending request whose justification and
what-if are on the page, approves it with a reason, and watches the action reach a final status
and its records appear in the audit chain, which she verifies. A viewer (victor) sees the same
request with the buttons disabled, and when he calls the API from the page anyway it is refused.
Every main page is screenshotted; any console error (a CSP violation included) fails the test.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import pytest

from tests.browser.conftest import Served

pytestmark = pytest.mark.browser

PAGES = [("overview", "/ui/"), ("approvals", "/ui/approvals"), ("incidents", "/ui/incidents"),
         ("agents", "/ui/agents"), ("overrides", "/ui/overrides"), ("audit", "/ui/audit"),
         ("compliance", "/ui/compliance")]  # fmt: skip


def watch_console(page: Any) -> list[str]:
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on(
        "response", lambda r: errors.append(f"HTTP {r.status} {r.url}") if r.status >= 400 else None
    )
    return errors


def log_in(page: Any, served: Served, who: str, shot: str | None = None) -> None:
    page.goto(served.base + "/ui/approvals")
    page.wait_for_url(re.compile(r"/static/login\.html"))  # no session: sent to log in
    page.fill("#token", served.tokens[who])
    if shot:
        page.screenshot(path=str(served.shots / shot), full_page=True)
    page.click("#login button")
    page.wait_for_url(re.compile(r"/ui/$"))
    assert page.locator("nav.side .who strong").inner_text() in ("alice", "victor", "olga")


def single_approver_card(page: Any, served: Served, timeout_s: float = 60) -> Any:
    """A pending request that one approval decides (low enough risk), waiting for one if needed."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        page.goto(served.base + "/ui/approvals")
        cards = page.locator('article.card[data-required="1"]')
        if cards.count():
            return cards.first
        time.sleep(1.0)
    raise AssertionError("no single-approver request became pending")


def test_approver_approves_and_sees_it_execute(served: Served, new_page: Callable[[], Any]) -> None:
    page = new_page()
    errors = watch_console(page)
    log_in(page, served, "approver", shot="login.png")

    page.wait_for_selector("#chart-util path.series")  # the live chart drew from the JSON API
    page.wait_for_timeout(3500)  # one more poll, so the screenshot shows a line, not a dot
    page.screenshot(path=str(served.shots / "overview.png"), full_page=True)
    assert page.locator('[data-live="cpu"]').inner_text().endswith("%")

    card = single_approver_card(page, served)
    rid = card.get_attribute("data-request")
    assert rid
    # the justification and the what-if are on the page before the decision
    assert card.locator("dd.reason").inner_text().strip()
    assert card.locator(".whatif table tbody tr").count() >= 3
    assert "with action" in card.locator(".whatif").inner_text().lower()
    page.screenshot(path=str(served.shots / "approvals.png"), full_page=True)

    card.locator("textarea[name=reason]").fill("what-if shows no capacity lost; fine by me")
    # the form reloads the page 700 ms after its flash: wait for that reload here, or a later
    # goto races it ("navigation interrupted by another navigation", seen once in CI)
    with page.expect_navigation(timeout=15_000):
        card.locator("button.approve").click()
        assert page.locator("#flash.ok").inner_text() == "approved"

    # the action executes (once): its record reaches a final status through the runtime
    deadline = time.monotonic() + 60
    status = ""
    while time.monotonic() < deadline:
        status = served.get(f"/api/v1/proposals/{quote(rid, safe='')}").get("status", "")
        if status in ("succeeded", "failed"):
            break
        time.sleep(0.5)
    assert status == "succeeded", status

    # ...and its steps appear in the audit chain, which verifies
    page.goto(served.base + "/ui/audit?event=vote")
    vote_row = page.locator("#audit-table tbody tr", has_text=rid)
    assert vote_row.count() == 1 and "alice" in vote_row.inner_text()
    page.goto(served.base + "/ui/audit?event=submitted")
    assert page.locator("#audit-table tbody tr", has_text=rid).count() == 1
    page.goto(served.base + "/ui/audit?event=outcome")
    assert page.locator("#audit-table tbody tr", has_text=rid).count() == 1
    page.goto(served.base + "/ui/audit")
    page.click("#verify")
    page.wait_for_selector("#verify-result.ok")
    assert "chain holds" in page.locator("#verify-result").inner_text()
    assert errors == [], errors


def test_viewer_cannot_approve(served: Served, new_page: Callable[[], Any]) -> None:
    page = new_page()
    errors = watch_console(page)
    log_in(page, served, "viewer")
    card = single_approver_card(page, served)
    rid = card.get_attribute("data-request")
    assert card.locator("button.approve").is_disabled()
    assert "may read these but not vote" in page.locator("main .lede").first.inner_text()
    # pressing it anyway (here: the page's own API client, with the session's CSRF token)
    digest = card.locator("input[name=digest]").get_attribute("value")
    outcome = page.evaluate(
        """async ([rid, digest]) => {
            try {
              await window.Autoinfra.api(`/approvals/${encodeURIComponent(rid)}/approve`,
                                         {json: {digest, reason: "a viewer tries anyway"}});
              return "accepted";
            } catch (e) { return e.message; }
        }""",
        [rid, digest],
    )
    assert outcome.startswith("403") and "needs approver" in outcome, outcome
    detail = served.get(f"/api/v1/proposals/{quote(rid or '', safe='')}")
    assert detail.get("votes", []) == [] and detail.get("status") == "awaiting_approval"
    # without the CSRF header even a logged-in approver's session would be refused; a viewer's too
    raw = page.evaluate(
        """async (rid) => (await fetch(`/api/v1/approvals/${encodeURIComponent(rid)}/approve`,
             {method: "POST", headers: {"Content-Type": "application/json"},
              body: JSON.stringify({digest: "0".repeat(64), reason: "no csrf header"})})).status""",
        rid,
    )
    assert raw == 403
    # the two refusals above are logged by the browser as failed loads; nothing else may be
    errors[:] = [e for e in errors if "403" not in e]
    assert errors == [], errors


def test_screenshots_of_every_page(served: Served, new_page: Callable[[], Any]) -> None:
    page = new_page()
    errors = watch_console(page)
    log_in(page, served, "operator")
    for name, path in PAGES:
        page.goto(served.base + path)
        page.wait_for_load_state("networkidle")
        if name == "overview":
            page.wait_for_selector("#chart-power path.series")
            page.wait_for_timeout(3500)
        page.screenshot(path=str(served.shots / f"{name}-operator.png"), full_page=True)
        assert page.locator("main h1").inner_text()

    # the same pages on a phone-sized screen: the side bar folds above the content
    page.set_viewport_size({"width": 390, "height": 844})
    for name, path in PAGES[:2]:
        page.goto(served.base + path)
        page.wait_for_load_state("networkidle")
        page.screenshot(path=str(served.shots / f"{name}-phone.png"), full_page=True)
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{name} scrolls sideways by {overflow} px on a phone"
    page.set_viewport_size({"width": 1366, "height": 900})

    # an override from the page: pin a machine with a justification, see it listed and audited
    page.goto(served.base + "/ui/overrides")
    page.fill("#pin-target", "machine:5")
    page.fill("#pin-why", "hardware check scheduled at 14:00")
    page.locator("form[data-api='/overrides/pins'] button").click()
    page.wait_for_selector("#flash:not([hidden])")
    assert page.locator("#flash").inner_text() == "pinned"
    page.wait_for_load_state("load")
    page.wait_for_selector("td code:text('machine:5')")
    pins = served.get("/api/v1/overrides/pins")
    assert [(p["target"], p["by"]) for p in pins] == [("machine:5", "olga")]
    page.goto(served.base + "/ui/audit?event=override")
    assert "hardware check scheduled" in page.locator("#audit-table").inner_text()
    assert errors == [], errors
