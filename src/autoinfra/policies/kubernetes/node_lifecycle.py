"""The node lifecycle controller and the liveness rule, with their documented defaults.

Sources: kube-controller-manager reference (``--node-monitor-period`` 5 s,
``--node-monitor-grace-period`` 40 s, 50 s from v1.32 per Kubernetes PR 126287) and the default
300 s ``tolerationSeconds`` of the not-ready/unreachable NoExecute taints: pods of a dead node start
moving about 5 min 40 s after it stops. Liveness probes (kubernetes.io,
configure-liveness-readiness-startup-probes): period 10 s x failure threshold 3, so a hung container
is restarted in place about 30 s after it hangs.

What liveness can fix here: nothing among this world's faults. A dead node's kubelet is dead too;
a restart in place leaves a CPU hog, a congested uplink or an intruder where they were. So the rule
is stated (``liveness_restart_delay_s``) but issues no action.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from autoinfra.core.actions import EvictTasks
from autoinfra.core.documents import UNKNOWN_KEYS_REFUSED
from autoinfra.core.incidents import IncidentKind
from autoinfra.core.observation import MachineState, Observation
from autoinfra.core.proposal import Finding, Justification, Proposal

# plain ints: comparing arrays with enum members goes through Enum's slow attribute path
_DRAINING = int(MachineState.DRAINING)
_ON = int(MachineState.ON)


@dataclass(frozen=True, slots=True)
class NodeLifecycleSettings:
    """kube-controller-manager defaults (reference page; PR 126287 for the grace period)."""

    __pydantic_config__ = UNKNOWN_KEYS_REFUSED  # a misspelt key in params is an error

    monitor_period_s: float = 5.0  # --node-monitor-period
    grace_period_s: float = 40.0  # --node-monitor-grace-period (50 s from v1.32)
    eviction_toleration_s: float = 300.0  # default tolerationSeconds for not-ready/unreachable


def node_not_ready(
    heartbeat_age_s: npt.NDArray[np.float32], grace_period_s: float
) -> npt.NDArray[np.bool_]:
    """Nodes whose last heartbeat is older than the grace period are marked NotReady."""
    return np.asarray(heartbeat_age_s > grace_period_s)


def eviction_due(not_ready_since_s: float, now_s: float, toleration_s: float) -> bool:
    """Pods of a NotReady node are evicted once the taint has lasted ``toleration_s``."""
    return now_s - not_ready_since_s >= toleration_s


def liveness_restart_delay_s(period_s: float = 10.0, failure_threshold: int = 3) -> float:
    """How long after a container hangs the kubelet restarts it: period x threshold (30 s)."""
    return period_s * failure_threshold


class NodeLifecycleController:
    """Marks nodes NotReady from heartbeats (a finding); evicts their pods after the toleration."""

    def __init__(
        self, settings: NodeLifecycleSettings, *, agent_id: str, priority: int = 90
    ) -> None:
        self.settings = settings
        self.agent_id = agent_id
        self.priority = priority
        self._last_s = -math.inf
        self._not_ready_since: dict[int, float] = {}
        self._evicted: set[int] = set()

    def analyze(self, observation: Observation) -> list[Finding]:
        now = observation.time_s
        if now - self._last_s < self.settings.monitor_period_s - 1e-9:
            return []
        self._last_s = now
        state = observation.machine_state
        watched = (state == _ON) | (state == _DRAINING)
        down = watched & node_not_ready(observation.heartbeat_age_s, self.settings.grace_period_s)
        findings: list[Finding] = []
        for m in list(self._not_ready_since):
            if not down[m]:  # heartbeats are back (or the node is gone): Ready again
                del self._not_ready_since[m]
                self._evicted.discard(m)
        for m in np.flatnonzero(down).tolist():
            if m not in self._not_ready_since:
                self._not_ready_since[m] = now
                findings.append(
                    Finding(
                        kind=IncidentKind.NODE_FAILURE,
                        target=f"machine:{m}",
                        severity=1.0,
                        at_s=now,
                        detail={"heartbeat_age_s": float(observation.heartbeat_age_s[m])},
                    )
                )
        return findings

    def decide(self, observation: Observation, findings: Sequence[Finding]) -> list[Proposal]:
        now = observation.time_s
        out: list[Proposal] = []
        for m, since in sorted(self._not_ready_since.items()):
            if m in self._evicted or not eviction_due(
                since, now, self.settings.eviction_toleration_s
            ):
                continue
            self._evicted.add(m)
            out.append(
                Proposal(
                    action=EvictTasks(machine=m),
                    agent=self.agent_id,
                    priority=self.priority,
                    justification=Justification(
                        reason=(
                            f"node NotReady since {since:.0f} s; toleration "
                            f"{self.settings.eviction_toleration_s:.0f} s expired"
                        ),
                        expected_effect="its pods are rescheduled elsewhere",
                    ),
                )
            )
        return out
