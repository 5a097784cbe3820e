"""The kubernetes backend on the test emulator, for the conformance suite and the backend's tests.

``EmulatedBackend`` owns a fresh kmock emulator per backend (started with the backend, stopped
with it) and an injector that plays the chaos tool: a node failure marks the node's Ready
condition Unknown with a stale heartbeat (what the node controller sees when a kubelet dies); a
CPU hog is a pod no controller owns, requesting most of the node. ``stop`` fails if any request
body the backend sent did not validate against the Kubernetes OpenAPI schemas.
"""

from __future__ import annotations

from typing import Any

from autoinfra.backends.kubernetes import build
from autoinfra.backends.kubernetes.api import connect
from autoinfra.backends.kubernetes.backend import KubernetesBackend
from autoinfra.core.cluster import FaultLike
from tests.backends.k8s_emulator import NODES, PODS, EmulatedCluster, node, pod

# checks of the conformance suite the Kubernetes API cannot do, and why
SKIPS = {
    "check_drain_and_power": "the Kubernetes API has no power switch (an autoscaler owns nodes)",
    "check_isolate": "the Kubernetes API does not report a node's egress",
    "check_reroute": "the Kubernetes API does not expose uplinks",
    "check_restore_routes": "the Kubernetes API does not expose uplinks",
}


def emulator_injector(backend: KubernetesBackend, fault: FaultLike) -> str:
    cluster: EmulatedCluster = backend.emulated  # type: ignore[attr-defined]
    kind = str(getattr(fault.kind, "value", fault.kind))
    slot = int(fault.target.split(":")[1])
    name = f"node-{slot}"
    if kind == "node_failure":
        cluster.put(NODES, node(name, zone=f"z{slot // 2}", ready=False))
        return fault.target
    if kind == "cpu_hog":
        cluster.put(PODS, pod(f"hog-{slot}", name, "hog", owned=False, cpu="2"))
        return fault.target
    return ""


class EmulatedBackend(KubernetesBackend):
    def __init__(self, seed: dict[str, Any] | None = None, **kwargs: Any) -> None:
        self.emulated = EmulatedCluster()
        self._seed = seed or {}
        super().__init__(lambda: connect(host=self.emulated.url), injector=emulator_injector,
                         **kwargs)  # fmt: skip

    def start(self) -> None:
        if self.api is None:
            self.emulated.start()
            self.emulated.seed(**self._seed)
        super().start()

    def __enter__(self) -> EmulatedBackend:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()  # as a ``finally``: it also checks every request body validated

    def stop(self) -> None:
        was_up = self.api is not None
        super().stop()
        if was_up:
            self.emulated.stop()
            invalid = self.emulated.emulator.invalid
            assert not invalid, f"request bodies that do not validate: {invalid}"


def kubernetes_factory() -> KubernetesBackend:
    return EmulatedBackend(backoff_s=0.01)


kubernetes_factory.skips = SKIPS  # type: ignore[attr-defined]


def real_factory() -> KubernetesBackend:
    """The same suite on a real cluster (KUBECONFIG): only checks that change nothing lasting."""
    return build(seed=0, scenario=None, options={})
