"""Incidents as monitoring sees them, each with its timeline, and what history recommends.

An incident opens when an agent first reports an incident finding (``node_failure``, ``cpu_hog``,
``network_congestion``, ``intrusion``) on a target, and is *recovered* once no agent has reported it
for ``recovery_grace_s`` (what monitoring can say without the simulator's truth, so a live
backend is judged the same way). Between the two, proposals citing the incident's finding add
``escalated`` / ``approved`` / ``rejected`` / ``mitigated`` (the action succeeded) entries. Every
change is saved to the state store, so the history outlives the server.

Recommendations are mined from that history: for each kind of incident, which action kinds
mitigated it, how often, how fast (median detection-to-mitigation), and how often an operator
rejected or reverted what the agents proposed for it.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from statistics import median
from typing import Any

from autoinfra.api.state import StateStore
from autoinfra.core.incidents import INCIDENT_KINDS
from autoinfra.core.proposal import Finding, Proposal

__all__ = ["IncidentTracker", "recommend"]


@dataclass
class _Open:
    record: dict[str, Any]
    last_seen_s: float
    requests: set[str] = field(default_factory=set)


class IncidentTracker:
    def __init__(self, store: StateStore, run_id: str, *, recovery_grace_s: float = 60.0) -> None:
        self.store = store
        self.run_id = run_id
        self.grace_s = recovery_grace_s
        self._open: dict[tuple[str, str], _Open] = {}
        self._by_request: dict[str, tuple[str, str]] = {}
        self._n = 0

    def observe(self, findings: list[tuple[str, Finding]], now_s: float) -> None:
        """Findings reported this tick (agent id, finding); then recoveries."""
        for agent_id, f in findings:
            self._see(agent_id, f, now_s)
        for key, inc in list(self._open.items()):
            if now_s - inc.last_seen_s >= self.grace_s:
                inc.record["closed_s"] = now_s
                inc.record["timeline"].append(
                    _entry("recovered", now_s, "monitoring", f"not reported for {self.grace_s:g} s")
                )
                self.store.save_incident(inc.record)
                del self._open[key]
                for rid in inc.requests:
                    self._by_request.pop(rid, None)

    def _see(self, agent_id: str, f: Finding, now_s: float) -> None:
        if f.kind not in INCIDENT_KINDS:
            return
        key = (f.kind, f.target)
        inc = self._open.get(key)
        if inc is not None:
            inc.last_seen_s = now_s
            return
        self._n += 1
        rec = {
            "incident_id": f"{self.run_id}-{self._n}",
            "run_id": self.run_id,
            "kind": f.kind,
            "target": f.target,
            "opened_s": now_s,
            "closed_s": None,
            "severity": round(f.severity, 3),
            "timeline": [_entry("detected", now_s, agent_id, f"{f.kind} on {f.target}")],
            "actions": [],
        }
        self._open[key] = _Open(rec, now_s)
        self.store.save_incident(rec)

    def link(self, proposal: Proposal) -> bool:
        """Attach a proposal to the open incident whose finding it cites (or whose target it is).

        A proposal is reviewed in the same tick its finding is made, before ``observe`` sees the
        tick's findings, so the findings it cites open their incident here if need be.
        """
        for f in proposal.findings:
            self._see(proposal.agent, f, f.at_s)
        keys = [(f.kind, f.target) for f in proposal.findings]
        keys.append(
            next(((k, t) for (k, t) in self._open if t == proposal.action.target), ("", ""))
        )
        for key in keys:
            inc = self._open.get(key)
            if inc is not None:
                inc.requests.add(proposal.request_id)
                self._by_request[proposal.request_id] = key
                inc.record["actions"].append(
                    {
                        "request_id": proposal.request_id,
                        "kind": proposal.action.kind,
                        "agent": proposal.agent,
                        "status": "proposed",
                    }
                )
                self.store.save_incident(inc.record)
                return True
        return False

    def watched(self) -> list[str]:
        return list(self._by_request)

    def step(self, request_id: str, event: str, at_s: float, by: str, why: str) -> None:
        """A linked proposal moved: escalated, approved, rejected, mitigated, failed, reverted."""
        key = self._by_request.get(request_id)
        inc = self._open.get(key) if key is not None else None
        if inc is None:
            return
        inc.record["timeline"].append(_entry(event, at_s, by, why, request_id))
        for a in inc.record["actions"]:
            if a["request_id"] == request_id:
                a["status"] = event
        if event == "mitigated" and "mitigated_s" not in inc.record:
            inc.record["mitigated_s"] = at_s
            inc.record["mitigated_by_kind"] = next(
                a["kind"] for a in inc.record["actions"] if a["request_id"] == request_id
            )
        if event in ("mitigated", "rejected", "failed", "reverted"):
            self._by_request.pop(request_id, None)
        self.store.save_incident(inc.record)


def _entry(
    event: str, at_s: float, by: str, detail: str, request_id: str | None = None
) -> dict[str, Any]:
    out: dict[str, Any] = {"event": event, "at_s": at_s, "by": by, "detail": detail}
    if request_id is not None:
        out["request_id"] = request_id
    return out


def recommend(incidents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per incident kind: what fixed it, how fast, how often operators overrode the agents."""
    by_kind: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for inc in incidents:
        by_kind[inc["kind"]].append(inc)
    out = []
    for kind, items in sorted(by_kind.items()):
        fixes: dict[str, list[float]] = defaultdict(list)
        overridden = proposed = 0
        for inc in items:
            for a in inc.get("actions", []):
                proposed += 1
                overridden += a["status"] in ("rejected", "reverted")
            if "mitigated_s" in inc:
                fixes[inc["mitigated_by_kind"]].append(inc["mitigated_s"] - inc["opened_s"])
        ranked = sorted(fixes.items(), key=lambda kv: (-len(kv[1]), median(kv[1])))
        out.append(
            {
                "incident_kind": kind,
                "incidents": len(items),
                "recovered": sum(1 for i in items if i.get("closed_s") is not None),
                "fixes": [
                    {"action_kind": k, "times": len(v), "median_time_to_mitigate_s": median(v)}
                    for k, v in ranked
                ],
                "recommended_action": ranked[0][0] if ranked else None,
                "operator_override_share": round(overridden / proposed, 3) if proposed else 0.0,
            }
        )
    return out
