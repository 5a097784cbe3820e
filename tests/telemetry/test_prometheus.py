"""PrometheusSensor against a real Prometheus scraping the exporter of a fake cluster."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pytest

from autoinfra.core.clock import WallClock
from autoinfra.core.errors import AutoinfraError
from autoinfra.live.servers import PROMETHEUS_BIN, ManagedServer, start_prometheus
from autoinfra.telemetry.exporter import ExporterServer, ObservationExporter, start_exporter
from autoinfra.telemetry.prometheus import PrometheusError, PrometheusSensor, StaleTelemetry
from autoinfra.telemetry.store import MetricStore
from autoinfra.testing import FakeCluster, InjectedFault

pytestmark = pytest.mark.skipif(
    not __import__("os").path.exists(PROMETHEUS_BIN), reason="prometheus not installed"
)


@dataclass
class Stack:
    fake: FakeCluster
    exporter: ObservationExporter
    http: ExporterServer
    prometheus: ManagedServer

    def sensor(self, **kw: object) -> PrometheusSensor:
        return PrometheusSensor(self.prometheus.url, clock=WallClock(), scrape_interval_s=0.5, **kw)  # type: ignore[arg-type]


def wait_fresh(sensor: PrometheusSensor, timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            sensor.observe()
            return
        except StaleTelemetry:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@pytest.fixture()
def stack() -> Iterator[Stack]:
    fake = FakeCluster(machines=8)
    fake.advance()
    exporter = ObservationExporter("fake")
    exporter.publish(fake.observe())
    http = start_exporter(exporter)
    prom = start_prometheus([http.address], scrape_interval_s=0.5)
    try:
        yield Stack(fake, exporter, http, prom)
    finally:
        prom.stop()
        http.stop()


def test_observation_through_prometheus_matches_the_backend(stack: Stack) -> None:
    stack.fake.inject(InjectedFault("intrusion", "machine:2", cpu_share=0.25))
    stack.fake.advance()
    truth = stack.fake.observe()
    stack.exporter.publish(truth)
    store = MetricStore()
    sensor = stack.sensor(store=store)
    time.sleep(1.2)  # two scrapes of the new snapshot
    wait_fresh(sensor)
    obs = sensor.collect()
    for field in (
        "machine_state",
        "schedulable",
        "cpu_used",
        "tasks_running",
        "egress_mbps",
        "rack",
        "link_rack",
        "link_utilization",
        "service_replicas",
        "service_running",
        "heartbeat_age_s",
    ):
        np.testing.assert_allclose(
            np.asarray(getattr(obs, field), float),
            np.asarray(getattr(truth, field), float),
            rtol=1e-5,
            err_msg=field,
        )
    assert obs.machine_state.dtype == np.int8 and obs.schedulable.dtype == np.bool_
    assert list(obs.machine_ids) == list(truth.machine_ids)
    assert obs.pending_tasks == truth.pending_tasks and obs.power_w == pytest.approx(truth.power_w)
    assert float(obs.egress_mbps[2]) >= 800.0
    assert len(store) == 1 and obs.extra["source"] == "prometheus"
    _, matrix = sensor.range(
        "autoinfra_machine_egress_megabits_per_second", "machine", time.time() - 5, time.time(), 0.5
    )
    assert matrix.shape[1] == 8 and np.nanmax(matrix[:, 2]) >= 800.0
    sensor.close()


def test_promql_error_names_the_query(stack: Stack) -> None:
    sensor = stack.sensor()
    with pytest.raises(PrometheusError, match=r"refused query 'max by \(\(bad'"):
        sensor.client.query("max by ((bad")
    sensor.close()


def test_stale_when_the_exporter_stops_and_when_prometheus_is_gone(stack: Stack) -> None:
    sensor = stack.sensor(stale_after_intervals=3)
    wait_fresh(sensor)
    stack.http.stop()  # the target stops answering: up == 0 at the next scrape
    deadline = time.monotonic() + 10
    with pytest.raises(StaleTelemetry) as err:
        while time.monotonic() < deadline:
            sensor.observe()
            time.sleep(0.2)
    assert err.value.reason in ("target_down", "old_samples", "no_data")
    stack.prometheus.stop()
    with pytest.raises(StaleTelemetry, match="does not answer") as gone:
        sensor.observe()
    assert gone.value.reason == "unreachable"
    sensor.close()


def test_unreachable_url_is_one_clear_error() -> None:
    from autoinfra.live.servers import free_port

    sensor = PrometheusSensor(
        f"http://127.0.0.1:{free_port()}", clock=WallClock(), timeout_s=0.3, retries=1
    )
    with pytest.raises(AutoinfraError, match=r"Prometheus at http://127.0.0.1:\d+ does not answer"):
        sensor.observe()
    sensor.close()
