"""Signatures on what we send and on what Slack sends us: HMAC-SHA256, timestamps, replay windows.

Outgoing webhooks (our scheme, documented in docs/dashboard.md):

    X-Autoinfra-Timestamp: <unix seconds>
    X-Autoinfra-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>." + raw body)>

Signing the timestamp together with the body lets a receiver refuse replays of an old, validly
signed request (a window of five minutes by default) as well as any change to the body.

Incoming Slack interactive callbacks use Slack's v0 scheme: ``X-Slack-Signature`` is ``v0=`` and
the hex HMAC-SHA256, keyed with the app's signing secret, of ``v0:<X-Slack-Request-Timestamp>:``
followed by the raw body. Every comparison is constant-time (``hmac.compare_digest``) so the time a
refusal takes says nothing about how much of a forged signature was right.
"""

from __future__ import annotations

import hashlib
import hmac

from autoinfra.core.errors import AutoinfraError

__all__ = [
    "REPLAY_WINDOW_S",
    "SignatureInvalid",
    "sign_webhook",
    "slack_signature",
    "verify_slack",
    "verify_webhook",
]

REPLAY_WINDOW_S = 300.0  # Slack's documented five minutes; we use the same for our webhooks

TIMESTAMP_HEADER = "X-Autoinfra-Timestamp"
SIGNATURE_HEADER = "X-Autoinfra-Signature"
SLACK_TIMESTAMP_HEADER = "X-Slack-Request-Timestamp"
SLACK_SIGNATURE_HEADER = "X-Slack-Signature"


class SignatureInvalid(AutoinfraError):
    """A signed request failed verification: missing header, bad signature, or too old."""


def _hmac_hex(secret: str, message: bytes) -> str:
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def sign_webhook(secret: str, body: bytes, timestamp_s: int) -> dict[str, str]:
    """The two headers that sign ``body`` at ``timestamp_s`` for our generic webhook."""
    if not secret:
        raise SignatureInvalid("webhook secret is empty; refusing to send an unsigned body")
    ts = str(int(timestamp_s))
    return {
        TIMESTAMP_HEADER: ts,
        SIGNATURE_HEADER: "v1=" + _hmac_hex(secret, ts.encode() + b"." + body),
    }


def _check_timestamp(raw: str | None, now_s: float, window_s: float, header: str) -> int:
    if raw is None or raw == "":
        raise SignatureInvalid(f"missing {header} header")
    try:
        ts = int(raw)
    except ValueError:
        raise SignatureInvalid(f"{header} is not an integer: {raw[:20]!r}") from None
    age_s = now_s - ts
    # refuse the future too: a clock far ahead would otherwise widen the window for a replay
    if abs(age_s) > window_s:
        raise SignatureInvalid(
            f"{header} {ts} is {age_s:.0f} s from now; the window is {window_s:.0f} s"
        )
    return ts


def verify_webhook(
    secret: str,
    body: bytes,
    timestamp: str | None,
    signature: str | None,
    *,
    now_s: float,
    window_s: float = REPLAY_WINDOW_S,
) -> None:
    """Raise :class:`SignatureInvalid` unless ``signature`` signs ``body`` at a fresh ``timestamp``.

    For receivers of our webhooks (and for our own tests of them).
    """
    ts = _check_timestamp(timestamp, now_s, window_s, TIMESTAMP_HEADER)
    if not signature or not signature.startswith("v1="):
        raise SignatureInvalid(f"{SIGNATURE_HEADER} missing or not of the form v1=<hex>")
    expected = "v1=" + _hmac_hex(secret, str(ts).encode() + b"." + body)
    if not hmac.compare_digest(expected.encode(), signature.encode()):
        raise SignatureInvalid(f"{SIGNATURE_HEADER} does not match the body")


def slack_signature(signing_secret: str, body: bytes, timestamp_s: int) -> str:
    """Slack's v0 signature of ``body`` sent at ``timestamp_s`` (what Slack puts in the header)."""
    base = b"v0:" + str(int(timestamp_s)).encode() + b":" + body
    return "v0=" + _hmac_hex(signing_secret, base)


def verify_slack(
    signing_secret: str,
    body: bytes,
    timestamp: str | None,
    signature: str | None,
    *,
    now_s: float,
    window_s: float = REPLAY_WINDOW_S,
) -> None:
    """Raise :class:`SignatureInvalid` unless Slack signed ``body`` less than ``window_s`` ago."""
    if not signing_secret:
        raise SignatureInvalid("Slack signing secret is not configured; callbacks are refused")
    ts = _check_timestamp(timestamp, now_s, window_s, SLACK_TIMESTAMP_HEADER)
    if not signature or not signature.startswith("v0="):
        raise SignatureInvalid(f"{SLACK_SIGNATURE_HEADER} missing or not of the form v0=<hex>")
    expected = slack_signature(signing_secret, body, ts)
    if not hmac.compare_digest(expected.encode(), signature.encode()):
        raise SignatureInvalid(f"{SLACK_SIGNATURE_HEADER} does not match the body")
