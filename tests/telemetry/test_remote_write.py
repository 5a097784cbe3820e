"""Perception by remote write: a real Prometheus pushes every scrape into the receiver."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import numpy as np
import pytest

from autoinfra.core.clock import WallClock
from autoinfra.live.servers import PROMETHEUS_BIN, ManagedServer, start_prometheus
from autoinfra.telemetry.exporter import ExporterServer, ObservationExporter, start_exporter
from autoinfra.telemetry.prometheus import PrometheusSensor, StaleTelemetry
from autoinfra.telemetry.remote_write import PushedSamples, RemoteWriteReceiver, start_receiver
from autoinfra.telemetry.wire import DecodedSamples, fnv1a
from autoinfra.testing import FakeCluster, InjectedFault

cramjam = pytest.importorskip("cramjam")


def _rows(
    name: str, index: list[int], values: list[float], ts: int
) -> tuple[DecodedSamples, bytes]:
    raw = name.encode()
    n = len(index)
    return (
        DecodedSamples(
            name_hash=np.full(n, fnv1a(raw), np.uint64),
            name_start=np.zeros(n, np.int64),
            name_len=np.full(n, len(raw), np.int64),
            index=np.asarray(index, np.int64),
            value=np.asarray(values, float),
            timestamp_ms=np.full(n, ts, np.int64),
        ),
        raw,
    )


def test_a_scrape_is_seen_only_when_complete() -> None:
    pushed = PushedSamples(settle_s=1.0)
    pushed.apply(*_rows("a", [0, 1], [1.0, 2.0], 1000), now=0.0)
    pushed.apply(*_rows("b", [0, 1], [3.0, 4.0], 1000), now=0.1)
    assert pushed.latest(now=0.5) is None  # the first scrape: no size known yet, not settled
    first = pushed.latest(now=1.2)
    assert first is not None and first.rows == 4
    np.testing.assert_array_equal(first.series["b"], [3.0, 4.0])
    # the next scrape arrives in two parts: the first part alone is not shown
    pushed.apply(*_rows("a", [0, 1], [5.0, 6.0], 2000), now=2.0)
    assert pushed.latest(now=2.1) is first
    pushed.apply(*_rows("b", [1, 0], [8.0, 7.0], 2000), now=2.2)
    second = pushed.latest(now=2.2)  # as many rows as the last scrape: complete at once
    assert second is not None and second.timestamp_ms == 2000
    np.testing.assert_array_equal(second.series["a"], [5.0, 6.0])
    np.testing.assert_array_equal(second.series["b"], [7.0, 8.0])
    # a late sample of an older scrape changes nothing; a scalar has index -1
    pushed.apply(*_rows("a", [0], [99.0], 1000), now=2.3)
    pushed.apply(*_rows("up", [-1], [1.0], 2000), now=2.4)
    latest = pushed.latest(now=2.4)
    assert latest is not None and latest.series["a"][0] == 5.0 and latest.scalars["up"] == 1.0
    # foreign series (a label we do not export, index -2) are not kept
    pushed.apply(*_rows("foreign", [-2], [1.0], 3000), now=3.0)
    assert pushed.latest(now=9.0) is latest


@dataclass
class Stack:
    fake: FakeCluster
    exporter: ObservationExporter
    http: ExporterServer
    receiver: RemoteWriteReceiver
    prometheus: ManagedServer

    def sensor(self, **kw: object) -> PrometheusSensor:
        return PrometheusSensor(
            self.prometheus.url,
            clock=WallClock(),
            scrape_interval_s=0.5,
            pushed=self.receiver.samples,
            **kw,  # type: ignore[arg-type]
        )


@pytest.fixture()
def stack() -> Iterator[Stack]:
    if not __import__("os").path.exists(PROMETHEUS_BIN):
        pytest.skip("prometheus not installed")
    fake = FakeCluster(machines=8)
    fake.advance()
    exporter = ObservationExporter("fake")
    exporter.publish(fake.observe())
    http = start_exporter(exporter)
    receiver = start_receiver(secrets.token_urlsafe(16))
    prom = start_prometheus(
        [http.address], scrape_interval_s=0.5, remote_write=(receiver.url, receiver.token)
    )
    try:
        yield Stack(fake, exporter, http, receiver, prom)
    finally:
        prom.stop()
        http.stop()
        receiver.stop()


def wait_fresh(sensor: PrometheusSensor, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            sensor.observe()
            return
        except StaleTelemetry:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_pushed_observation_matches_the_backend_and_the_promql_read(stack: Stack) -> None:
    stack.fake.inject(InjectedFault("intrusion", "machine:2", cpu_share=0.25))
    stack.fake.advance()
    truth = stack.fake.observe()
    stack.exporter.publish(truth)
    pushed = stack.sensor()
    polled = PrometheusSensor(stack.prometheus.url, clock=WallClock(), scrape_interval_s=0.5)
    time.sleep(1.5)  # at least two scrapes of the new snapshot
    wait_fresh(pushed)
    wait_fresh(polled)
    obs, via_promql = pushed.collect(), polled.collect()
    assert obs.extra["read"] == "remote_write" and via_promql.extra["read"] == "promql"
    for field in (
        "machine_state",
        "schedulable",
        "cpu_used",
        "cpu_capacity",
        "tasks_running",
        "egress_mbps",
        "rack",
        "link_rack",
        "link_utilization",
        "service_replicas",
        "service_cpu_request",
    ):
        got = np.asarray(getattr(obs, field), float)
        np.testing.assert_allclose(
            got, np.asarray(getattr(truth, field), float), rtol=1e-5, err_msg=field
        )
        np.testing.assert_allclose(
            got, np.asarray(getattr(via_promql, field), float), rtol=1e-5, err_msg=field
        )
    assert list(obs.machine_ids) == list(truth.machine_ids)
    assert obs.power_w == pytest.approx(truth.power_w)
    assert stack.receiver.errors == 0 and stack.receiver.refused == 0
    pushed.close()
    polled.close()


def test_stale_when_the_target_stops_and_when_prometheus_stops_pushing(stack: Stack) -> None:
    sensor = stack.sensor(stale_after_intervals=3)
    wait_fresh(sensor)
    stack.http.stop()  # the target stops answering: up == 0 is pushed at the next scrape
    deadline = time.monotonic() + 10
    with pytest.raises(StaleTelemetry) as err:
        while time.monotonic() < deadline:
            sensor.observe()
            time.sleep(0.2)
    assert err.value.reason in ("target_down", "old_samples"), err.value
    stack.prometheus.stop()  # nothing is pushed any more, and the probe finds nobody there
    time.sleep(sensor.stale_after_s + 0.5)
    with pytest.raises(StaleTelemetry, match="does not answer") as gone:
        sensor.observe()
    assert gone.value.reason == "unreachable"
    sensor.close()


def test_receiver_refuses_without_the_token_and_answers_garbage_with_400() -> None:
    receiver = start_receiver("s3cret-token")
    try:
        body = cramjam.snappy.compress_raw(b"\x0a\x05\x0a\x03")
        r = httpx.post(receiver.url, content=bytes(body))
        assert r.status_code == 401 and receiver.refused == 1
        r = httpx.post(receiver.url, content=bytes(body), headers={"Authorization": "Bearer nope"})
        assert r.status_code == 401
        auth = {"Authorization": "Bearer s3cret-token"}
        r = httpx.post(receiver.url, content=bytes(body), headers=auth)
        assert r.status_code == 400 and "WriteRequest" in r.text and receiver.errors == 1
        r = httpx.post(receiver.url, content=b"not snappy at all", headers=auth)
        assert r.status_code == 400 and receiver.errors == 2
        r = httpx.post(receiver.url.replace("/api/v1/write", "/other"), content=b"", headers=auth)
        assert r.status_code == 404
        assert receiver.samples.latest() is None
    finally:
        receiver.stop()
    with pytest.raises(ValueError, match="non-empty bearer token"):
        start_receiver("")
