"""Node usage for the Kubernetes backend from Prometheus, when one is given.

The API server reports what pods *request*, not what they use; usage is the kubelet's (cAdvisor)
and a cluster's Prometheus scrapes it. Two instant queries per observation, summed by node:

- CPU cores: ``sum by (node) (rate(container_cpu_usage_seconds_total{container!=""}[2m]))``
- memory bytes: ``sum by (node) (container_memory_working_set_bytes{container!=""})``

(the ``node`` label is how kube-prometheus labels cAdvisor series; both queries can be replaced
with options ``cpu_query`` / ``mem_query`` for other set-ups). A Prometheus that does not answer,
or answers an error, is an ``ActionError`` naming the URL and the query; the backend then falls
back to requests for that observation and says so in ``extra["meta"]["usage_source"]``.
"""

from __future__ import annotations

import httpx
import numpy as np

from autoinfra.core.errors import ActionError

__all__ = ["CPU_QUERY", "MEM_QUERY", "PrometheusUsage"]

CPU_QUERY = 'sum by (node) (rate(container_cpu_usage_seconds_total{container!=""}[2m]))'
MEM_QUERY = 'sum by (node) (container_memory_working_set_bytes{container!=""})'


class PrometheusUsage:
    def __init__(self, url: str, *, cpu_query: str = CPU_QUERY, mem_query: str = MEM_QUERY,
                 timeout_s: float = 2.0) -> None:  # fmt: skip
        self.url = url.rstrip("/")
        self.cpu_query = cpu_query
        self.mem_query = mem_query
        self.timeout_s = timeout_s

    def _vector(self, query: str) -> dict[str, float]:
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
            node = row.get("metric", {}).get("node")
            if node is not None:
                out[str(node)] = float(row["value"][1])
        return out

    def usage(self, nodes: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """CPU cores and memory bytes per node, in ``nodes`` order (0 where no series)."""
        cpu, mem = self._vector(self.cpu_query), self._vector(self.mem_query)
        return (np.array([cpu.get(n, 0.0) for n in nodes]),
                np.array([mem.get(n, 0.0) for n in nodes]))  # fmt: skip
