"""The ``kubernetes`` backend: the agents act on a Kubernetes cluster through its API.

Nodes are machines, deployments are services, pods are tasks; actions go through the scale
subresource, node patches (cordon, taint, label), the Eviction API (PodDisruptionBudgets
respected) and deployment patches; ``dry_run`` makes every write a server-side dry run. Only this
package imports the official ``kubernetes`` client. Tested against kmock, an emulator of the API
server (see docs/live.md), and against a real cluster when KUBECONFIG is set (marker ``k8s_real``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from autoinfra.core.errors import ConfigError

if TYPE_CHECKING:
    from autoinfra.backends.kubernetes.backend import KubernetesBackend

__all__ = ["OPTIONS", "build"]

OPTIONS: dict[str, Any] = {
    "kubeconfig": None,  # path; default $KUBECONFIG
    "context": None,
    "host": None,  # an API server URL without a kubeconfig (the tests' emulator)
    "namespace": "default",
    "dry_run": False,
    "machines": None,  # the runner passes it; a real cluster has the nodes it has
    "eviction_retries": 3,
    "backoff_s": 0.2,
    "injector": None,
    "prometheus": None,  # URL of the cluster's Prometheus: node usage from cAdvisor series
}


def build(*, seed: int, scenario: Any, options: Mapping[str, Any]) -> KubernetesBackend:
    """The ``kubernetes`` backend (not started: ``start`` connects and checks access)."""
    from autoinfra.backends.kubernetes.api import connect
    from autoinfra.backends.kubernetes.backend import KubernetesBackend

    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise ConfigError(f"unknown kubernetes backend option(s) {unknown}; known: "
                          f"{sorted(OPTIONS)}", field=f"backend_options.{unknown[0]}")  # fmt: skip
    o = OPTIONS | dict(options)
    dry = o["dry_run"]
    dry_run = dry if isinstance(dry, bool) else str(dry).lower() in ("1", "true", "yes")

    def api_factory() -> Any:
        return connect(kubeconfig=o["kubeconfig"], host=o["host"], context=o["context"])

    if o["host"] is None:
        api_factory().close()  # a missing kubeconfig is a config error now, not at start
    return KubernetesBackend(api_factory, namespace=str(o["namespace"]), dry_run=dry_run,
                             injector=o["injector"], eviction_retries=int(o["eviction_retries"]),
                             backoff_s=float(o["backoff_s"]),
                             prometheus_url=o["prometheus"])  # fmt: skip
