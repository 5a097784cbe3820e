"""Incidents with timelines from what the agents report, searchable; recommendations mined."""

from __future__ import annotations

from tests.api.conftest import Api


def test_storm_opens_incidents_with_timelines_and_recommendations(api: Api) -> None:
    api.run(300)  # 1500 simulated s: the demo storm starts at 300 s
    h = api.h("viewer")
    all_ = api.client.get("/api/v1/incidents", headers=h).json()
    assert all_, "no incident in 1500 s of a fault storm"
    kinds = {i["kind"] for i in all_}
    assert kinds & {"node_failure", "cpu_hog", "network_congestion", "intrusion"}
    assert all(i["timeline"][0]["event"] == "detected" for i in all_)
    one = all_[0]
    by_kind = api.client.get(f"/api/v1/incidents?kind={one['kind']}", headers=h).json()
    assert by_kind and {i["kind"] for i in by_kind} == {one["kind"]}
    by_target = api.client.get(f"/api/v1/incidents?target={one['target']}", headers=h).json()
    assert {i["target"] for i in by_target} == {one["target"]}
    late = api.client.get("/api/v1/incidents?since_s=999999", headers=h).json()
    assert late == []
    detail = api.client.get(f"/api/v1/incidents/{one['incident_id']}", headers=h).json()
    assert detail["incident_id"] == one["incident_id"]
    mitigated = [i for i in all_ if any(e["event"] == "mitigated" for e in i["timeline"])]
    assert mitigated, "agents mitigated nothing in the storm"
    recs = api.client.get("/api/v1/recommendations", headers=h).json()
    by = {r["incident_kind"]: r for r in recs}
    for inc in mitigated:
        rec = by[inc["kind"]]
        assert rec["incidents"] >= 1 and rec["fixes"]
        assert rec["recommended_action"] == rec["fixes"][0]["action_kind"]
        assert rec["fixes"][0]["median_time_to_mitigate_s"] >= 0
    assert api.client.get("/api/v1/incidents/none-1", headers=h).status_code == 404
