"""Slack's button callbacks through the real app: signed, fresh, mapped to an approver, or refused.

Each refusal is checked to change nothing: no vote in the state store, the request still pending.
"""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import urlencode

import pytest

from autoinfra.oversight.notify import NotifySettings, slack_signature
from tests.api.conftest import Api

SECRET = "slack-signing-secret-for-tests"
PATH = "/api/v1/slack/interactions"


@pytest.fixture
def slack_api(api: Api) -> Api:
    api.app.state.notify_settings = NotifySettings(
        slack_signing_secret=SECRET,
        slack_users={"UAPPROVER": "approver-1", "UVIEWER": "viewer-1", "UAGENT": "scaling"},
    )
    return api


def body_for(item: dict[str, Any], *, user: str = "UAPPROVER", verb: str = "approve",
             digest: str | None = None) -> bytes:  # fmt: skip
    payload = {
        "type": "block_actions",
        "user": {"id": user, "username": user.lower()},
        "actions": [{"action_id": f"autoinfra_{verb}", "block_id": "autoinfra_approval",
                     "value": f"{item['request_id']}|{digest or item['digest']}"}],
        "response_url": "https://hooks.slack.com/actions/T0/1/abc",
    }  # fmt: skip
    return urlencode({"payload": json.dumps(payload)}).encode()


def post(api: Api, body: bytes, *, ts: int | None = None, sig: str | None = None,
         **headers: str) -> Any:  # fmt: skip
    ts = int(time.time()) if ts is None else ts
    h = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": str(ts),
        "X-Slack-Signature": sig if sig is not None else slack_signature(SECRET, body, ts),
        **headers,
    }
    return api.client.post(PATH, content=body, headers=h)


def events(api: Api, name: str) -> list[dict[str, Any]]:
    total = api.client.get("/api/v1/audit?limit=1", headers=api.h("viewer")).json()["total"]
    out = api.client.get(f"/api/v1/audit?offset={max(0, total - 1000)}&limit=1000",
                         headers=api.h("viewer")).json()["entries"]  # fmt: skip
    return [e for e in out if e["event"] == name]


def test_signed_approve_votes_as_the_mapped_approver(slack_api: Api) -> None:
    item = slack_api.wait_pending()[0]
    r = post(slack_api, body_for(item))
    assert r.status_code == 200, r.text
    assert r.json()["recorded"] is True
    votes = slack_api.service.store.votes(item["request_id"])
    assert votes == [("approver-1", True, "via Slack by @uapprover (UAPPROVER)")]
    (rec,) = [
        e for e in events(slack_api, "slack_vote") if e["data"]["request_id"] == item["request_id"]
    ]
    assert rec["actor"] == "approver-1" and rec["data"]["slack_user"] == "UAPPROVER"
    # the same press again (a replay inside the window) is a second vote, refused
    again = post(slack_api, body_for(item))
    assert again.status_code in (403, 410), again.text
    assert len(slack_api.service.store.votes(item["request_id"])) == 1


def test_reject_button_rejects(slack_api: Api) -> None:
    item = slack_api.wait_pending()[0]
    r = post(slack_api, body_for(item, verb="reject"))
    assert r.status_code == 200 and r.json()["decided"] is True and r.json()["approved"] is False


@pytest.mark.parametrize("case", ["old", "future", "tampered", "wrong-secret", "no-signature"])
def test_bad_signatures_are_refused_and_change_nothing(slack_api: Api, case: str) -> None:
    item = slack_api.wait_pending()[0]
    body = body_for(item)
    now = int(time.time())
    if case == "old":
        r = post(slack_api, body, ts=now - 301)  # correctly signed, six seconds too late
    elif case == "future":
        r = post(slack_api, body, ts=now + 400)
    elif case == "tampered":
        sig = slack_signature(SECRET, body, now)
        r = post(slack_api, body_for(item, verb="reject"), ts=now, sig=sig)
    elif case == "wrong-secret":
        r = post(slack_api, body, sig=slack_signature("not-the-secret", body, now), ts=now)
    else:
        r = post(slack_api, body, sig="")
    assert r.status_code == 401, r.text
    assert r.json()["error"].startswith("Slack signature refused")
    assert slack_api.service.store.votes(item["request_id"]) == []
    assert item["request_id"] in {p["request_id"] for p in slack_api.pending()}
    assert events(slack_api, "slack_refused") == []  # unsigned noise stays out of the chain


def test_a_bearer_token_does_not_replace_the_signature(slack_api: Api) -> None:
    item = slack_api.wait_pending()[0]
    r = slack_api.client.post(PATH, content=body_for(item), headers={
        **slack_api.h("admin"), "Content-Type": "application/x-www-form-urlencoded"})  # fmt: skip
    assert r.status_code == 401
    assert slack_api.service.store.votes(item["request_id"]) == []


@pytest.mark.parametrize(("user", "why"), [
    ("UNOBODY", "not mapped"), ("UVIEWER", "no active approver token")])  # fmt: skip
def test_slack_users_without_an_approver_token_are_refused(slack_api: Api, user: str,
                                                           why: str) -> None:  # fmt: skip
    item = slack_api.wait_pending()[0]
    r = post(slack_api, body_for(item, user=user))
    assert r.status_code == 403 and why in r.json()["error"]
    assert slack_api.service.store.votes(item["request_id"]) == []
    (rec,) = events(slack_api, "slack_refused")
    assert rec["data"]["slack_user"] == user


def test_stale_digest_is_a_conflict(slack_api: Api) -> None:
    item = slack_api.wait_pending()[0]
    r = post(slack_api, body_for(item, digest="0" * 64))
    assert r.status_code == 409, r.text
    assert slack_api.service.store.votes(item["request_id"]) == []


def test_malformed_but_signed_payload_is_400(slack_api: Api) -> None:
    r = post(slack_api, b"payload=%7Bnot-json")
    assert r.status_code == 400 and "payload" in r.json()["error"]


def test_unconfigured_slack_refuses_everything(api: Api) -> None:
    api.app.state.notify_settings = NotifySettings()
    item = api.wait_pending()[0]
    r = post(api, body_for(item))
    assert r.status_code == 401 and "not configured" in r.json()["error"]
