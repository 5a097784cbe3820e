"""The compliance report finds what it is for: actions outside scope, limit breaches, safe-mode
spans and unjustified overrides, from a crafted audit chain (and holds on a clean one)."""

from __future__ import annotations

from typing import Any

from autoinfra.api.dashboard.compliance import compliance_report


class FakeService:
    """Only the reads the report makes, over a list of audit entries."""

    def __init__(self, entries: list[dict[str, Any]], overrides: list[dict[str, Any]]) -> None:
        self.entries = [{"seq": i, "hash": f"h{i}", **e} for i, e in enumerate(entries)]
        self._overrides = overrides

    def audit(self, offset: int, limit: int) -> dict[str, Any]:
        return {"total": len(self.entries), "offset": offset,
                "entries": self.entries[offset: offset + limit]}  # fmt: skip

    def agents(self) -> list[dict[str, Any]]:
        return [{"agent_id": "energy", "scope": {"action_kinds": ["set_machine_power"],
                                                 "targets": ["machine:*"]}}]  # fmt: skip

    def overrides(self, limit: int) -> list[dict[str, Any]]:
        return self._overrides

    def verify_audit(self) -> dict[str, Any]:
        return {"valid": True, "first_invalid": None, "records": len(self.entries)}

    def status(self) -> dict[str, Any]:
        return {"machines": {"total": 40}, "services": 10}


def act(
    rid: str, at: float, kind: str = "set_machine_power", **target: int
) -> list[dict[str, Any]]:
    action = {"kind": kind, **(target or {"machine": 1}), "on": False}
    return [
        {"at_s": at, "actor": "energy", "event": "proposed",
         "data": {"request_id": rid, "action": action}},
        {"at_s": at, "actor": "executor", "event": "submitted", "data": {"request_id": rid}},
    ]  # fmt: skip


def check(report: dict[str, Any], name: str) -> dict[str, Any]:
    return next(c for c in report["checks"] if c["name"] == name)


def test_a_clean_chain_holds() -> None:
    entries = act("a", 0) + act("b", 700, machine=2)
    report = compliance_report(FakeService(entries, []))  # type: ignore[arg-type]
    assert check(report, "Within scope")["ok"] and check(report, "Within limits")["ok"]
    assert report["agents"][0]["executed"] == 2


def test_outside_scope_breach_and_safe_mode_are_found() -> None:
    entries = act("ok", 0) + act("bad", 5, kind="isolate_machine") + act("bad2", 6, service=3)
    # eleven actions on one target inside ten minutes: over the per-target limit of 10
    for i in range(11):
        entries += act(f"r{i}", 100 + i, machine=7)
    entries += [
        {"at_s": 50, "actor": "olga", "event": "agent_paused", "data": {"agent": "energy",
                                                                        "why": "checking"}},
        {"at_s": 90, "actor": "olga", "event": "agent_resumed", "data": {"agent": "energy"}},
        {"at_s": 95, "actor": "olga", "event": "agent_paused", "data": {"agent": "scaling"}},
    ]  # fmt: skip
    overrides = [{"kind": "pin", "justification": "maintenance window"},
                 {"kind": "revert", "justification": " "}]  # fmt: skip
    report = compliance_report(FakeService(entries, overrides))  # type: ignore[arg-type]
    assert report["agents"][0]["outside"] == 2
    assert not check(report, "Within scope")["ok"]
    limits = check(report, "Within limits")
    assert not limits["ok"] and "machine:7: 11 (limit 10)" in limits["detail"]
    assert [(s["agent"], s["from_s"], s["to_s"]) for s in report["safe_mode"]] == [
        ("energy", 50, 90),
        ("scaling", 95, None),
    ]
    assert not check(report, "Overrides justified")["ok"]


def test_only_the_newest_records_are_read_when_asked() -> None:
    entries = act("a", 0) + act("b", 1, machine=2)
    report = compliance_report(FakeService(entries, []), max_records=2)  # type: ignore[arg-type]
    assert report["truncated"] and report["records_checked"] == 2
