"""The three Kubernetes controllers behind one Detector + Policy face.

The baseline agent perceives once per tick and hands the same observation to the node lifecycle
controller (which reports NotReady nodes as ``node_failure`` findings and evicts after the
toleration), the Horizontal Pod Autoscaler and the Cluster Autoscaler. Each controller keeps its own
documented period (5 s, 15 s, 10 s) from ``observation.time_s``, so the agent may tick at the
simulator's tick without changing how often each controller acts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from autoinfra.core.documents import UNKNOWN_KEYS_REFUSED
from autoinfra.core.observation import Observation
from autoinfra.core.proposal import Finding, Proposal
from autoinfra.policies.kubernetes.cluster_autoscaler import CASettings, ClusterAutoscaler
from autoinfra.policies.kubernetes.hpa import HorizontalPodAutoscaler, HPASettings
from autoinfra.policies.kubernetes.node_lifecycle import (
    NodeLifecycleController,
    NodeLifecycleSettings,
    liveness_restart_delay_s,
)


@dataclass(frozen=True, slots=True)
class KubernetesSettings:
    """Every default of the baseline in one place (each cited where its class is declared)."""

    __pydantic_config__ = UNKNOWN_KEYS_REFUSED  # a misspelt key in params is an error

    hpa: HPASettings = field(default_factory=HPASettings)
    cluster_autoscaler: CASettings = field(default_factory=CASettings)
    nodes: NodeLifecycleSettings = field(default_factory=NodeLifecycleSettings)
    liveness_period_s: float = 10.0  # probe periodSeconds default
    liveness_failure_threshold: int = 3  # probe failureThreshold default

    @property
    def liveness_restart_after_s(self) -> float:
        return liveness_restart_delay_s(self.liveness_period_s, self.liveness_failure_threshold)


class KubernetesPolicy:
    """Node lifecycle, HPA and Cluster Autoscaler run on one observation; actions in that order."""

    policy_id = "kubernetes.defaults-v1"

    def __init__(
        self,
        settings: KubernetesSettings | None = None,
        *,
        agent_id: str = "kubernetes",
        max_replicas: npt.NDArray[np.int32] | None = None,
    ) -> None:
        self.settings = settings or KubernetesSettings()
        s = self.settings
        self.nodes = NodeLifecycleController(s.nodes, agent_id=agent_id)
        self.hpa = HorizontalPodAutoscaler(s.hpa, agent_id=agent_id, max_replicas=max_replicas)
        self.cluster_autoscaler = ClusterAutoscaler(
            s.cluster_autoscaler, agent_id=agent_id, not_ready_after_s=s.nodes.grace_period_s
        )

    def analyze(self, observation: Observation) -> list[Finding]:
        return self.nodes.analyze(observation)

    def decide(self, observation: Observation, findings: Sequence[Finding]) -> list[Proposal]:
        return [
            *self.nodes.decide(observation, findings),
            *self.hpa.decide(observation, findings),
            *self.cluster_autoscaler.decide(observation, findings),
        ]

    def describe(self) -> str:
        s = self.settings
        return (
            f"HPA target {s.hpa.target_cpu_utilization:.0%} CPU of requests, tolerance "
            f"{s.hpa.tolerance}, sync {s.hpa.sync_period_s:.0f} s, scale-down stabilisation "
            f"{s.hpa.downscale_stabilization_s:.0f} s; Cluster Autoscaler scan "
            f"{s.cluster_autoscaler.scan_interval_s:.0f} s, scale-down below "
            f"{s.cluster_autoscaler.scale_down_utilization_threshold} requested after "
            f"{s.cluster_autoscaler.scale_down_unneeded_time_s:.0f} s; NotReady after "
            f"{s.nodes.grace_period_s:.0f} s, eviction after {s.nodes.eviction_toleration_s:.0f} s "
            f"more; liveness restart after {s.liveness_restart_after_s:.0f} s (fixes none of the "
            "simulated faults); no remedy for CPU hogs, congestion or intrusions"
        )
