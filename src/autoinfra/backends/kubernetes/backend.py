"""``KubernetesBackend``: a Kubernetes cluster behind the ``core.cluster`` seam.

The reader lists nodes, pods (of the namespace) and deployments on every ``observe`` (a few
hundred objects: cheap next to a 5 s agent period; a watch cache is the way past that) and
builds the ``Observation`` in ``state``; with ``prometheus_url`` node and pod usage come from
there (``metrics``), and ``extra["meta"]`` says where usage and the memory peak came from. The
writer is ``writer.KubernetesWriter``. The clock is the wall clock.

Faults: the API offers no way to break a node, so ``inject`` hands the fault to an injector
given at construction (a chaos tool's adapter; the tests give one that edits the emulator's
objects) and records it in the fault ledger; without an injector it refuses with a clear error.
Recovery is judged from the API's state: a failed node's fault is over when no pod is left on it
and every deployment has its replicas ready (or the node is Ready again); a hog's when no pod
without a controller is left on its node.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import kubernetes.client as k8s

from autoinfra.backends.kubernetes.api import Api, call
from autoinfra.backends.kubernetes.metrics import PrometheusUsage
from autoinfra.backends.kubernetes.state import ClusterState
from autoinfra.backends.kubernetes.writer import KubernetesWriter
from autoinfra.backends.ledger import FaultLedger
from autoinfra.core.clock import Clock, WallClock
from autoinfra.core.cluster import ClusterReader, ClusterWriter, FaultLike, ReaderOf
from autoinfra.core.errors import ActionError
from autoinfra.core.observation import MachineState, Observation

__all__ = ["KubernetesBackend"]

# (backend, fault) -> the target it hit, "" when nothing was eligible
Injector = Callable[["KubernetesBackend", FaultLike], str]

# why extra["service_mem_peak"] is missing: a peak made of requests would size requests from
# themselves, so right-sizing proposes nothing until a measured peak is there
_NO_PEAK = "not reported (right-sizing idles: it needs measured pod memory): "


class KubernetesBackend:
    name = "kubernetes"

    def __init__(
        self,
        api_factory: Callable[[], Api],
        *,
        namespace: str = "default",
        dry_run: bool = False,
        injector: Injector | None = None,
        eviction_retries: int = 3,
        backoff_s: float = 0.2,
        prometheus_url: str | None = None,
    ) -> None:
        self._api_factory = api_factory
        self.metrics = PrometheusUsage(prometheus_url) if prometheus_url else None
        self._usage_source = "pod requests (no Prometheus given)"
        self._peak_source = _NO_PEAK + "no Prometheus given"
        self.namespace = namespace
        self.dry_run = dry_run
        self.injector = injector
        self.eviction_retries = eviction_retries
        self.backoff_s = backoff_s
        self._clock = WallClock()
        self.ledger = FaultLedger()
        self.api: Api | None = None
        self._writer: KubernetesWriter | None = None
        self._reader = ReaderOf(self)

    @property
    def clock(self) -> Clock:
        return self._clock

    @property
    def reader(self) -> ClusterReader:
        return self._reader

    @property
    def writer(self) -> ClusterWriter:
        if self._writer is None:
            raise ActionError("the kubernetes backend is not started")
        return self._writer

    @property
    def done(self) -> bool:
        return False

    def meta(self) -> dict[str, Any]:
        return {"backend": "kubernetes", "host": self.api.host if self.api else "",
                "namespace": self.namespace, "dry_run": self.dry_run,
                "usage_source": self._usage_source,
                "mem_peak_source": self._peak_source}  # fmt: skip

    def observe(self) -> Observation:
        state = self.read()
        usage = pods = None
        if self.metrics is not None:
            try:  # one Prometheus that does not answer costs one timeout, not two
                usage = self.metrics.usage(state.node_names)
                self._usage_source = f"Prometheus at {self.metrics.url}"
                pods = self.metrics.pods(self.namespace)
                self._peak_source = f"Prometheus at {self.metrics.url}"
            except ActionError as exc:  # this observation falls back; the next one tries again
                if usage is None:
                    self._usage_source = f"pod requests ({exc})"
                self._peak_source = _NO_PEAK + str(exc)
        return state.observation(self.meta(), usage, pods)

    def start(self) -> None:
        if self.api is not None:
            return
        api = self._api_factory()
        try:
            call(f"reach the API server at {api.host}", k8s.VersionApi(api.client).get_code)
            call("list nodes", api.core.list_node, limit=1)
        except Exception:
            api.close()
            raise
        self.api = api
        self._writer = KubernetesWriter(
            api, self.namespace, self.read, self.ledger, self._clock.now_s,
            dry_run=self.dry_run, eviction_retries=self.eviction_retries, backoff_s=self.backoff_s,
        )  # fmt: skip

    def stop(self) -> None:
        if self.api is not None:
            self.api.close()
        self.api = None
        self._writer = None

    def read(self) -> ClusterState:
        if self.api is None:
            raise ActionError("the kubernetes backend is not started")
        api, ns = self.api, self.namespace
        nodes = call("list nodes", api.core.list_node).items
        pods = call(f"list pods in namespace {ns}", api.core.list_namespaced_pod, ns).items
        deps = call(f"list deployments in namespace {ns}",
                    api.apps.list_namespaced_deployment, ns).items  # fmt: skip
        return ClusterState(list(nodes), list(pods), list(deps), self._clock.now_s())

    def advance(self) -> None:
        if self.api is None or not self.ledger.active():
            return
        state = self.read()
        healthy = all((d.status.ready_replicas or 0) >= (d.spec.replicas or 0)
                      for d in state.deployments if d.status is not None)  # fmt: skip
        for entry in self.ledger.active():
            kind, _, idx = entry.target.partition(":")
            if kind != "machine" or not idx.isdigit() or int(idx) >= len(state.nodes):
                continue
            m = int(idx)
            pods = state.pods_on(state.nodes[m].metadata.name)
            if entry.kind == "node_failure":
                if (not pods and healthy) or state.truth(m) != MachineState.FAILED:
                    self.ledger.recover(entry, self._clock.now_s())
            elif entry.kind in ("cpu_hog", "intrusion") and all(
                p.metadata.owner_references for p in pods
            ):  # over when no pod without a controller is left on the node
                self.ledger.recover(entry, self._clock.now_s())

    def inject(self, fault: FaultLike) -> str:
        if self.injector is None:
            raise ActionError(
                "the kubernetes backend cannot break nodes through the API: give it an injector "
                "(a chaos tool's adapter) or inject the fault yourself"
            )
        target = self.injector(self, fault)
        if target:
            kind = str(getattr(fault.kind, "value", fault.kind))
            self.ledger.open(kind, target, self._clock.now_s(), "injected by the injector")
        return target

    def record_detection(self, target: str, by: str, kind: str | None = None) -> bool:
        return self.ledger.detect(target, by, kind, self._clock.now_s())

    def fault_rows(self) -> Sequence[dict[str, Any]]:
        return self.ledger.rows()
