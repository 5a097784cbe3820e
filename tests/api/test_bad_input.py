"""Bad input: the right 4xx with a one-line reason, and nothing changes."""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import quote

import pytest

from autoinfra.api.auth import Authorizer
from tests.api.conftest import Api


def _state(api: Api) -> tuple[int, int, int]:
    s = api.service
    return len(s.runtime.audit.records), len(s.store.decisions()), len(s.store.overrides(1000))


def _one_line(r: object) -> str:
    msg = r.json()["error"]  # type: ignore[attr-defined]
    assert isinstance(msg, str) and msg and "\n" not in msg
    return msg


@pytest.fixture
def item(api: Api) -> dict[str, object]:
    return api.wait_pending()[0]


def _url(item: dict[str, object]) -> str:
    return f"/api/v1/approvals/{quote(str(item['request_id']), safe='')}/approve"


def test_malformed_json(api: Api, item: dict[str, object]) -> None:
    before = _state(api)
    headers = {**api.h("approver"), "content-type": "application/json"}
    r = api.client.post(_url(item), headers=headers, content=b'{"digest": "ab", ')
    assert r.status_code == 400 and "malformed JSON" in _one_line(r)
    r = api.client.post(_url(item), headers=headers, content=b"[1, 2]")
    assert r.status_code == 400 and "JSON object" in _one_line(r)
    assert _state(api) == before


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"digest": "a" * 64, "reason": "fine reason", "approve": True}, "Extra inputs"),
        ({"digest": "a" * 64, "reason": 42}, "body.reason"),
        ({"digest": 7, "reason": "fine reason"}, "body.digest"),
        ({"digest": "not-hex", "reason": "fine reason"}, "body.digest"),
        ({"reason": "fine reason"}, "body.digest"),
        ({"digest": "a" * 64, "reason": ""}, "body.reason"),
    ],
)
def test_unknown_missing_and_wrong_typed_fields(
    api: Api, item: dict[str, object], body: dict[str, object], needle: str
) -> None:
    before = _state(api)
    r = api.client.post(_url(item), headers=api.h("approver"), json=body)
    assert r.status_code == 422
    assert needle in _one_line(r)
    assert _state(api) == before


def test_oversized_body(api: Api, item: dict[str, object]) -> None:
    before = _state(api)
    body = {"digest": item["digest"], "reason": "x" * 20_000}
    r = api.client.post(_url(item), headers=api.h("approver"), json=body)
    assert r.status_code == 413 and "exceeds" in _one_line(r)
    assert _state(api) == before


def test_forged_expired_revoked_tokens(api: Api, item: dict[str, object], tmp_path: Path) -> None:
    before = _state(api)
    good = api.tokens["approver"]
    forged = good[:-4] + ("AAAA" if not good.endswith("AAAA") else "BBBB")
    expired, _ = api.store.create("approver", name="late", ttl_days=0.00001)
    revoked, info = api.store.create("approver", name="gone")
    api.store.revoke(info.token_id)
    time.sleep(1.0)
    body = {"digest": item["digest"], "reason": "looks fine"}
    for token, needle in (
        (forged, "does not match"),
        (expired, "expired"),
        (revoked, "revoked"),
        ("ai_deadbeef_xyz", "unknown"),
        ("garbage", "malformed"),
    ):
        r = api.client.post(_url(item), headers={"Authorization": f"Bearer {token}"}, json=body)
        assert r.status_code == 401, token
        assert needle in _one_line(r)
    r = api.client.post(_url(item), headers={"Authorization": "Basic abc"}, json=body)
    assert r.status_code == 401
    assert _state(api) == before


def test_failed_logins_lock_the_client_out(api: Api) -> None:
    api.app.state.auth = Authorizer(api.store, api.service.store, max_failures=3, lockout_s=30)
    bad = {"Authorization": "Bearer ai_00000000_nope"}
    codes = [api.client.get("/api/v1/cluster/status", headers=bad).status_code for _ in range(3)]
    assert codes == [401, 401, 401]
    r = api.client.get("/api/v1/cluster/status", headers=api.h("viewer"))
    assert r.status_code == 429 and "locked" in _one_line(r)
    assert int(r.headers["retry-after"]) > 0
    r = api.client.post("/api/v1/session", json={"token": api.tokens["viewer"]})
    assert r.status_code == 429


def test_unknown_request_and_changed_state(api: Api, item: dict[str, object]) -> None:
    r = api.client.post(
        "/api/v1/approvals/nope/approve",
        headers=api.h("approver"),
        json={"digest": "a" * 64, "reason": "looks fine"},
    )
    assert r.status_code == 404 and "nope" in _one_line(r)
    r = api.client.get("/api/v1/incidents?target=bad target", headers=api.h("viewer"))
    assert r.status_code == 422
    r = api.client.get("/api/v1/cluster/metrics?limit=0", headers=api.h("viewer"))
    assert r.status_code == 422
