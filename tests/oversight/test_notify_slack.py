"""Slack's signing scheme and the shape of its interactive callbacks, checked without a server."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from urllib.parse import urlencode

import pytest

from autoinfra.oversight.notify import (
    SignatureInvalid,
    SlackPayloadInvalid,
    SlackResponseChannel,
    parse_interaction,
    slack_signature,
    verify_slack,
)

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"


def callback(
    action_id: str = "autoinfra_approve", value: str = "r-1|abc", **extra: object
) -> bytes:
    payload = {
        "type": "block_actions",
        "user": {"id": "U123", "username": "alice"},
        "actions": [{"action_id": action_id, "value": value, "block_id": "autoinfra_approval"}],
        "response_url": "https://hooks.slack.com/actions/T/1/xyz",
        **extra,
    }
    return urlencode({"payload": json.dumps(payload)}).encode()


def test_signature_matches_slacks_documented_recipe() -> None:
    body, ts = b"token=x&team_id=T1", 1531420618
    # the recipe written out independently: v0=hex(hmac_sha256(secret, "v0:ts:body"))
    want = "v0=" + hmac.new(SECRET.encode(), b"v0:1531420618:" + body, hashlib.sha256).hexdigest()
    assert slack_signature(SECRET, body, ts) == want
    verify_slack(SECRET, body, str(ts), want, now_s=ts + 10)


def test_replay_older_than_five_minutes_is_refused() -> None:
    body, now = callback(), time.time()
    old = int(now) - 301
    with pytest.raises(SignatureInvalid, match="window is 300 s"):
        verify_slack(SECRET, body, str(old), slack_signature(SECRET, body, old), now_s=now)
    fresh = int(now) - 299
    verify_slack(SECRET, body, str(fresh), slack_signature(SECRET, body, fresh), now_s=now)
    future = int(now) + 400
    with pytest.raises(SignatureInvalid, match="window"):
        verify_slack(SECRET, body, str(future), slack_signature(SECRET, body, future), now_s=now)


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (lambda b, ts, sig: (b.replace(b"approve", b"reject_"), ts, sig), "does not match"),
        (lambda b, ts, sig: (b, str(int(ts) + 1), sig), "does not match"),
        (lambda b, ts, sig: (b, ts, sig[:-1] + ("0" if sig[-1] != "0" else "1")), "does not match"),
        (lambda b, ts, sig: (b, ts, None), "missing"),
        (lambda b, ts, sig: (b, None, sig), "missing"),
        (lambda b, ts, sig: (b, "soon", sig), "not an integer"),
        (lambda b, ts, sig: (b, ts, "v1=" + sig[3:]), "v0="),
    ],
)
def test_tampering_is_refused(mutate, match) -> None:  # type: ignore[no-untyped-def]
    body, now = callback(), time.time()
    ts = str(int(now))
    sig = slack_signature(SECRET, body, int(ts))
    b2, ts2, sig2 = mutate(body, ts, sig)
    with pytest.raises(SignatureInvalid, match=match):
        verify_slack(SECRET, b2, ts2, sig2, now_s=now)


def test_unconfigured_secret_refuses_everything() -> None:
    body = callback()
    with pytest.raises(SignatureInvalid, match="not configured"):
        verify_slack("", body, "1", slack_signature("", body, 1), now_s=1)


def test_parse_interaction() -> None:
    d = parse_interaction(callback())
    assert (d.request_id, d.digest, d.approved) == ("r-1", "abc", True)
    assert (d.slack_user_id, d.slack_user_name) == ("U123", "alice")
    assert not parse_interaction(callback("autoinfra_reject")).approved


@pytest.mark.parametrize(
    ("body", "match"),
    [
        (b"payload=not-json", "JSON 'payload'"),
        (b"nothing=here", "JSON 'payload'"),
        (b"\xff\xfe", "JSON 'payload'"),
        (urlencode({"payload": json.dumps({"type": "view_submission"})}).encode(), "block_actions"),
        (urlencode({"payload": "[1]"}).encode(), "block_actions"),
        (callback("delete_everything"), "not ours"),
        (callback(value="no-digest"), "value"),
        (callback(value="|abc"), "empty"),
        (callback(user={}), "user.id"),
        (callback(actions=[]), "exactly one"),
    ],
)
def test_bad_callbacks_get_one_line_reasons(body: bytes, match: str) -> None:
    with pytest.raises(SlackPayloadInvalid, match=match) as info:
        parse_interaction(body)
    assert "\n" not in str(info.value)


def test_response_url_must_be_slacks() -> None:
    channel = SlackResponseChannel()
    ok = channel.prepare(
        {"response_url": "https://hooks.slack.com/actions/x", "message": {"text": "t"}}, now_s=0
    )
    assert json.loads(ok.body) == {"replace_original": True, "text": "t"}
    with pytest.raises(SlackPayloadInvalid, match="not under"):
        channel.prepare({"response_url": "http://169.254.169.254/latest", "message": {}}, now_s=0)


def test_long_text_is_clipped_to_block_kit_limits() -> None:
    from autoinfra.oversight.notify import ApprovalNotice
    from autoinfra.oversight.notify.slack import approval_message

    notice = ApprovalNotice(
        request_id="r", agent="a" * 500, action_kind="drain_machine", target="machine:1",
        reason="<" * 5000, risk=0.9, digest="d", what_if="x" * 5000,
    )  # fmt: skip
    msg = approval_message(notice)
    for block in msg["blocks"]:
        if block["type"] == "section":
            assert len(block["text"]["text"]) <= 3000
        if block["type"] == "header":
            assert len(block["text"]["text"]) <= 150
    assert "<<" not in json.dumps(msg["blocks"])  # escaped, even when clipped
