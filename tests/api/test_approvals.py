"""Approvals: executed once, bound to a digest, N of M distinct people, no self-approval, TTL."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from autoinfra.api.simservice import ServiceSettings
from autoinfra.core.lifecycle import ActionStatus
from tests.api.conftest import Api, make_api


def _submitted(api: Api, rid: str) -> int:
    return sum(
        1
        for r in api.service.runtime.audit.records
        if r.event == "submitted" and r.data.get("request_id") == rid
    )


def test_approve_executes_once_and_lands_in_the_verified_chain(api: Api) -> None:
    item = api.wait_pending()[0]
    rid = item["request_id"]
    detail = api.client.get(f"/api/v1/proposals/{quote(rid, safe='')}", headers=api.h("viewer"))
    assert detail.status_code == 200
    body = detail.json()
    assert body["digest"] == item["digest"]
    assert {"observation", "policy_reason", "gate", "findings"} <= set(body["justification"])
    assert set(body["what_if"]["delta"]) >= {"usable_cpu", "pending_tasks", "slo_violating_share"}
    r = api.vote("approver", item)
    assert r.status_code == 200, r.text
    assert r.json()["decided"] and r.json()["approved"]
    api.run(5)
    assert api.service.runtime.record(rid).status in (
        ActionStatus.SUCCEEDED,
        ActionStatus.FAILED,
        ActionStatus.SUBMITTED,
    )
    assert _submitted(api, rid) == 1
    assert [e["request_id"] for e in api.service.store.executions()].count(rid) == 1
    again = api.vote("approver2", item)
    assert again.status_code == 410
    events = [
        e["event"]
        for e in api.client.get(
            "/api/v1/audit?offset=0&limit=1000", headers=api.h("viewer")
        ).json()["entries"]
    ]
    assert "vote" in events and "submitted" in events
    assert api.client.get("/api/v1/audit/verify", headers=api.h("viewer")).json()["valid"]


def test_changed_action_gives_409_and_changes_nothing(api: Api) -> None:
    item = api.wait_pending()[0]
    before = len(api.service.runtime.audit.records)
    r = api.vote("approver", item, digest="0" * 64)
    assert r.status_code == 409
    assert "digest" in r.json()["error"]
    assert api.service.store.votes(item["request_id"]) == []
    assert len(api.service.runtime.audit.records) == before
    assert any(p["request_id"] == item["request_id"] for p in api.pending())


def test_no_self_approval_and_no_double_vote(tmp_path: Path) -> None:
    api = make_api(tmp_path, ServiceSettings(high_risk=0.0, approvers_required=2))
    item = api.wait_pending()[0]
    assert item["approvers_required"] == 2
    agent_token, _ = api.store.create("approver", name=item["agent"])
    api.tokens["agent"] = agent_token
    r = api.vote("agent", item)
    assert r.status_code == 403 and "proposed" in r.json()["error"]
    first = api.vote("approver", item)
    assert first.status_code == 200 and not first.json()["decided"]
    twice = api.vote("approver", item)
    assert twice.status_code == 403 and "already voted" in twice.json()["error"]
    assert api.service.runtime.record(item["request_id"]).status == ActionStatus.AWAITING_APPROVAL
    second = api.vote("approver2", item)
    assert second.status_code == 200 and second.json()["decided"]
    api.run(1)
    assert api.service.runtime.record(item["request_id"]).status != ActionStatus.AWAITING_APPROVAL
    assert api.service.store.decision(item["request_id"])["by"] == "approver-1,approver-2"


def test_reject_decides_at_once_and_is_a_negative_reward(api: Api) -> None:
    item = api.wait_pending()[0]
    r = api.vote("approver", item, verb="reject", reason="not during the incident")
    assert r.status_code == 200 and r.json()["decided"] and r.json()["approved"] is False
    api.run(1)
    assert api.service.runtime.record(item["request_id"]).status == ActionStatus.REJECTED
    api.service.prefs.update()
    kind = item["action"]["kind"]
    assert any(row["kind"] == kind and row["q"] < 0 for row in api.service.prefs.table())


def test_expired_request_is_denied_and_cannot_be_approved(tmp_path: Path) -> None:
    clock = [1000.0]
    api = make_api(tmp_path, ServiceSettings(approval_ttl_s=60.0))
    api.service.wall = lambda: clock[0]
    item = api.wait_pending()[0]
    clock[0] += 61.0
    r = api.vote("approver", item)
    assert r.status_code == 410 and "expired" in r.json()["error"]
    assert api.service.store.votes(item["request_id"]) == []
    api.run(1)
    rec = api.service.runtime.record(item["request_id"])
    assert rec.status == ActionStatus.REJECTED and rec.history[-1].by == "ttl"


def test_tampering_with_the_stored_chain_is_detected(api: Api) -> None:
    item = api.wait_pending()[0]
    assert api.vote("approver", item).status_code == 200
    api.run(3)
    h = api.h("viewer")
    assert api.client.get("/api/v1/audit/verify", headers=h).json()["valid"] is True
    path = api.service.runtime.audit.path
    assert path is not None
    lines = path.read_text().splitlines()
    k = next(i for i, line in enumerate(lines) if '"event":"vote"' in line)
    lines[k] = lines[k].replace("checked the what-if", "checked nothing")
    path.write_text("\n".join(lines) + "\n")
    verdict = api.client.get("/api/v1/audit/verify", headers=h).json()
    assert verdict["valid"] is False and verdict["first_invalid"] == k
