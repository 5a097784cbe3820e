"""``kubernetes-defaults``: the rule-based baseline, stock Kubernetes controllers on the simulator.

Three agents built on the shared tick template, each running one controller of
``autoinfra.policies.kubernetes`` at its documented period: the node lifecycle controller (5 s;
finds NotReady nodes, evicts their pods after the toleration), the Horizontal Pod Autoscaler
(15 s) and the Cluster Autoscaler (10 s). Kubernetes controllers act directly on the API server:
no arbiter, no approval gate; the simulated actuator gives them the same API latency as every
other system. Each agent's identity allows what its controller does and nothing else (node
lifecycle: evict pods of lost nodes; HPA: replica counts; Cluster Autoscaler: power and drain of
nodes), as the RBAC roles of the real controllers do.

Parameters (``params``, validated by pydantic; unknown names are refused):
``target_cpu_utilization`` (the HPA target, which Kubernetes leaves to the user), or nested ``hpa``
/ ``cluster_autoscaler`` / ``nodes`` mappings of field overrides for the settings classes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from autoinfra.actuators import actuator_for
from autoinfra.agents import Agent, Runtime, System
from autoinfra.core.cluster import cluster_parts
from autoinfra.core.documents import with_overrides
from autoinfra.policies.kubernetes import KubernetesPolicy, KubernetesSettings
from autoinfra.security.identity import Identity, Role
from autoinfra.telemetry import SimSensor

NAME = "kubernetes-defaults"


def settings_from_params(params: Mapping[str, Any] | None) -> KubernetesSettings:
    """Defaults overridden by ``params`` (validated by pydantic), errors naming the bad field.

    ``target_cpu_utilization`` is a shorthand for ``hpa: {target_cpu_utilization: ...}``.
    """
    overrides = dict(params or {})
    if "target_cpu_utilization" in overrides:
        hpa = overrides.get("hpa")
        hpa = dict(hpa) if isinstance(hpa, Mapping) else {}
        overrides["hpa"] = {
            **hpa,
            "target_cpu_utilization": overrides.pop("target_cpu_utilization"),
        }
    return with_overrides(
        KubernetesSettings(), overrides, source="system_params", prefix=f"system_params.{NAME}"
    )


def build(sim: Any, *, seed: int, params: Mapping[str, Any] | None = None) -> System:
    """The Kubernetes-defaults system on ``sim`` (``seed`` is unused: the rules draw nothing)."""
    settings = settings_from_params(params)
    workload = getattr(sim, "workload", None)
    max_replicas = (
        np.asarray(workload.services.max_replicas, dtype=np.int32) if workload is not None else None
    )
    policy = KubernetesPolicy(settings, agent_id=NAME, max_replicas=max_replicas)
    reader, _, clock = cluster_parts(sim)  # a simulator or a core.cluster.Backend
    sensor = SimSensor(reader)
    agents = [
        Agent(
            "k8s-node-lifecycle",
            sensor=sensor,
            detectors=[policy.nodes],
            policy=policy.nodes,
            period_s=settings.nodes.monitor_period_s,
            priority=90,
            identity=Identity.scoped(
                "k8s-node-lifecycle", Role.HEALER, {"evict_tasks"}, ("machine:*",)
            ),
            description="node lifecycle controller: NotReady after the grace period, evict after "
            "the toleration",
        ),
        Agent(
            "k8s-hpa",
            sensor=sensor,
            policy=policy.hpa,
            period_s=settings.hpa.sync_period_s,
            priority=50,
            identity=Identity.for_role("k8s-hpa", Role.SCALER),
            description="Horizontal Pod Autoscaler on CPU utilisation of requests",
        ),
        Agent(
            "k8s-cluster-autoscaler",
            sensor=sensor,
            policy=policy.cluster_autoscaler,
            period_s=settings.cluster_autoscaler.scan_interval_s,
            priority=40,
            identity=Identity.for_role("k8s-cluster-autoscaler", Role.ENERGY),  # power, drain
            description="Cluster Autoscaler: power on for pending pods, drain and power off "
            "under-requested nodes",
        ),
    ]
    runtime = Runtime(agents, clock=clock, actuator=actuator_for(sim))
    return System(NAME, runtime, dict(params or {}), policy.describe())
