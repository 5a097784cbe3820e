"""The state the simulated service's parts share, and the two steps every part needs.

``SimClusterService`` is assembled from its approvals part and its overrides part; both read the
same lock, simulator, runtime, stores and settings, and both audit and deliver decisions the same
way. Those are declared (and the two steps implemented) here once, so neither part restates its
host's attributes and neither carries a placeholder for a method the host would supply.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from autoinfra.agents.runtime import Runtime
from autoinfra.api.incidents import IncidentTracker
from autoinfra.api.oversight import Oversight
from autoinfra.api.preference import VerdictPreferences
from autoinfra.api.state import StateStore

__all__ = ["JSON", "ServiceSettings", "ServiceState"]

JSON = dict[str, Any]


@dataclass(frozen=True, slots=True)
class ServiceSettings:
    """The simulated service's knobs, read by every part of it."""

    speed: float = 20.0  # simulated seconds per wall second
    approval_ttl_s: float = 900.0  # wall seconds a person has to answer
    high_risk: float = 0.85  # at or above: needs ``approvers_required`` distinct approvers
    approvers_required: int = 2
    what_if_horizon_s: float = 300.0
    metrics_keep: int = 2000


class ServiceState:
    """Set by ``SimClusterService.__init__``; the parts only read them."""

    lock: threading.RLock
    sim: Any
    runtime: Runtime
    store: StateStore
    oversight: Oversight
    prefs: VerdictPreferences
    settings: ServiceSettings
    tracker: IncidentTracker
    wall: Callable[[], float]

    def _audit(self, event: str, actor: str, data: JSON) -> None:
        with self.lock:
            self.oversight.record(event, actor=actor, at_s=float(self.sim.now_s), data=data)

    def _deliver(self, decided: JSON, now: float) -> None:
        """Hand a decision from the state store to the gate's queue, once."""
        self.oversight.answer(
            decided["request_id"],
            approved=decided["approved"],
            by=decided["by"],
            why=decided["why"],
            at_s=now,
        )
        self.store.mark_delivered(decided["request_id"])
