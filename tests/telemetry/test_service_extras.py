"""Right-sizing's per-service inputs (``extra["service_mem_request"]`` and ``["service_mem_peak"]``)
travel backend -> exporter -> a real Prometheus -> the sensor, on both read paths (PromQL and
remote write), and stay absent when the backend did not report them: the live runner's agents
read Prometheus, not the backend."""

from __future__ import annotations

import dataclasses
import secrets
import time
from collections.abc import Iterator

import numpy as np
import pytest

from autoinfra.core.clock import WallClock
from autoinfra.core.observation import Observation
from autoinfra.live.servers import PROMETHEUS_BIN, start_prometheus
from autoinfra.telemetry.exporter import ObservationExporter, render, start_exporter
from autoinfra.telemetry.prometheus import PrometheusSensor, StaleTelemetry
from autoinfra.telemetry.remote_write import start_receiver
from autoinfra.testing import FakeCluster

pytest.importorskip("cramjam")

REQUEST = np.array([0.0078125, 0.03125], np.float32)
PEAK = np.array([0.25, 0.0625], np.float32)


def _with_extras(obs: Observation, **extra: np.ndarray) -> Observation:
    return dataclasses.replace(obs, extra=obs.extra | extra)


def test_the_exporter_serves_the_extras_only_when_the_backend_has_them() -> None:
    obs = FakeCluster().observe()
    plain = render(obs).decode()
    assert "autoinfra_service_mem_peak_units" not in plain
    text = render(_with_extras(obs, service_mem_request=REQUEST, service_mem_peak=PEAK)).decode()
    assert 'autoinfra_service_mem_peak_units{service="0"} 0.25\n' in text
    assert 'autoinfra_service_mem_request_units{service="1"} 0.03125\n' in text
    wrong = render(_with_extras(obs, service_mem_peak=np.zeros(5, np.float32))).decode()
    assert "autoinfra_service_mem_peak_units" not in wrong  # not one value per service


def _read(sensor: PrometheusSensor, want_peak: bool, timeout_s: float = 15.0) -> Observation:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            obs = sensor.observe()
            if ("service_mem_peak" in obs.extra) == want_peak or time.monotonic() > deadline:
                return obs
        except StaleTelemetry:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.2)


@pytest.fixture()
def sensors() -> Iterator[tuple[ObservationExporter, PrometheusSensor, PrometheusSensor]]:
    if not __import__("os").path.exists(PROMETHEUS_BIN):
        pytest.skip("prometheus not installed")
    exporter = ObservationExporter("fake")
    http = start_exporter(exporter)
    receiver = start_receiver(secrets.token_urlsafe(16))
    prom = start_prometheus(
        [http.address], scrape_interval_s=0.5, remote_write=(receiver.url, receiver.token)
    )
    pushed = PrometheusSensor(prom.url, clock=WallClock(), scrape_interval_s=0.5,
                              pushed=receiver.samples)  # fmt: skip
    polled = PrometheusSensor(prom.url, clock=WallClock(), scrape_interval_s=0.5)
    try:
        yield exporter, pushed, polled
    finally:
        pushed.close()
        polled.close()
        prom.stop()
        http.stop()
        receiver.stop()


def test_both_read_paths_carry_the_extras_and_drop_them_when_they_go(
    sensors: tuple[ObservationExporter, PrometheusSensor, PrometheusSensor],
) -> None:
    exporter, pushed, polled = sensors
    obs = FakeCluster().observe()
    exporter.publish(_with_extras(obs, service_mem_request=REQUEST, service_mem_peak=PEAK))
    for sensor, read in ((pushed, "remote_write"), (polled, "promql")):
        got = _read(sensor, want_peak=True)
        assert got.extra["read"] == read
        assert np.asarray(got.extra["service_mem_peak"]).tolist() == pytest.approx(PEAK.tolist())
        request = np.asarray(got.extra["service_mem_request"])
        assert request.tolist() == pytest.approx(REQUEST.tolist())
    # the backend's Prometheus failed: it reports the request, no peak; neither read invents one
    exporter.publish(_with_extras(obs, service_mem_request=REQUEST))
    for sensor in (pushed, polled):
        got = _read(sensor, want_peak=False)
        assert "service_mem_peak" not in got.extra
        assert "service_mem_request" in got.extra
