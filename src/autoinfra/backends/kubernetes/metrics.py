"""Node and pod usage for the Kubernetes backend from Prometheus, when one is given.

The API server reports what pods *request*, not what they use; usage is the kubelet's (cAdvisor)
and a cluster's Prometheus scrapes it. Four instant queries per observation:

- per node, CPU cores:
  ``sum by (node) (rate(container_cpu_usage_seconds_total{container!=""}[2m]))``
- per node, memory bytes: ``sum by (node) (container_memory_working_set_bytes{container!=""})``
- per pod of the namespace, the same two summed ``by (namespace, pod)`` over its containers
  (``container!="POD"`` too: the pause container of older runtimes is no one's usage). A pod's
  working set is what its memory request is compared with (the request is the sum over the
  containers too), and the per-deployment maximum is right-sizing's memory peak
  (``services.service_extras``).

(the ``node``, ``namespace`` and ``pod`` labels are how kube-prometheus labels cAdvisor series;
other set-ups replace the queries with the keyword arguments ``cpu_query`` / ``mem_query`` /
``pod_cpu_query`` / ``pod_mem_query``; the pod queries are templates with ``{namespace}``, which
is filled in as a quoted PromQL string). A Prometheus that does not answer, or answers an
error, is an ``ActionError`` naming the URL and the query; the backend then falls back for that
observation (node usage to requests, the memory peak to not reported) and says so in
``extra["meta"]``.
"""

from __future__ import annotations

import json

import httpx
import numpy as np

from autoinfra.backends.kubernetes.services import PodUsage
from autoinfra.core.errors import ActionError

__all__ = ["CPU_QUERY", "MEM_QUERY", "POD_CPU_QUERY", "POD_MEM_QUERY", "PrometheusUsage"]

CPU_QUERY = 'sum by (node) (rate(container_cpu_usage_seconds_total{container!=""}[2m]))'
MEM_QUERY = 'sum by (node) (container_memory_working_set_bytes{container!=""})'
POD_CPU_QUERY = (
    "sum by (namespace, pod) (rate(container_cpu_usage_seconds_total"
    '{{container!="", container!="POD", namespace={namespace}}}[2m]))'
)
POD_MEM_QUERY = (
    "sum by (namespace, pod) (container_memory_working_set_bytes"
    '{{container!="", container!="POD", namespace={namespace}}})'
)


class PrometheusUsage:
    def __init__(
        self,
        url: str,
        *,
        cpu_query: str = CPU_QUERY,
        mem_query: str = MEM_QUERY,
        pod_cpu_query: str = POD_CPU_QUERY,
        pod_mem_query: str = POD_MEM_QUERY,
        timeout_s: float = 2.0,
    ) -> None:
        self.url = url.rstrip("/")
        self.cpu_query = cpu_query
        self.mem_query = mem_query
        self.pod_cpu_query = pod_cpu_query
        self.pod_mem_query = pod_mem_query
        self.timeout_s = timeout_s

    def _vector(self, query: str, label: str) -> dict[str, float]:
        try:
            resp = httpx.get(f"{self.url}/api/v1/query", params={"query": query},
                             timeout=self.timeout_s)  # fmt: skip
            body = resp.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise ActionError(f"Prometheus at {self.url} does not answer {query!r}: {exc}") from exc
        if body.get("status") != "success":
            raise ActionError(
                f"Prometheus at {self.url} refused {query!r}: {body.get('error', resp.status_code)}"
            )
        out: dict[str, float] = {}
        for row in body.get("data", {}).get("result", []):
            key = row.get("metric", {}).get(label)
            if key is not None:
                out[str(key)] = float(row["value"][1])
        return out

    def usage(self, nodes: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """CPU cores and memory bytes per node, in ``nodes`` order (0 where no series)."""
        cpu, mem = self._vector(self.cpu_query, "node"), self._vector(self.mem_query, "node")
        return (np.array([cpu.get(n, 0.0) for n in nodes]),
                np.array([mem.get(n, 0.0) for n in nodes]))  # fmt: skip

    def pods(self, namespace: str) -> PodUsage:
        """CPU cores and memory bytes of every pod of ``namespace`` that has series, by name."""
        quoted = json.dumps(namespace)  # a PromQL string literal: JSON's escapes are Go's
        cpu = self._vector(self.pod_cpu_query.format(namespace=quoted), "pod")
        mem = self._vector(self.pod_mem_query.format(namespace=quoted), "pod")
        return PodUsage(cpu_cores=cpu, mem_bytes=mem)
