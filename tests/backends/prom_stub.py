"""A stand-in Prometheus for the kubernetes backend's tests: a stdlib HTTP server on 127.0.0.1
answering ``/api/v1/query`` with rows a function computes from the query (or an error), and that
function for cAdvisor's series as kube-prometheus labels them."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

from tests.backends.k8s_emulator import NS

__all__ = ["PrometheusStub", "cadvisor_answer"]


class PrometheusStub:
    """A stdlib HTTP server answering /api/v1/query: ``answer(query)`` gives the result rows
    (``{"metric": labels, "value": [t, "v"]}``), or None for an error saying ``error``."""

    def __init__(
        self, answer: Callable[[str], list[dict[str, Any]] | None], error: str = "query timed out"
    ) -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                q = parse_qs(urlparse(self.path).query)["query"][0]
                outer.queries.append(q)
                rows = answer(q)
                if rows is None:
                    body: dict[str, Any] = {"status": "error", "errorType": "execution",
                                            "error": error}  # fmt: skip
                else:
                    body = {"status": "success", "data": {"resultType": "vector", "result": rows}}
                data = json.dumps(body).encode()
                self.send_response(200 if rows is not None else 503)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: object) -> None:
                return

        self.queries: list[str] = []
        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def cadvisor_answer(
    pod_mem: dict[str, float], pod_cpu: dict[str, float]
) -> Callable[[str], list[dict[str, Any]] | None]:
    """Answers as kube-prometheus would: per node (all on node-0) the pods' sums; per pod, the
    pods of namespace ``default``, and an error to a per-pod query that does not filter by it
    (the test then sees no peak)."""

    def answer(q: str) -> list[dict[str, Any]] | None:
        values = pod_cpu if "cpu" in q else pod_mem
        if "by (node)" in q:
            return [{"metric": {"node": "node-0"}, "value": [0, str(sum(values.values()))]}]
        if f'namespace="{NS}"' not in q or 'container!=""' not in q:
            return None
        return [{"metric": {"namespace": NS, "pod": p}, "value": [0, str(v)]}
                for p, v in values.items()]  # fmt: skip

    return answer
