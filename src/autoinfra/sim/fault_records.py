"""One fault's record and the table of all of them: what a run's ``faults`` frame holds.

``FaultBook`` (``sim.incidents``) fills the records as faults strike, are found, fixed and heal;
this module only says what a record carries and how the records become the DataFrame the
experiments read (``experiments.metrics.fault_metrics``), one row per fault.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from autoinfra.core.cluster import FAULT_COLUMNS
from autoinfra.faults import FaultSpec
from autoinfra.sim.layout import I32

# every backend's fault columns, with what only the simulator can judge from its state (a fault
# that found nothing to harm, how it ended, an action that touched it undetected) before ``active``
_AT = FAULT_COLUMNS.index("active")
SIM_FAULT_COLUMNS: tuple[str, ...] = (
    *FAULT_COLUMNS[:_AT],
    "no_effect",
    "resolution",
    "incidental_s",
    "incidental_by",
    "incidental_op",
    *FAULT_COLUMNS[_AT:],
)

__all__ = ["FaultRecord", "records_frame"]

NAN = math.nan


@dataclass(slots=True)
class FaultRecord:
    """One fault's target, effect bookkeeping and timeline (times in simulated seconds)."""

    fault_id: int
    kind: str
    origin: str  # "scenario" or "trace"
    spec: FaultSpec | None
    target: str = ""
    index: int = -1  # machine slot or link index; -1 when no target was eligible
    rack: int = -1
    injected_s: float = NAN
    detected_s: float = NAN
    detected_by: str = ""
    mitigated_s: float = NAN
    mitigated_by: str = ""
    mitigated_op: str = ""
    recovered_s: float = NAN
    cleared_s: float = NAN  # when its cause left the world (killed, rerouted away, cleared)
    self_cleared: bool = False  # recovered without a credited mitigation (expired, incidental)
    no_effect: bool = False  # found nothing to harm when it struck; not in recovery figures
    resolution: str = "open"  # mitigated | expired | incidental | no_effect | open
    incidental_s: float = NAN  # first uncredited action that addressed it (undetected then)
    incidental_by: str = ""
    incidental_op: str = ""
    active: bool = False  # its cause is present in the world now
    cpu_added: float = 0.0
    egress_added: float = 0.0
    load_added: float = 0.0
    tasks: I32 = field(default_factory=lambda: np.zeros(0, np.int32))
    detail: str = ""

    @property
    def recovered(self) -> bool:
        return not math.isnan(self.recovered_s)


def records_frame(records: Sequence[FaultRecord]) -> pd.DataFrame:
    """One row per fault, in the order they were recorded, with the times from injection."""
    rows: list[dict[str, Any]] = []
    for r in records:
        rows.append(
            {
                "fault_id": r.fault_id,
                "kind": r.kind,
                "origin": r.origin,
                "target": r.target,
                "injected_s": r.injected_s,
                "detected_s": r.detected_s,
                "detected_by": r.detected_by,
                "mitigated_s": r.mitigated_s,
                "mitigated_by": r.mitigated_by,
                "mitigated_op": r.mitigated_op,
                "recovered_s": r.recovered_s,
                "cleared_s": r.cleared_s,
                "self_cleared": r.self_cleared,
                "no_effect": r.no_effect,
                "resolution": r.resolution,
                "incidental_s": r.incidental_s,
                "incidental_by": r.incidental_by,
                "incidental_op": r.incidental_op,
                "active": r.active,
                "detect_s": r.detected_s - r.injected_s,
                "mitigate_s": r.mitigated_s - r.injected_s,
                "recovery_s": r.recovered_s - r.injected_s,
                "tasks_affected": int(r.tasks.size),
                "detail": r.detail,
            }
        )
    return pd.DataFrame(rows, columns=SIM_FAULT_COLUMNS)
