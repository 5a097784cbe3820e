"""The kubernetes backend's PromQL against a real Prometheus (Debian's), scraping a small
prometheus_client exporter on 127.0.0.1 that serves cAdvisor-shaped series the way
kube-prometheus labels them (``namespace``, ``pod``, ``container``, ``node``).

What a canned HTTP answer cannot show: that the queries parse, that the ``container!=""``
pod-level series and the ``POD`` pause container are left out, that another namespace's pods are
not ours, and that ``rate`` over the CPU counters gives cores.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator

import numpy as np
import pytest
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from autoinfra.live.servers import PROMETHEUS_BIN, free_port, start_prometheus
from tests.backends.k8s_factory import EmulatedBackend

pytestmark = pytest.mark.skipif(
    not __import__("os").path.exists(PROMETHEUS_BIN), reason="prometheus not installed"
)

GI = 2**30
# (namespace, pod, container, node) -> (memory working set bytes, CPU cores)
SERIES = {
    ("default", "svc-0-0", "main", "node-0"): (1.0 * GI, 0.5),
    ("default", "svc-0-1", "main", "node-1"): (1.5 * GI, 1.0),
    ("default", "svc-0-1", "sidecar", "node-1"): (0.5 * GI, 0.5),  # a pod sums its containers
    ("default", "svc-0-1", "POD", "node-1"): (3.0 * GI, 0.1),  # pause container: not usage
    ("default", "svc-0-1", "", "node-1"): (9.0 * GI, 1.5),  # the pod cgroup: counted already
    ("default", "svc-1-0", "main", "node-0"): (0.25 * GI, 0.2),
    ("default", "svc-1-1", "main", "node-1"): (0.75 * GI, 0.2),
    ("other", "svc-0-0", "main", "node-0"): (7.0 * GI, 3.0),  # same name, another namespace
}


class _Cadvisor:
    """Gauges as they are; CPU counters grow at their cores per second of wall time."""

    def __init__(self) -> None:
        self.t0 = time.monotonic()

    def collect(self) -> Iterable[Metric]:
        labels = ["namespace", "pod", "container", "node"]
        mem = GaugeMetricFamily("container_memory_working_set_bytes", "bytes", labels=labels)
        cpu = CounterMetricFamily("container_cpu_usage_seconds_total", "seconds", labels=labels)
        elapsed = time.monotonic() - self.t0
        for key, (nbytes, cores) in SERIES.items():
            mem.add_metric(list(key), nbytes)
            cpu.add_metric(list(key), 100.0 + cores * elapsed)
        return [mem, cpu]


@pytest.fixture()
def prometheus_url() -> Iterator[str]:
    registry = CollectorRegistry()
    registry.register(_Cadvisor())  # type: ignore[arg-type]
    port = free_port()
    http, thread = start_http_server(port, addr="127.0.0.1", registry=registry)
    prom = start_prometheus([f"127.0.0.1:{port}"], scrape_interval_s=0.5)
    try:
        yield prom.url
    finally:
        prom.stop()
        http.shutdown()
        http.server_close()
        thread.join(timeout=5)


def test_peaks_and_usage_come_from_real_promql(prometheus_url: str) -> None:
    b = EmulatedBackend(seed={"nodes": 2, "services": 2, "replicas": 2},
                        prometheus_url=prometheus_url)  # fmt: skip
    b.start()
    try:
        deadline = time.monotonic() + 15.0
        while True:  # until two scrapes are in (rate needs two samples of a counter)
            obs = b.reader.observe()
            peak = obs.extra.get("service_mem_peak")
            ready = isinstance(peak, np.ndarray) and float(obs.service_cpu_used.sum()) > 0
            if ready or time.monotonic() > deadline:
                break
            time.sleep(0.25)
        assert isinstance(peak, np.ndarray), obs.extra["meta"]
        # svc-0: its larger replica svc-0-1 is 1.5 + 0.5 GiB (main + sidecar), of 8 GiB nodes;
        # svc-1: 0.75 GiB. Neither the POD nor the pod-level series nor namespace other count
        assert peak.tolist() == pytest.approx([2.0 / 8, 0.75 / 8])
        # rate() of the counters: svc-0 0.5 + 1.0 + 0.5 cores, svc-1 0.4. Series seconds old
        # are under-read by rate over [2m] (Prometheus extrapolates at most half a scrape
        # interval past the samples), by the same factor for all: scraped at the same instants
        cpu = obs.service_cpu_used.tolist()
        assert cpu[1] > 0 and cpu[0] / cpu[1] == pytest.approx(2.0 / 0.4, rel=0.05)
        # per node: every container!="" series of the node, whatever its namespace (as before)
        assert obs.mem_used.tolist() == pytest.approx([8.25 / 8, 5.75 / 8])
        assert obs.extra["meta"]["mem_peak_source"] == f"Prometheus at {prometheus_url}"  # type: ignore[index]
    finally:
        b.stop()
