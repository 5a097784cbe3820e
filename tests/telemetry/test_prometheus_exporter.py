"""The exporter's fast text rendering says exactly what prometheus-client's own would say."""

from __future__ import annotations

import httpx
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from autoinfra.telemetry.exporter import ObservationExporter, render, start_exporter
from autoinfra.testing import FakeCluster, InjectedFault


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for fam in text_string_to_metric_families(text)
        for s in fam.samples
    }


def test_render_matches_generate_latest_and_is_served() -> None:
    fake = FakeCluster(machines=6)
    fake.inject(InjectedFault("intrusion", "machine:1"))
    fake.advance()
    obs = fake.observe()
    exporter = ObservationExporter("fake")
    exporter.publish(obs)
    ours = _samples(render(obs).decode())
    theirs = _samples(generate_latest(exporter.registry).decode())
    assert ours == theirs and len(ours) > 6 * 10
    assert ours[("autoinfra_machine_egress_megabits_per_second", (("machine", "1"),))] >= 800
    assert ours[("autoinfra_machine_up", (("machine", "0"),))] == 1.0
    server = start_exporter(exporter)
    try:
        resp = httpx.get(server.url)
        assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/plain")
        assert _samples(resp.text) == ours
        assert httpx.get(server.url.replace("/metrics", "/other")).status_code == 404
    finally:
        server.stop()


def test_nothing_published_serves_nothing() -> None:
    exporter = ObservationExporter()
    assert exporter.exposition() == b"" and list(exporter.collect()) == []
