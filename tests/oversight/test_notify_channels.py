"""Notification channels end to end against a local receiver: signatures, payload schemas,
retries on 500, giving up on 4xx, timeouts, and a durable outbox that survives a crash."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from autoinfra.core.errors import ConfigError
from autoinfra.oversight.notify import (
    ApprovalNotice,
    Dispatcher,
    IncidentNotice,
    Notifier,
    NotifySettings,
    Outbox,
    PagerDutyChannel,
    RetryPolicy,
    SignatureInvalid,
    SlackChannel,
    WebhookChannel,
    channels_from_settings,
    verify_webhook,
)
from tests.oversight.notify_receiver import Receiver, serve_receiver

SECRET = "s3cret-webhook-key-0123"
FAST = RetryPolicy(max_attempts=3, backoff_base_s=0.01, backoff_max_s=0.05, timeout_s=2.0)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    yield from serve_receiver()


def approval(rid: str = "r-1") -> ApprovalNotice:
    return ApprovalNotice(
        request_id=rid,
        agent="healing",
        action_kind="drain_machine",
        target="machine:7",
        reason="heartbeat lost for 45 s <!channel>",
        risk=0.72,
        digest="d" * 64,
        what_if="usable CPU -0.50, pending tasks +3 after 300 s",
        expires_at_s=2_000_000_000.0,
        url="http://127.0.0.1:1/approvals#r-1",
    )


def incident(phase: str = "trigger") -> IncidentNotice:
    return IncidentNotice(
        incident_id="inc-9",
        kind="node_failure",
        target="machine:7",
        summary="no heartbeat",
        severity="critical",
        phase=phase,
        at_s=1_700_000_000.0,  # type: ignore[arg-type]
        details={"heartbeat_age_s": 45},
    )


def drain(dispatcher: Dispatcher, outbox: Outbox, timeout_s: float = 5.0) -> None:
    """Run passes until nothing is pending (retries are due within milliseconds here)."""
    deadline = time.monotonic() + timeout_s
    while outbox.counts()["pending"] and time.monotonic() < deadline:
        dispatcher.run_once()
        time.sleep(0.01)


def make(
    tmp_path: Path, *channels: object, policy: RetryPolicy = FAST
) -> tuple[Notifier, Dispatcher]:
    outbox = Outbox(tmp_path / "outbox.db")
    by_name = {c.name: c for c in channels}  # type: ignore[attr-defined]
    dispatcher = Dispatcher(outbox, by_name, policy=policy, seed=1)  # type: ignore[arg-type]
    return Notifier(outbox, by_name.values(), dispatcher=dispatcher), dispatcher  # type: ignore[arg-type]


def test_webhook_body_is_signed_and_verifiable(tmp_path: Path, receiver: Receiver) -> None:
    notifier, dispatcher = make(tmp_path, WebhookChannel(receiver.url + "/hook", SECRET))
    assert notifier.approval_pending(approval()) == 1
    drain(dispatcher, notifier.outbox)
    (req,) = receiver.wait_for(1)
    assert req.path == "/hook"
    ts, sig = req.headers["X-Autoinfra-Timestamp"], req.headers["X-Autoinfra-Signature"]
    verify_webhook(SECRET, req.body, ts, sig, now_s=time.time())  # raises if wrong
    body = json.loads(req.body)
    assert body["id"] == "approval:r-1" == req.headers["X-Autoinfra-Event-Id"]
    assert body["type"] == "approval.pending"
    assert body["data"]["what_if"].startswith("usable CPU")
    assert body["data"]["digest"] == "d" * 64
    # a changed byte, a wrong key, or an old timestamp are all refused
    with pytest.raises(SignatureInvalid, match="does not match"):
        verify_webhook(SECRET, req.body + b" ", ts, sig, now_s=time.time())
    with pytest.raises(SignatureInvalid, match="does not match"):
        verify_webhook("another-secret-key!", req.body, ts, sig, now_s=time.time())
    with pytest.raises(SignatureInvalid, match="window"):
        verify_webhook(SECRET, req.body, ts, sig, now_s=time.time() + 301)
    dispatcher.close()


def test_retries_on_500_then_delivers(tmp_path: Path, receiver: Receiver) -> None:
    receiver.statuses = [500, 503]
    notifier, dispatcher = make(tmp_path, WebhookChannel(receiver.url, SECRET))
    notifier.incident(incident())
    drain(dispatcher, notifier.outbox)
    reqs = receiver.wait_for(3)
    assert len(reqs) == 3
    # every attempt is signed afresh and carries the same event id for the receiver to dedupe
    assert len({r.headers["X-Autoinfra-Event-Id"] for r in reqs}) == 1
    (row,) = notifier.outbox.rows()
    assert (row.state, row.attempts) == ("delivered", 3)
    dispatcher.close()


def test_retries_are_bounded_and_4xx_is_not_retried(tmp_path: Path, receiver: Receiver) -> None:
    receiver.statuses = [500] * 10
    notifier, dispatcher = make(tmp_path, WebhookChannel(receiver.url, SECRET))
    notifier.incident(incident())
    drain(dispatcher, notifier.outbox)
    assert len(receiver.requests) == FAST.max_attempts
    (row,) = notifier.outbox.rows()
    assert row.state == "dead" and "HTTP 500" in row.last_error

    receiver.requests.clear()
    receiver.statuses = [400]
    notifier.incident(incident("resolve"))
    drain(dispatcher, notifier.outbox)
    assert len(receiver.requests) == 1
    assert notifier.outbox.rows()[-1].state == "dead"
    dispatcher.close()


def test_timeout_counts_as_a_failed_attempt(tmp_path: Path, receiver: Receiver) -> None:
    receiver.delay_s = 0.5
    policy = RetryPolicy(max_attempts=2, backoff_base_s=0.01, timeout_s=0.1)
    notifier, dispatcher = make(tmp_path, WebhookChannel(receiver.url, SECRET), policy=policy)
    notifier.incident(incident())
    started = time.monotonic()
    dispatcher.run_once()
    assert time.monotonic() - started < 0.45  # the client gave up at its timeout, not the server's
    (row,) = notifier.outbox.rows()
    assert row.state == "pending" and row.attempts == 1 and "Timeout" in row.last_error
    dispatcher.close()


def test_backoff_grows_and_is_capped() -> None:
    import random

    policy = RetryPolicy(backoff_base_s=1.0, backoff_max_s=10.0)
    rng = random.Random(0)
    waits = [policy.delay_s(n, rng) for n in range(1, 7)]
    assert 1.0 <= waits[0] <= 1.25 and 2.0 <= waits[1] <= 2.5 and 4.0 <= waits[2] <= 5.0
    assert all(10.0 <= w <= 12.5 for w in waits[4:])


def test_slack_message_has_buttons_and_escapes_text(tmp_path: Path, receiver: Receiver) -> None:
    notifier, dispatcher = make(tmp_path, SlackChannel(receiver.url + "/slack"))
    notifier.approval_pending(approval())
    notifier.incident(incident())
    notifier.incident(incident("acknowledge"))  # not for Slack
    drain(dispatcher, notifier.outbox)
    reqs = receiver.wait_for(2)
    assert len(reqs) == 2
    msg = json.loads(reqs[0].body)
    assert "drain_machine" in msg["text"]
    (actions,) = [b for b in msg["blocks"] if b["type"] == "actions"]
    by_id = {e["action_id"]: e for e in actions["elements"]}
    assert set(by_id) == {"autoinfra_approve", "autoinfra_reject"}
    assert by_id["autoinfra_approve"]["value"] == "r-1|" + "d" * 64
    assert by_id["autoinfra_approve"]["style"] == "primary"
    texts = json.dumps(msg["blocks"])
    assert "<!channel>" not in texts and "&lt;!channel&gt;" in texts
    assert "What-if" in texts
    for block in msg["blocks"]:
        if block["type"] == "section":
            assert len(block["text"]["text"]) <= 3000
    assert "node_failure" in json.loads(reqs[1].body)["text"]
    dispatcher.close()


def test_pagerduty_events_v2_trigger_ack_resolve(tmp_path: Path, receiver: Receiver) -> None:
    notifier, dispatcher = make(
        tmp_path, PagerDutyChannel("R0UT1NGKEY", receiver.url + "/v2/enqueue")
    )
    for phase in ("trigger", "acknowledge", "resolve"):
        notifier.incident(incident(phase))
    notifier.approval_pending(approval())
    notifier.approval_answered(approval(), approved=True, by="alice")
    drain(dispatcher, notifier.outbox)
    events = [json.loads(r.body) for r in receiver.wait_for(5)]
    assert all(e["routing_key"] == "R0UT1NGKEY" for e in events)
    assert [e["event_action"] for e in events] == [
        "trigger",
        "acknowledge",
        "resolve",
        "trigger",
        "resolve",
    ]
    assert {e["dedup_key"] for e in events[:3]} == {"autoinfra:incident:inc-9"}
    assert events[3]["dedup_key"] == events[4]["dedup_key"] == "autoinfra:approval:r-1"
    trig = events[0]["payload"]
    assert trig["severity"] == "critical" and trig["source"] == "autoinfra"
    assert trig["timestamp"] == "2023-11-14T22:13:20+00:00"
    assert set(trig) >= {"summary", "source", "severity"} and len(trig["summary"]) <= 1024
    assert "payload" not in events[1] and "payload" not in events[2]
    assert events[3]["payload"]["severity"] == "warning"
    dispatcher.close()


def test_outbox_holds_no_secrets_and_dedupes(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "o.db")
    channels = [
        WebhookChannel("http://127.0.0.1:9/", SECRET),
        PagerDutyChannel("R0UT1NGKEY", "http://127.0.0.1:9/"),
    ]
    notifier = Notifier(outbox, channels)
    assert notifier.incident(incident()) == 2
    assert notifier.incident(incident()) == 0  # the same notice twice is queued once
    outbox.close()
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    assert b"R0UT1NGKEY" not in raw and SECRET.encode() not in raw


_CRASH = """
import os, sys
sys.path.insert(0, {src!r})
from autoinfra.oversight.notify import Notifier, Outbox, WebhookChannel, IncidentNotice
n = Notifier(Outbox({db!r}), [WebhookChannel({url!r}, {secret!r})])
n.incident(IncidentNotice("inc-crash", "intrusion", "machine:3", "egress spike"))
os._exit(9)   # die without closing anything, as kill -9 would
"""


def test_crash_after_enqueue_loses_nothing(tmp_path: Path, receiver: Receiver) -> None:
    db = str(tmp_path / "outbox.db")
    src = str(Path(__file__).resolve().parents[2] / "src")
    code = _CRASH.format(src=src, db=db, url=receiver.url, secret=SECRET)
    proc = subprocess.run([sys.executable, "-c", code], timeout=60)
    assert proc.returncode == 9
    assert receiver.requests == []
    # a fresh process (here: this one) opens the outbox and delivers what the dead one queued
    outbox = Outbox(db)
    dispatcher = Dispatcher(outbox, {"webhook": WebhookChannel(receiver.url, SECRET)}, policy=FAST)
    drain(dispatcher, outbox)
    (req,) = receiver.wait_for(1)
    assert json.loads(req.body)["data"]["incident_id"] == "inc-crash"
    dispatcher.close()


def test_background_dispatcher_sends_when_woken(tmp_path: Path, receiver: Receiver) -> None:
    notifier, dispatcher = make(tmp_path, WebhookChannel(receiver.url, SECRET))
    dispatcher.start()
    try:
        notifier.approval_pending(approval("r-bg"))
        (req,) = receiver.wait_for(1, timeout_s=5)
        assert json.loads(req.body)["id"] == "approval:r-bg"
    finally:
        dispatcher.close()


def test_unconfigured_channel_row_dies_with_a_reason(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "o.db")
    outbox.enqueue("gone", "e1", {"x": 1}, now_s=time.time())
    Dispatcher(outbox, {}, policy=FAST).run_once()
    (row,) = outbox.rows()
    assert row.state == "dead" and "not configured" in row.last_error


def test_settings_from_env_and_bad_values() -> None:
    env = {
        "AUTOINFRA_NOTIFY_WEBHOOK_URL": "http://127.0.0.1:9/h",
        "AUTOINFRA_NOTIFY_WEBHOOK_SECRET": SECRET,
        "AUTOINFRA_NOTIFY_PAGERDUTY_ROUTING_KEY": "k",
        "AUTOINFRA_NOTIFY_SLACK_SIGNING_SECRET": "sss",
        "AUTOINFRA_NOTIFY_SLACK_USERS": "U1=alice, U2=bob",
        "AUTOINFRA_NOTIFY_MAX_ATTEMPTS": "4",
    }
    s = NotifySettings.from_env(env)
    assert s.max_attempts == 4 and s.slack_users == {"U1": "alice", "U2": "bob"}
    assert sorted(c.name for c in channels_from_settings(s)) == [
        "pagerduty",
        "slack_response",
        "webhook",
    ]
    with pytest.raises(ConfigError, match="webhook_secret must be set"):
        NotifySettings.from_env({"AUTOINFRA_NOTIFY_WEBHOOK_URL": "http://127.0.0.1:9/"})
    with pytest.raises(ConfigError, match="field 'AUTOINFRA_NOTIFY_MAX_ATTEMPTS'"):
        NotifySettings.from_env({"AUTOINFRA_NOTIFY_MAX_ATTEMPTS": "lots"})
    with pytest.raises(ConfigError, match="field 'pagerduty_url'"):
        NotifySettings.from_mapping({"pagerduty_url": "ftp://x"})
    with pytest.raises(ConfigError, match="field 'nonsense'"):
        NotifySettings.from_mapping({"nonsense": 1})
    with pytest.raises(ConfigError, match="SLACKID=principal"):
        NotifySettings.from_env({"AUTOINFRA_NOTIFY_SLACK_USERS": "U1"})
