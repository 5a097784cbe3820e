"""Incidents out to a real Alertmanager and back in through its webhook, as findings."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator

import httpx
import pytest

from autoinfra.core.errors import ConfigError
from autoinfra.live.servers import ALERTMANAGER_BIN, ManagedServer, start_alertmanager
from autoinfra.oversight.alertmanager import (
    AlertmanagerClient,
    IncidentAlerts,
    WebhookReceiver,
    parse_webhook,
)

needs_am = pytest.mark.skipif(not os.path.exists(ALERTMANAGER_BIN), reason="no alertmanager")


@pytest.fixture()
def wired() -> Iterator[tuple[ManagedServer, WebhookReceiver]]:
    hook = WebhookReceiver()
    am = start_alertmanager(webhook_url=hook.url, webhook_token=hook.token)
    try:
        yield am, hook
    finally:
        am.stop()
        hook.stop()


def _until(cond, timeout_s: float = 15.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while not cond():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.1)


@needs_am
def test_incident_fires_dedups_reaches_webhook_and_resolves(
    wired: tuple[ManagedServer, WebhookReceiver],
) -> None:
    am, hook = wired
    client = AlertmanagerClient(am.url)
    alerts = IncidentAlerts(client, repost_s=0.0)
    alerts.fire("node_failure", "machine:3", agent="healing", severity=0.9, summary="no heartbeat")
    alerts.fire("node_failure", "machine:3", agent="healing", severity=0.9, summary="again")
    alerts.sync()  # a repost of the same labels
    _until(lambda: len(client.alerts()) == 1)
    (got,) = client.alerts()
    assert got["labels"]["target"] == "machine:3" and got["labels"]["source"] == "autoinfra"
    assert got["annotations"]["summary"] == "no heartbeat"
    _until(lambda: bool(hook.findings()))
    (finding,) = hook.findings()
    assert (finding.kind, finding.target) == ("node_failure", "machine:3")
    assert finding.detail["source"] == "alertmanager" and hook.refused == 0
    assert alerts.resolve_target("machine:3") == 1
    _until(lambda: not client.alerts())
    _until(lambda: not hook.findings())  # the resolved notification clears the finding
    assert alerts.errors == []
    client.close()


def test_webhook_refuses_without_token_and_bad_payloads() -> None:
    hook = WebhookReceiver(token="s3cret")
    try:
        ok = {
            "version": "4",
            "status": "firing",
            "receiver": "r",
            "alerts": [
                {
                    "status": "firing",
                    "labels": {"alertname": "NodeDown", "machine": "7"},
                    "annotations": {},
                    "startsAt": "2026-01-01T00:00:00Z",
                    "fingerprint": "ab",
                }
            ],
        }
        assert httpx.post(hook.url, json=ok).status_code == 401
        bad = httpx.post(
            hook.url, json=ok | {"version": "3"}, headers={"Authorization": "Bearer s3cret"}
        )
        assert bad.status_code == 400 and "version" in bad.text
        good = httpx.post(
            hook.url, content=json.dumps(ok), headers={"Authorization": "Bearer s3cret"}
        )
        assert good.status_code == 200
        (f,) = hook.findings()
        assert (f.kind, f.target) == ("node_failure", "machine:7")
        assert hook.refused == 2
    finally:
        hook.stop()


def test_parse_names_the_missing_field() -> None:
    with pytest.raises(ConfigError, match=r"alerts\[0\]\.fingerprint"):
        parse_webhook(
            {
                "version": "4",
                "status": "firing",
                "receiver": "r",
                "alerts": [{"status": "firing", "labels": {}, "annotations": {}, "startsAt": "x"}],
            },
            now_s=0.0,
        )


def test_a_teams_alert_becomes_a_healing_proposal() -> None:
    """A NodeDown alert from another team's rule reaches the healing agent, which acts on it."""
    from autoinfra.agents import make_system
    from autoinfra.experiments.systems import ensure_registered
    from autoinfra.testing import FakeCluster

    ensure_registered()
    fake = FakeCluster()
    system = make_system("agents", fake, seed=0)
    hook = WebhookReceiver(token="t")
    try:
        healing = next(a for a in system.agents if a.agent_id == "healing")
        healing.detectors.append(hook)
        alert = {
            "status": "firing",
            "labels": {"alertname": "NodeDown", "machine": "3"},
            "annotations": {},
            "startsAt": "2026-01-01T00:00:00Z",
            "fingerprint": "ab",
        }
        payload = {"version": "4", "status": "firing", "receiver": "r", "alerts": [alert]}
        assert (
            httpx.post(hook.url, json=payload, headers={"Authorization": "Bearer t"}).status_code
            == 200
        )
        fake.advance()
        tick = system.tick()
        proposed = [p.action for r in tick.results if r.agent_id == "healing" for p in r.proposals]
        assert any(getattr(a, "machine", None) == 3 for a in proposed), proposed
    finally:
        hook.stop()
