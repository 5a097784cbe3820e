"""The Kubernetes backend's mutators: each one API request (or a few), through the official client.

=======================  =========================================================================
operation                API request
=======================  =========================================================================
set_service_replicas     PATCH apps/v1 deployments/<d>/scale ``{"spec": {"replicas": n}}``
cordon                   PATCH v1 nodes/<n> ``{"spec": {"unschedulable": bool}}``
drain                    cordon + label ``autoinfra.io/draining``, then a policy/v1 Eviction per pod
                         (DaemonSet pods are left, as ``kubectl drain`` does)
evict_stranded           Evictions of the pods of a NotReady node, then a zero-grace DELETE of those
                         left Terminating (no kubelet is there to confirm)
kill_rogue               DELETE of the pods on the node that no controller owns (the API's view of
                         a process nothing accounts for); refused when there is none
isolate                  cordon + taint ``autoinfra.io/isolated=true:NoExecute`` + label, then drain
patch_requests           PATCH the deployment's pod template ``resources.requests`` (quantities)
resize_service_requests  the same PATCH from right-sizing's normalised requests: times the
                         largest node's allocatable (``ClusterState.norms``, as observed), CPU in
                         whole millicores, memory in whole Mi, each at least 1; a pod's total is
                         split over its containers in proportion to what they request now
power_on / power_off     refused: the API has no power switch (a cluster autoscaler owns that)
reroute                  refused: the API does not expose the network
=======================  =========================================================================

**PodDisruptionBudgets** are the API server's to enforce: an eviction it refuses answers 429. The
writer retries a refused eviction ``eviction_retries`` times with exponential back-off, then gives
up on that pod and raises an ``ActionError`` that names the pods the budget protects, after
evicting every pod it could. **Dry run**: with ``dry_run`` every mutating request carries
``dryRun=All``, so the server validates and admits it and changes nothing. Repeating a ``by``
for the same operation is a no-op (idempotent by request id).

**Requests, not limits**: a resize leaves containers' limits as they are, and refuses (before
sending anything) a request above a container's limit, which the API server would refuse too.
Patching the pod template rolls the deployment's pods, as the Vertical Pod Autoscaler's
``Recreate`` mode does; the observation's ``service_cpu_request`` reads the template, so it shows
the new request as soon as the patch is stored.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import Any

import kubernetes.client as k8s

from autoinfra.backends.kubernetes.api import Api, ApiException, call
from autoinfra.backends.kubernetes.quantities import above_limit, template_requests
from autoinfra.backends.kubernetes.state import DRAINING_LABEL, ISOLATED_TAINT, ClusterState
from autoinfra.backends.ledger import FaultLedger
from autoinfra.core.actions import MAX_REQUEST
from autoinfra.core.errors import ActionError
from autoinfra.core.observation import MachineState

__all__ = ["KubernetesWriter"]


class KubernetesWriter:
    def __init__(
        self,
        api: Api,
        namespace: str,
        read: Callable[[], ClusterState],
        ledger: FaultLedger,
        now_s: Callable[[], float],
        *,
        dry_run: bool = False,
        eviction_retries: int = 3,
        backoff_s: float = 0.2,
    ) -> None:
        self.api = api
        self.namespace = namespace
        self.read = read
        self.ledger = ledger
        self.now_s = now_s
        self.dry_run = dry_run
        self.eviction_retries = eviction_retries
        self.backoff_s = backoff_s
        self.lock = threading.RLock()
        self._done: dict[tuple[str, str], object] = {}
        self.blocked: list[dict[str, Any]] = []  # evictions a PDB refused, for the report

    @property
    def _dry(self) -> dict[str, str]:
        return {"dry_run": "All"} if self.dry_run else {}

    def _once(self, by: str, op: str, target: str, do: Callable[[], object]) -> object:
        with self.lock:
            key = (str(by), op)
            if key in self._done:
                return self._done[key]
            result = do()
            self._done[key] = result
            if not self.dry_run:  # a dry run changed nothing, so it mitigated nothing
                self.ledger.mitigate(op, target, by, self.now_s())
            return result

    def _node(self, state: ClusterState, machine: int) -> Any:
        if not 0 <= int(machine) < len(state.nodes):
            raise ActionError(f"no machine {machine}: the cluster has {len(state.nodes)} nodes")
        return state.nodes[int(machine)]

    def _deployment(self, state: ClusterState, service: int) -> Any:
        if not 0 <= int(service) < len(state.deployments):
            raise ActionError(f"no service {service}: {len(state.deployments)} deployments")
        return state.deployments[int(service)]

    # -- services --------------------------------------------------------------------------------
    def set_service_replicas(self, service: int, replicas: int, by: str) -> object:
        def do() -> object:
            state = self.read()
            dep = self._deployment(state, service)
            if int(replicas) < 0:
                raise ActionError(f"service {service}: {replicas} replicas is below 0")
            name = dep.metadata.name
            body = {"spec": {"replicas": int(replicas)}}
            call(f"patch deployments/{name}/scale", self.api.apps.patch_namespaced_deployment_scale,
                 name, self.namespace, body, **self._dry)  # fmt: skip
            return f"deployments/{name} scaled to {int(replicas)}"

        return self._once(by, "set_service_replicas", f"service:{service}", do)

    def patch_requests(self, service: int, cpu: str, memory: str, by: str) -> object:
        """Set the CPU and memory requests of every container of a deployment's pods."""

        def do() -> object:
            dep = self._deployment(self.read(), service)
            n = len(dep.spec.template.spec.containers)
            self._patch_template(dep, [cpu] * n, [memory] * n)
            return f"deployments/{dep.metadata.name} requests cpu={cpu} memory={memory}"

        return self._once(by, "patch_requests", f"service:{service}", do)

    def resize_service_requests(
        self, service: int, cpu_request: float, mem_request: float, by: str
    ) -> object:
        """Right-sizing: each replica of a service requests ``cpu_request`` and ``mem_request``
        (normalised as the observation is: 1.0 is the largest node's allocatable)."""

        def do() -> object:
            state = self.read()
            dep = self._deployment(state, service)
            for field, value in (("cpu_request", cpu_request), ("mem_request", mem_request)):
                if not (math.isfinite(value) and 0.0 < value <= MAX_REQUEST):
                    raise ActionError(
                        f"service {service}: {field} {value!r} is not in (0, {MAX_REQUEST:g}] "
                        "(normalised by the largest node)"
                    )
            cpus, mems = template_requests(dep.spec.template.spec.containers, cpu_request,
                                           mem_request, *state.norms())  # fmt: skip
            self._patch_template(dep, cpus, mems)
            return (
                f"deployments/{dep.metadata.name} requests cpu={'+'.join(cpus)} "
                f"memory={'+'.join(mems)} (cpu {cpu_request:.4f}, mem {mem_request:.4f})"
            )

        return self._once(by, "resize_service_requests", f"service:{service}", do)

    def _patch_template(self, dep: Any, cpus: list[str], mems: list[str]) -> None:
        """PATCH the containers' requests of a deployment's pod template (a strategic merge
        patch: containers are merged by name, their other fields and limits kept)."""
        name = dep.metadata.name
        containers = []
        for c, cpu, mem in zip(dep.spec.template.spec.containers, cpus, mems, strict=True):
            above = above_limit(c, cpu, mem)
            if above:
                raise ActionError(f"deployments/{name} container {c.name}: {above}")
            containers.append(
                {"name": c.name, "resources": {"requests": {"cpu": cpu, "memory": mem}}}
            )
        body = {"spec": {"template": {"spec": {"containers": containers}}}}
        call(f"patch deployments/{name}", self.api.apps.patch_namespaced_deployment, name,
             self.namespace, body, **self._dry)  # fmt: skip

    # -- nodes -----------------------------------------------------------------------------------
    def _patch_node(self, name: str, body: dict[str, Any]) -> None:
        call(f"patch nodes/{name}", self.api.core.patch_node, name, body, **self._dry)

    def cordon(self, machine: int, schedulable: bool, by: str) -> object:
        def do() -> object:
            node = self._node(self.read(), machine)
            name = node.metadata.name
            body: dict[str, Any] = {"spec": {"unschedulable": not schedulable}}
            if schedulable:  # uncordoning ends a drain or an isolation, as in the simulator
                body["metadata"] = {"labels": {DRAINING_LABEL: None, ISOLATED_TAINT: None}}
                taints = [t.to_dict() for t in (node.spec.taints or []) if t.key != ISOLATED_TAINT]
                body["spec"]["taints"] = [{k: v for k, v in t.items() if v is not None}
                                          for t in taints]  # fmt: skip
            self._patch_node(name, body)
            return "schedulable" if schedulable else "cordoned"

        return self._once(by, "cordon", f"machine:{machine}", do)

    def _evict(self, pods: list[Any]) -> tuple[int, list[str]]:
        evicted, blocked = 0, []
        for pod in pods:
            name, ns = pod.metadata.name, pod.metadata.namespace or self.namespace
            body = k8s.V1Eviction(
                api_version="policy/v1", kind="Eviction",
                metadata=k8s.V1ObjectMeta(name=name, namespace=ns),
                delete_options=k8s.V1DeleteOptions(dry_run=["All"]) if self.dry_run else None,
            )  # fmt: skip
            for attempt in range(self.eviction_retries + 1):
                try:
                    call(f"evict pods/{name}", self.api.core.create_namespaced_pod_eviction,
                         name, ns, body, **self._dry)  # fmt: skip
                    evicted += 1
                    break
                except ApiException as exc:
                    if exc.status != 429:
                        raise ActionError(f"cannot evict pods/{name}: HTTP {exc.status}") from exc
                    if attempt == self.eviction_retries:
                        blocked.append(name)
                        self.blocked.append({"pod": name, "namespace": ns, "tries": attempt + 1})
                    else:  # a budget may allow it once another pod is back: back off and retry
                        time.sleep(self.backoff_s * 2**attempt)
        return evicted, blocked

    def _drain(self, node: Any, why: str) -> str:
        pods = self.read().pods_on(node.metadata.name)
        evicted, blocked = self._evict(pods)
        if blocked:
            raise ActionError(
                f"{why} nodes/{node.metadata.name}: {evicted} pods evicted, eviction of "
                f"{', '.join(blocked)} blocked by a PodDisruptionBudget (HTTP 429, "
                f"{self.eviction_retries + 1} tries)"
            )
        return f"{evicted} pods evicted"

    def drain(self, machine: int, by: str) -> object:
        def do() -> object:
            node = self._node(self.read(), machine)
            self._patch_node(node.metadata.name, {"spec": {"unschedulable": True},
                             "metadata": {"labels": {DRAINING_LABEL: "true"}}})  # fmt: skip
            return self._drain(node, "drain")

        return self._once(by, "drain", f"machine:{machine}", do)

    def evict_stranded(self, machine: int, by: str) -> object:
        def do() -> object:
            state = self.read()
            node = self._node(state, machine)
            if state.truth(int(machine)) != MachineState.FAILED:
                raise ActionError(f"nodes/{node.metadata.name} is Ready: nothing is stranded")
            done = self._drain(node, "evict from")
            # no kubelet confirms a deletion on a lost node: evicted pods stay Terminating there
            # for ever, so delete them with no grace period (``kubectl delete --force``)
            stuck = [p for p in self.read().pods_on(node.metadata.name)
                     if p.metadata.deletion_timestamp is not None]  # fmt: skip
            for p in stuck:
                name, ns = p.metadata.name, p.metadata.namespace or self.namespace
                call(f"force-delete pods/{name}", self.api.core.delete_namespaced_pod, name, ns,
                     grace_period_seconds=0, **self._dry)  # fmt: skip
            return f"{done}, {len(stuck)} force-deleted"

        return self._once(by, "evict_stranded", f"machine:{machine}", do)

    def kill_rogue(self, machine: int, by: str) -> object:
        def do() -> object:
            state = self.read()
            node = self._node(state, machine)
            rogue = [
                p for p in state.pods_on(node.metadata.name) if not p.metadata.owner_references
            ]
            if not rogue:
                raise ActionError(f"no pod without a controller runs on nodes/{node.metadata.name}")
            for p in rogue:
                name, ns = p.metadata.name, p.metadata.namespace or self.namespace
                call(f"delete pods/{name}", self.api.core.delete_namespaced_pod, name, ns,
                     **self._dry)  # fmt: skip
            return f"{len(rogue)} pods without a controller deleted"

        return self._once(by, "kill_rogue", f"machine:{machine}", do)

    def isolate(self, machine: int, by: str) -> object:
        def do() -> object:
            node = self._node(self.read(), machine)
            taints = [t.to_dict() for t in (node.spec.taints or []) if t.key != ISOLATED_TAINT]
            taints = [{k: v for k, v in t.items() if v is not None} for t in taints]
            taints.append({"key": ISOLATED_TAINT, "value": "true", "effect": "NoExecute"})
            self._patch_node(node.metadata.name, {
                "spec": {"unschedulable": True, "taints": taints},
                "metadata": {"labels": {ISOLATED_TAINT: "true", DRAINING_LABEL: "true"}},
            })  # fmt: skip
            return self._drain(node, "isolate")

        return self._once(by, "isolate", f"machine:{machine}", do)

    def power_on(self, machine: int, by: str) -> object:
        self._node(self.read(), machine)
        raise ActionError(
            "the Kubernetes API has no power switch: nodes are added by an autoscaler"
        )

    def power_off(self, machine: int, by: str) -> object:
        self._node(self.read(), machine)
        raise ActionError("the Kubernetes API has no power switch: drain the node instead")

    def reroute(self, rack: int, away_from_link: int, by: str) -> object:
        raise ActionError("the Kubernetes API does not expose uplinks: nothing to reroute")

    # -- read-backs ------------------------------------------------------------------------------
    def machine_state(self, machine: int) -> MachineState:
        state = self.read()
        self._node(state, machine)
        return state.truth(int(machine))

    def machine_task_count(self, machine: int) -> int:
        state = self.read()
        return len(state.pods_on(self._node(state, machine).metadata.name))
