"""Overrides: pause/stop agents, pin targets, revert executed actions; each justified in audit."""

from __future__ import annotations

from autoinfra.core.actions import ScaleService
from autoinfra.core.lifecycle import ActionStatus
from tests.api.conftest import Api


def _overrides_in_audit(api: Api) -> list[dict[str, object]]:
    return [dict(r.data) for r in api.service.runtime.audit.records if r.event == "override"]


def test_pause_and_resume_an_agent(api: Api) -> None:
    body = {"justification": "investigating a flapping service"}
    r = api.client.post("/api/v1/agents/scaling/pause", headers=api.h("operator"), json=body)
    assert r.status_code == 200
    api.run(20)
    agents = {
        a["agent_id"]: a for a in api.client.get("/api/v1/agents", headers=api.h("viewer")).json()
    }
    assert agents["scaling"]["state"] == "paused"
    assert agents["scaling"]["scope"]["action_kinds"] == ["scale_service"]
    ticks_before = [
        r for r in api.service.runtime.audit.records if r.event == "tick" and r.actor == "scaling"
    ]
    api.run(20)
    ticks_after = [
        r for r in api.service.runtime.audit.records if r.event == "tick" and r.actor == "scaling"
    ]
    assert len(ticks_after) == len(ticks_before)
    r = api.client.post("/api/v1/agents/scaling/resume", headers=api.h("operator"), json=body)
    assert r.status_code == 200
    r = api.client.post("/api/v1/agents/nobody/pause", headers=api.h("operator"), json=body)
    assert r.status_code == 404


def test_stop_agent_is_an_override_with_justification(api: Api) -> None:
    why = "energy agent powers off machines we need tonight"
    r = api.client.post(
        "/api/v1/overrides/stop-agent",
        headers=api.h("operator"),
        json={"agent_id": "energy", "justification": why},
    )
    assert r.status_code == 200
    assert any(
        o["kind"] == "stop_agent" and o["justification"] == why for o in _overrides_in_audit(api)
    )
    listed = api.client.get("/api/v1/overrides", headers=api.h("viewer")).json()
    assert listed[0]["kind"] == "stop_agent" and listed[0]["by"] == "operator-1"
    short = api.client.post(
        "/api/v1/overrides/stop-agent",
        headers=api.h("operator"),
        json={"agent_id": "energy", "justification": "no"},
    )
    assert short.status_code == 422


def test_pinned_target_refuses_proposals(api: Api) -> None:
    item = api.wait_pending()[0]
    target = ScaleService(service=0, delta_replicas=1).target
    pins = [f"service:{i}" for i in range(10)]
    for t in pins:
        r = api.client.post(
            "/api/v1/overrides/pins",
            headers=api.h("operator"),
            json={"target": t, "justification": "hold replicas steady"},
        )
        assert r.status_code == 200, r.text
    dup = api.client.post(
        "/api/v1/overrides/pins",
        headers=api.h("operator"),
        json={"target": target, "justification": "hold replicas steady"},
    )
    assert dup.status_code == 409
    seen = len(api.service.runtime.records)
    api.run(200)
    fresh = api.service.runtime.records[seen:]
    scaled = [r for r in fresh if r.action.kind == "scale_service"]
    assert scaled, "the scaler proposed nothing in 200 steps"
    assert all(r.status == ActionStatus.REJECTED and "pinned" in r.history[-1].why for r in scaled)
    assert item  # escalations before the pin stay pending for a person
    r = api.client.post(
        "/api/v1/overrides/unpin",
        headers=api.h("operator"),
        json={"target": target, "justification": "incident over"},
    )
    assert r.status_code == 200
    assert target not in [
        p["target"]
        for p in api.client.get("/api/v1/overrides/pins", headers=api.h("viewer")).json()
    ]


def test_revert_scales_back_a_succeeded_action(api: Api) -> None:
    item = next(i for i in api.wait_pending() if i["action"]["kind"] == "scale_service")
    assert api.vote("approver", item).status_code == 200
    rid = item["request_id"]
    for _ in range(10):
        api.run(1)
        if api.service.runtime.record(rid).status == ActionStatus.SUCCEEDED:
            break
    assert api.service.runtime.record(rid).status == ActionStatus.SUCCEEDED
    service = item["action"]["service"]
    replicas = int(api.service.sim.observe().service_replicas[service])
    # pin first, so the scaler cannot undo the revert (it would, seeing the same load)
    pin = api.client.post(
        "/api/v1/overrides/pins",
        headers=api.h("operator"),
        json={"target": f"service:{service}", "justification": "hold it"},
    )
    assert pin.status_code == 200
    r = api.client.post(
        "/api/v1/overrides/revert",
        headers=api.h("operator"),
        json={"request_id": rid, "justification": "scale-up was not needed"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["inverse"]["delta_replicas"] == -item["action"]["delta_replicas"]
    api.run(2)
    assert int(api.service.sim.observe().service_replicas[service]) == (
        replicas - item["action"]["delta_replicas"]
    )
    assert api.service.runtime.record(rid).status == ActionStatus.ROLLED_BACK
    twice = api.client.post(
        "/api/v1/overrides/revert",
        headers=api.h("operator"),
        json={"request_id": rid, "justification": "again, by mistake"},
    )
    assert twice.status_code == 409
    assert any(o["kind"] == "revert" for o in _overrides_in_audit(api))
