"""The ground truth of faults for backends that are not the simulator: one timeline per fault.

A live backend injects faults and must say, independently of the agents, when each was detected
(a finding on its target while it was active), mitigated (an operation that fixes that kind of
fault hit its target) and recovered (the backend judged the world healthy again). The simulator
keeps this in its own fault book; ``FaultLedger`` is the same bookkeeping for the fake cluster,
the local fleet and Kubernetes, and writes rows with ``core.cluster.FAULT_COLUMNS`` so the
experiment's metrics read them unchanged.

Which operation mitigates which kind follows the simulator (``sim.incidents``): a reroute
mitigates congestion of the link it moves traffic away from, and only an operation on a fault
the system had detected (a finding of its kind on its target) earns the credit: one that happens
to touch an undetected fault is not a mitigation. A fault that recovers without a credited
mitigation is ``self_cleared``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from autoinfra.core.cluster import FAULT_COLUMNS

__all__ = ["MITIGATIONS", "FaultLedger", "LedgerEntry"]

NAN = math.nan
DETECTION_GRACE_S = 60.0  # a finding this soon after recovery is late, not a false alarm

MITIGATIONS: dict[str, frozenset[str]] = {
    "node_failure": frozenset({"evict_stranded", "drain", "isolate"}),
    "cpu_hog": frozenset({"drain", "isolate", "kill_rogue"}),
    "intrusion": frozenset({"isolate", "kill_rogue"}),
    "network_congestion": frozenset({"reroute"}),
}


@dataclass(slots=True)
class LedgerEntry:
    fault_id: int
    kind: str
    target: str  # "machine:<slot>" or "link:<idx>"
    injected_s: float
    origin: str = "scenario"
    detected_s: float = NAN
    detected_by: str = ""
    mitigated_s: float = NAN
    mitigated_by: str = ""
    mitigated_op: str = ""
    recovered_s: float = NAN
    cleared_s: float = NAN
    self_cleared: bool = False
    detail: str = ""

    @property
    def recovered(self) -> bool:
        return not math.isnan(self.recovered_s)

    def row(self) -> dict[str, Any]:
        out = {
            "fault_id": self.fault_id,
            "kind": self.kind,
            "origin": self.origin,
            "target": self.target,
            "injected_s": self.injected_s,
            "detected_s": self.detected_s,
            "detected_by": self.detected_by,
            "mitigated_s": self.mitigated_s,
            "mitigated_by": self.mitigated_by,
            "mitigated_op": self.mitigated_op,
            "recovered_s": self.recovered_s,
            "cleared_s": self.cleared_s,
            "self_cleared": self.self_cleared,
            "active": not self.recovered,
            "detect_s": self.detected_s - self.injected_s,
            "mitigate_s": self.mitigated_s - self.injected_s,
            "recovery_s": self.recovered_s - self.injected_s,
            "tasks_affected": 0,
            "detail": self.detail,
        }
        assert tuple(out) == FAULT_COLUMNS
        return out


class FaultLedger:
    """Timelines of injected faults; detection and mitigation matched by target."""

    def __init__(self) -> None:
        self.entries: list[LedgerEntry] = []
        self.false_alarms = 0

    def open(self, kind: str, target: str, now_s: float, detail: str = "") -> LedgerEntry:
        entry = LedgerEntry(len(self.entries), str(kind), target, float(now_s), detail=detail)
        self.entries.append(entry)
        return entry

    def active(self) -> list[LedgerEntry]:
        return [e for e in self.entries if not e.recovered]

    def detect(self, target: str, by: str, kind: str | None, now_s: float) -> bool:
        """A finding on ``target``: True (and the first sets ``detected_s``) if it names a fault
        that is active or recovered within the grace period; otherwise a false alarm."""
        hit = False
        for e in self.entries:
            live = not e.recovered or now_s - e.recovered_s <= DETECTION_GRACE_S
            if e.target == target and live and now_s >= e.injected_s:
                hit = True
                if math.isnan(e.detected_s) and (kind is None or kind == e.kind):
                    e.detected_s, e.detected_by = float(now_s), by
        if not hit:
            self.false_alarms += 1
        return hit

    def mitigate(self, op: str, target: str, by: str, now_s: float) -> None:
        """An operation ``op`` hit ``target``; mark the active, detected faults it fixes as
        mitigated."""
        for e in self.active():
            fixes = op in MITIGATIONS.get(e.kind, frozenset())
            aimed = fixes and not math.isnan(e.detected_s)
            if e.target == target and aimed and math.isnan(e.mitigated_s):
                e.mitigated_s, e.mitigated_by, e.mitigated_op = float(now_s), by, op

    def recover(self, entry: LedgerEntry, now_s: float) -> None:
        if not entry.recovered:
            entry.recovered_s = float(now_s)
            # nobody fixed it: it expired, or the world healed without a credited action
            entry.self_cleared = math.isnan(entry.mitigated_s)
            if math.isnan(entry.cleared_s):
                entry.cleared_s = float(now_s)

    def rows(self) -> list[dict[str, Any]]:
        return [e.row() for e in self.entries]
