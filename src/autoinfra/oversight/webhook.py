"""Alerts in: Alertmanager's webhook (payload version 4) as findings the agents can act on.

``WebhookReceiver`` is a small HTTP server on 127.0.0.1, authenticated by a bearer token
(Alertmanager's ``http_config.authorization``); a payload that is not version 4 or lacks a field
is refused with 400 naming it. Firing alerts become ``Finding``s (``findings()``, or as a
``Detector`` through ``analyze``), so a team's existing Prometheus alert rules reach the agents:
the target comes from a ``target`` label (``machine:3``) or a ``machine`` label (``3``), the kind
from a ``kind`` label or the alert name through ``KIND_BY_ALERTNAME``. A resolved notification
removes its finding.
"""

from __future__ import annotations

import hmac
import json
import secrets
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from autoinfra.core.errors import ConfigError
from autoinfra.core.incidents import IncidentKind, incident_kind
from autoinfra.core.observation import Observation
from autoinfra.core.proposal import Finding

__all__ = ["KIND_BY_ALERTNAME", "WebhookReceiver", "parse_webhook"]

KIND_BY_ALERTNAME: dict[str, str] = {
    "NodeDown": IncidentKind.NODE_FAILURE,
    "InstanceDown": IncidentKind.NODE_FAILURE,
    "NodeCPUHog": IncidentKind.CPU_HOG,
    "HighCPU": IncidentKind.CPU_HOG,
    "LinkCongested": IncidentKind.NETWORK_CONGESTION,
    "UnusualEgress": IncidentKind.INTRUSION,
}
_REQUIRED = ("version", "status", "receiver", "alerts")
_ALERT_REQUIRED = ("status", "labels", "annotations", "startsAt", "fingerprint")


_REQUIRED = ("version", "status", "receiver", "alerts")
_ALERT_REQUIRED = ("status", "labels", "annotations", "startsAt", "fingerprint")


def parse_webhook(
    payload: Any, *, now_s: float, ignore_sources: Sequence[str] = ()
) -> list[Finding]:
    """Findings from a webhook v4 payload (firing alerts only; alerts whose ``source`` label is
    in ``ignore_sources`` skipped, e.g. our own incidents coming back); ``ConfigError`` naming
    the field when it is not one."""
    if not isinstance(payload, dict):
        raise ConfigError("expected a JSON object", source="webhook")
    for key in _REQUIRED:
        if key not in payload:
            raise ConfigError("missing in the webhook payload", source="webhook", field=key)
    if str(payload["version"]) != "4":
        raise ConfigError(
            f"expected version '4', got {payload['version']!r}", source="webhook", field="version"
        )
    if not isinstance(payload["alerts"], list):
        raise ConfigError("expected a list", source="webhook", field="alerts")
    findings = []
    for i, alert in enumerate(payload["alerts"]):
        for key in _ALERT_REQUIRED:
            if not isinstance(alert, dict) or key not in alert:
                raise ConfigError("missing", source="webhook", field=f"alerts[{i}].{key}")
        if alert["status"] != "firing":
            continue
        labels = dict(alert["labels"])
        if labels.get("source") in ignore_sources:
            continue
        target = labels.get("target") or (
            f"machine:{labels['machine']}" if "machine" in labels else ""
        )
        kind = labels.get("kind") or KIND_BY_ALERTNAME.get(labels.get("alertname", ""), "")
        kind = incident_kind(kind) or kind  # older rules say machine_down / link_congested
        if not target or not kind:
            continue  # an alert about something the agents cannot address
        severity = {"critical": 1.0, "warning": 0.6}.get(labels.get("severity", ""), 0.5)
        findings.append(
            Finding(
                kind,
                target,
                severity,
                now_s,
                {
                    "source": "alertmanager",
                    "alertname": labels.get("alertname", ""),
                    "fingerprint": alert["fingerprint"],
                },
            )
        )
    return findings


@dataclass
class _Inbox:
    token: str
    clock: Any
    ignore_sources: tuple[str, ...] = ()
    firing: dict[str, Finding] = field(default_factory=dict)  # fingerprint -> finding
    received: int = 0
    refused: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Hook(BaseHTTPRequestHandler):
    inbox: _Inbox

    def do_POST(self) -> None:
        inbox = self.inbox
        given = self.headers.get("Authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {inbox.token}".encode()):
            inbox.refused += 1
            self._answer(401, "a bearer token is required")
            return
        try:
            length = int(self.headers.get("Content-Length", "0"))
            payload = json.loads(self.rfile.read(length) or b"null")
            findings = parse_webhook(
                payload, now_s=inbox.clock(), ignore_sources=inbox.ignore_sources
            )
        except (ValueError, ConfigError) as exc:
            inbox.refused += 1
            self._answer(400, str(exc))
            return
        with inbox.lock:
            inbox.received += 1
            for alert in payload["alerts"]:
                if alert["status"] != "firing":
                    inbox.firing.pop(str(alert["fingerprint"]), None)
            for f in findings:
                inbox.firing[str(f.detail["fingerprint"])] = f
        self._answer(200, "ok")

    def _answer(self, code: int, text: str) -> None:
        body = (text + "\n").encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return


class WebhookReceiver:
    """Alertmanager webhook receiver on 127.0.0.1; also a ``Detector`` of what is firing."""

    def __init__(
        self,
        *,
        port: int = 0,
        token: str | None = None,
        clock: Any = None,
        ignore_sources: Sequence[str] = (),
    ) -> None:
        self.token = token or secrets.token_urlsafe(24)
        self._inbox = _Inbox(self.token, clock or time.monotonic, tuple(ignore_sources))
        handler = type("WebhookHandler", (_Hook,), {"inbox": self._inbox})
        try:
            self._server = ThreadingHTTPServer(("127.0.0.1", port), handler)
        except OSError as exc:
            raise ConfigError(
                f"cannot listen on 127.0.0.1:{port} for the Alertmanager webhook: {exc.strerror}",
                field="webhook_port",
            ) from exc
        self._server.daemon_threads = True
        self.port = int(self._server.server_port)
        self._thread = threading.Thread(
            target=self._server.serve_forever, daemon=True, name="autoinfra-webhook"
        )
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    @property
    def received(self) -> int:
        return self._inbox.received

    @property
    def refused(self) -> int:
        return self._inbox.refused

    def findings(self) -> list[Finding]:
        with self._inbox.lock:
            return list(self._inbox.firing.values())

    def analyze(self, observation: Observation) -> list[Finding]:
        return self.findings()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
