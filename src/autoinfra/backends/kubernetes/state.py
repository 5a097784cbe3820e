"""What the API server says of the cluster, read once per observation, and its ``Observation``.

Machines are the nodes (sorted by name: slot ``i`` is the ``i``-th name), services the
deployments of the namespace (sorted by name), tasks the pods bound to a node. Mapping:

- state: ``Ready=True`` -> ON; a cordoned node that autoinfra drained (label
  ``autoinfra.io/draining``) -> DRAINING. A node whose Ready is False/Unknown is reported as its
  last known state and ``heartbeat_age_s`` is the age of its Ready condition's
  ``lastHeartbeatTime``: the node controller's own signal. ``machine_state`` (the truth for the
  actuator) says FAILED for it.
- capacity: allocatable CPU and memory, normalised by the largest node; requested: the sum of
  the pods' container requests.
- CPU and memory used: from Prometheus when the backend is given one (``metrics``); without it
  the backend reports the requests as usage and says so in ``extra["meta"]["usage_source"]``.
- services: ``spec.replicas`` and ``status.readyReplicas``; requests of the pod template; the
  right-sizing keys of ``extra`` (``service_mem_request`` always, ``service_mem_peak`` only with
  per-pod usage from Prometheus) are ``services``'s.
- pending: pods in phase Pending. No uplinks: a Kubernetes API does not expose the network.
- ``extra["work_at_risk_s"]``: per node, the seconds its batch pods (owned by a Job) have run
  since ``status.startTime``: what draining it would throw away, since an evicted Job pod starts
  over (``core.observation.work_at_risk_s``; the energy agent spares such nodes).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

from autoinfra.backends.kubernetes.quantities import cpu_cores, mem_bytes
from autoinfra.backends.kubernetes.services import PodUsage, service_extras
from autoinfra.core.observation import MachineState, Observation

__all__ = ["ClusterState"]

DRAINING_LABEL = "autoinfra.io/draining"
ISOLATED_TAINT = "autoinfra.io/isolated"


def _requests(containers: list[Any] | None) -> tuple[float, float]:
    cpu = mem = 0.0
    for c in containers or []:
        req = (c.resources.requests if c.resources is not None else None) or {}
        cpu += cpu_cores(req.get("cpu"))
        mem += mem_bytes(req.get("memory"))
    return cpu, mem


def _ready(node: Any) -> tuple[bool, datetime | None]:
    for cond in (node.status.conditions if node.status else None) or []:
        if cond.type == "Ready":
            return cond.status == "True", cond.last_heartbeat_time
    return False, None


def batch_age_s(pod: Any, now: datetime) -> float:
    """Seconds a Job's pod has run (0 for any other pod, or one not started)."""
    if not any(o.kind == "Job" for o in (pod.metadata.owner_references or [])):
        return 0.0
    started = pod.status.start_time if pod.status is not None else None
    if started is None:
        return 0.0
    return max(0.0, (now - started).total_seconds())


def owned_by_daemonset(pod: Any) -> bool:
    """DaemonSet pods and static (mirror) pods, owned by their Node: ``kubectl drain`` leaves
    both, and so do we (they are not tasks the scheduler could place elsewhere)."""
    return any(o.kind in ("DaemonSet", "Node") for o in (pod.metadata.owner_references or []))


@dataclass(slots=True)
class ClusterState:
    nodes: list[Any]
    pods: list[Any]
    deployments: list[Any]
    time_s: float
    now: datetime = field(default_factory=lambda: datetime.now(UTC))

    def __post_init__(self) -> None:
        self.nodes.sort(key=lambda n: n.metadata.name)
        self.deployments.sort(key=lambda d: d.metadata.name)

    @property
    def node_names(self) -> list[str]:
        return [n.metadata.name for n in self.nodes]

    def pods_on(self, node: str) -> list[Any]:
        return [p for p in self.pods if p.spec.node_name == node
                and (p.status.phase if p.status else None) not in ("Succeeded", "Failed")
                and not owned_by_daemonset(p)]  # fmt: skip

    def truth(self, slot: int) -> MachineState:
        node = self.nodes[slot]
        ready, _ = _ready(node)
        if not ready:
            return MachineState.FAILED
        labels = node.metadata.labels or {}
        if node.spec is not None and node.spec.unschedulable and DRAINING_LABEL in labels:
            return MachineState.DRAINING
        return MachineState.ON

    def _capacity(self) -> tuple[np.ndarray, np.ndarray]:
        cap_cpu = np.array([cpu_cores((x.status.allocatable or {}).get("cpu")) for x in self.nodes])
        cap_mem = np.array(
            [mem_bytes((x.status.allocatable or {}).get("memory")) for x in self.nodes]
        )
        return cap_cpu, cap_mem

    def norms(self) -> tuple[float, float]:
        """CPU cores and memory bytes that are 1.0 in the observation: the largest node's
        allocatable (1.0 with no node), so the writer converts back exactly as observed."""
        cap_cpu, cap_mem = self._capacity()
        norm_cpu = float(cap_cpu.max()) if cap_cpu.size and cap_cpu.max() > 0 else 1.0
        norm_mem = float(cap_mem.max()) if cap_mem.size and cap_mem.max() > 0 else 1.0
        return norm_cpu, norm_mem

    def observation(
        self,
        meta: dict[str, Any],
        usage: tuple[np.ndarray, np.ndarray] | None = None,
        pod_usage: PodUsage | None = None,
    ) -> Observation:
        """The observation; ``usage`` (CPU cores, memory bytes per node, from Prometheus)
        replaces the requests as what is used; ``pod_usage`` (per pod) gives the services'
        measured CPU and memory peak."""
        n = len(self.nodes)
        cap_cpu, cap_mem = self._capacity()
        norm_cpu, norm_mem = self.norms()
        state = np.empty(n, np.int8)
        sched = np.zeros(n, np.bool_)
        hb = np.zeros(n, np.float32)
        req_cpu = np.zeros(n, np.float32)
        req_mem = np.zeros(n, np.float32)
        tasks = np.zeros(n, np.int32)
        at_risk = np.zeros(n, np.float32)
        for i, node in enumerate(self.nodes):
            truth = self.truth(i)
            state[i] = MachineState.ON if truth == MachineState.FAILED else truth
            cordoned = bool(node.spec is not None and node.spec.unschedulable)
            sched[i] = truth == MachineState.ON and not cordoned
            _, beat = _ready(node)
            hb[i] = max(0.0, (self.now - beat).total_seconds()) if beat is not None else 0.0
            for pod in self.pods_on(node.metadata.name):
                c, m = _requests(pod.spec.containers)
                req_cpu[i] += c / norm_cpu
                req_mem[i] += m / norm_mem
                tasks[i] += 1
                at_risk[i] += batch_age_s(pod, self.now)
        k = len(self.deployments)
        replicas = np.array([d.spec.replicas or 0 for d in self.deployments], np.int32)
        ready = np.array([(d.status.ready_replicas or 0) if d.status else 0
                          for d in self.deployments], np.int32)  # fmt: skip
        template = [_requests(d.spec.template.spec.containers) for d in self.deployments]
        one = np.array([c / norm_cpu for c, _ in template], np.float32)
        one_mem = np.array([m / norm_mem for _, m in template], np.float32)
        sizing, measured_cpu = service_extras(
            self.deployments, self.pods, one_mem, norm_cpu, norm_mem, pod_usage
        )
        # without per-pod usage, the requests of the ready replicas stand in (meta says so)
        svc_cpu = (one * ready).astype(np.float32) if measured_cpu is None else measured_cpu
        pending = [p for p in self.pods if (p.status.phase if p.status else None) == "Pending"]
        pend_cpu = sum(_requests(p.spec.containers)[0] for p in pending) / norm_cpu
        pend_mem = sum(_requests(p.spec.containers)[1] for p in pending) / norm_mem
        zones = sorted({(x.metadata.labels or {}).get("topology.kubernetes.io/zone", "")
                        for x in self.nodes})  # fmt: skip
        rack = np.array([zones.index((x.metadata.labels or {}).get(
            "topology.kubernetes.io/zone", "")) for x in self.nodes], np.int32)  # fmt: skip
        powered = state != MachineState.OFF
        if usage is not None:
            cpu_used = (usage[0] / norm_cpu).astype(np.float32)
            mem_used = (usage[1] / norm_mem).astype(np.float32)
        else:  # no metrics source: requests stand in (meta says so)
            cpu_used, mem_used = req_cpu.copy(), req_mem.copy()
        return Observation(
            time_s=self.time_s,
            machine_ids=np.arange(n, dtype=np.int64),
            machine_state=state,
            schedulable=sched,
            cpu_capacity=(cap_cpu / norm_cpu).astype(np.float32),
            mem_capacity=(cap_mem / norm_mem).astype(np.float32),
            cpu_requested=req_cpu,
            mem_requested=req_mem,
            cpu_used=cpu_used,
            mem_used=mem_used,
            cpu_throttled_share=np.zeros(n, np.float32),
            tasks_running=tasks,
            heartbeat_age_s=hb,
            egress_mbps=np.zeros(n, np.float32),
            rack=rack,
            link_rack=np.zeros(0, np.int32),
            link_utilization=np.zeros(0, np.float32),
            service_ids=np.arange(k, dtype=np.int64),
            service_replicas=replicas,
            service_running=ready,
            service_cpu_request=one,
            service_cpu_used=svc_cpu,
            service_min_replicas=np.ones(k, np.int32),
            pending_tasks=len(pending),
            pending_cpu=float(pend_cpu),
            pending_mem=float(pend_mem),
            power_w=float(powered.sum() * 100.0),
            extra={
                "meta": meta,
                "nodes": self.node_names,
                "deployments": [d.metadata.name for d in self.deployments],
                "work_at_risk_s": at_risk,
                **sizing,
            },
        )
