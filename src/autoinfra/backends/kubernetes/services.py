"""Which running pods are a deployment's replicas, and what right-sizing reads of them.

Right-sizing (``policies.rightsizing``) needs, per service, the pod template's memory request
(``extra["service_mem_request"]``) and the most memory any running replica uses
(``extra["service_mem_peak"]``). The first is in the deployment; the second only a metrics
source knows (cAdvisor's working set, through Prometheus: ``metrics.PrometheusUsage.pods``).

A pod is a deployment's replica when a ReplicaSet controls it and the deployment's label
selector selects it. The owner chain (pod -> ReplicaSet -> Deployment) would need the
ReplicaSets listed on every observation; the selector is already in the deployments we list, and
the ReplicaSet-controller condition keeps a bare pod that happens to carry the labels (a hog, an
intruder) out of a service's figures. Two deployments whose selectors overlap (a set-up
Kubernetes itself warns against) both count the pod.

Without pod usage the peak is not reported at all: a peak made of requests would have the policy
size requests from themselves. ``service_cpu_used`` then stays requests times ready replicas (the
observation's fallback); with pod usage it is the pods' measured CPU, so the policy's CPU
percentile is measured too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["PodUsage", "selects", "service_extras", "service_pods"]


@dataclass(frozen=True, slots=True)
class PodUsage:
    """Per pod of the namespace (by name): CPU cores and memory working-set bytes now."""

    cpu_cores: Mapping[str, float]
    mem_bytes: Mapping[str, float]


def selects(selector: Any, labels: Mapping[str, str] | None) -> bool:
    """Whether a ``V1LabelSelector`` selects ``labels`` (``matchLabels`` and
    ``matchExpressions``, as the API server reads them). An empty or missing selector selects
    nothing here: apps/v1 requires one, and an empty one would claim every pod."""
    if selector is None:
        return False
    labels = labels or {}
    match = selector.match_labels or {}
    exprs = selector.match_expressions or []
    if not match and not exprs:
        return False
    if any(labels.get(k) != v for k, v in match.items()):
        return False
    for e in exprs:
        values = set(e.values or [])
        present = e.key in labels
        if e.operator == "In" and not (present and labels[e.key] in values):
            return False
        if e.operator == "NotIn" and present and labels[e.key] in values:
            return False
        if e.operator == "Exists" and not present:
            return False
        if e.operator == "DoesNotExist" and present:
            return False
    return True


def _replica_set_controlled(pod: Any) -> bool:
    return any(o.kind == "ReplicaSet" and o.controller
               for o in (pod.metadata.owner_references or []))  # fmt: skip


def _running(pod: Any) -> bool:
    return (
        bool(pod.spec.node_name)
        and (pod.status.phase if pod.status else None) == "Running"
        and pod.metadata.deletion_timestamp is None
    )


def service_pods(deployments: Sequence[Any], pods: Sequence[Any]) -> list[list[Any]]:
    """The running replicas of each deployment, in ``deployments`` order."""
    candidates = [p for p in pods if _running(p) and _replica_set_controlled(p)]
    return [[p for p in candidates if selects(d.spec.selector, p.metadata.labels)]
            for d in deployments]  # fmt: skip


def service_extras(
    deployments: Sequence[Any],
    pods: Sequence[Any],
    mem_request: np.ndarray,
    norm_cpu: float,
    norm_mem: float,
    usage: PodUsage | None,
) -> tuple[dict[str, Any], np.ndarray | None]:
    """The right-sizing keys of ``Observation.extra`` and, with pod usage, each service's
    measured CPU (normalised; None without it). ``mem_request`` is each pod template's memory
    request, already normalised."""
    extra: dict[str, Any] = {
        "service_mem_request": mem_request.astype(np.float32),
        # requests are whole millicores: the resolution a read-back of a resize can reach
        "cpu_request_quantum": 0.001 / norm_cpu,
    }
    if usage is None:
        return extra, None
    k = len(deployments)
    peak = np.zeros(k, np.float32)
    cpu = np.zeros(k, np.float32)
    for s, replicas in enumerate(service_pods(deployments, pods)):
        names = [p.metadata.name for p in replicas]
        peak[s] = max((usage.mem_bytes.get(n, 0.0) for n in names), default=0.0) / norm_mem
        cpu[s] = sum(usage.cpu_cores.get(n, 0.0) for n in names) / norm_cpu
    extra["service_mem_peak"] = peak
    return extra, cpu
