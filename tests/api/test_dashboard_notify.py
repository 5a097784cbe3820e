"""The notification bridge over a real simulated service, delivering to local receivers.

The service runs in the test's thread; the bridge polls it by hand, the dispatcher sends by hand,
so every step is deterministic.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from autoinfra.api.dashboard.bridge import NotificationBridge, start_notifications
from autoinfra.oversight.notify import (
    Dispatcher,
    Notifier,
    NotifySettings,
    Outbox,
    PagerDutyChannel,
    RetryPolicy,
    WebhookChannel,
    verify_webhook,
)
from tests.api.conftest import Api
from tests.oversight.notify_receiver import Receiver, serve_receiver

SECRET = "bridge-webhook-secret-0123"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    yield from serve_receiver()


def test_approvals_and_incidents_reach_the_webhook_and_pagerduty(
    api: Api, receiver: Receiver, tmp_path: Path
) -> None:
    outbox = Outbox(tmp_path / "outbox.db")
    channels = [WebhookChannel(receiver.url + "/hook", SECRET),
                PagerDutyChannel("RK", receiver.url + "/pd")]  # fmt: skip
    dispatcher = Dispatcher(outbox, {c.name: c for c in channels},
                            policy=RetryPolicy(max_attempts=2, backoff_base_s=0.01))  # fmt: skip
    bridge = NotificationBridge(api.service, Notifier(outbox, channels),
                                public_url="http://127.0.0.1:8080")  # fmt: skip
    item = api.wait_pending()[0]
    assert bridge.poll_once() >= 2
    dispatcher.run_once()
    hooks = [r for r in receiver.requests if r.path == "/hook"]
    pending = [
        json.loads(r.body) for r in hooks if json.loads(r.body)["type"] == "approval.pending"
    ]
    mine = [p for p in pending if p["data"]["request_id"] == item["request_id"]]
    assert len(mine) == 1
    data = mine[0]["data"]
    assert data["digest"] == item["digest"] and "after 300 s" in data["what_if"]
    assert data["url"].endswith(f"/ui/approvals#req-{item['request_id']}")
    for r in hooks:
        verify_webhook(SECRET, r.body, r.headers["X-Autoinfra-Timestamp"],
                       r.headers["X-Autoinfra-Signature"], now_s=time.time())  # fmt: skip

    # a second poll announces nothing new
    before = len(receiver.requests)
    bridge.poll_once()
    dispatcher.run_once()
    assert len(receiver.requests) == before

    # the approver says yes in the API: the answer goes out, PagerDuty resolves the page
    assert api.vote("approver", item).status_code == 200
    api.run(2)
    bridge.poll_once()
    dispatcher.run_once()
    answered = [json.loads(r.body) for r in receiver.requests if r.path == "/hook"
                and json.loads(r.body)["type"] == "approval.answered"]  # fmt: skip
    assert any(a["data"]["request_id"] == item["request_id"] and a["data"]["approved"]
               and a["data"]["by"] == "approver-1" for a in answered), answered  # fmt: skip
    pd = [json.loads(r.body) for r in receiver.requests if r.path == "/pd"]
    key = f"autoinfra:approval:{item['request_id']}"
    assert [e["event_action"] for e in pd if e["dedup_key"] == key] == ["trigger", "resolve"]

    # run on until a critical incident (node_failure or intrusion) opens and is triggered
    for _ in range(400):
        api.run(5)
        bridge.poll_once()
        dispatcher.run_once()
        triggers = [json.loads(r.body) for r in receiver.requests if r.path == "/pd"]
        triggers = [e for e in triggers if e["dedup_key"].startswith("autoinfra:incident:")]
        if triggers:
            break
    assert triggers, "no critical incident in the demo storm"
    first = triggers[0]
    assert first["event_action"] == "trigger" and first["payload"]["severity"] == "critical"
    assert first["payload"]["class"] in ("node_failure", "intrusion")
    assert outbox.counts()["dead"] == 0


def test_start_notifications_is_off_without_channels_and_on_with_one(
    api: Api, receiver: Receiver, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    api.app.state.notify_settings = NotifySettings()
    assert start_notifications(api.app) is None
    monkeypatch.setenv("AUTOINFRA_NOTIFY_OUTBOX", str(tmp_path / "ob.db"))
    api.app.state.notify_settings = NotifySettings(webhook_url=receiver.url, webhook_secret=SECRET)
    api.wait_pending()
    bridge = start_notifications(api.app)
    assert bridge is not None
    try:
        got = receiver.wait_for(1, timeout_s=10)
        assert json.loads(got[0].body)["type"] == "approval.pending"
    finally:
        bridge.stop()
        api.app.state.notifier.close()


@pytest.mark.slow
def test_served_app_starts_notifications_with_uvicorn(
    receiver: Receiver, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``autoinfra serve`` itself: the router's lifespan starts the bridge, a request goes out."""
    from tests.api.serving import Served

    monkeypatch.setenv("AUTOINFRA_NOTIFY_WEBHOOK_URL", receiver.url + "/served")
    monkeypatch.setenv("AUTOINFRA_NOTIFY_WEBHOOK_SECRET", SECRET)
    monkeypatch.setenv("AUTOINFRA_NOTIFY_PUBLIC_URL", "http://127.0.0.1:1")
    args = ["--demo", "--hours", "1", "--speed", "80", "--state-dir", str(tmp_path / "state")]
    served = Served(tmp_path, args)  # fast: the first fault of the demo storm is at 300 s
    try:
        served.wait_ready()
        got = receiver.wait_for(1, timeout_s=30)
        body = json.loads(got[0].body)
        assert body["type"] in ("approval.pending", "incident.trigger")
        verify_webhook(SECRET, got[0].body, got[0].headers["X-Autoinfra-Timestamp"],
                       got[0].headers["X-Autoinfra-Signature"], now_s=time.time())  # fmt: skip
        assert (tmp_path / "state" / "notify-outbox.db").exists()
    finally:
        served.stop()
