"""Alerts through a real Alertmanager: incidents out (v2 API), a team's alerts in (webhook v4).

Out: ``IncidentAlerts`` posts each incident the agents find (a finding of an incident kind on a
target) to ``/api/v2/alerts`` with labels (``alertname``, ``kind``, ``target``, ``agent``,
``severity``, ``source="autoinfra"``) and annotations (summary, description). Alertmanager
fingerprints an alert by its labels, so posting the same incident again updates one alert instead
of making a second (labels never carry the time or the agent's confidence); ``resolve`` posts it
with ``endsAt`` = now when the backend judges the fault recovered. Active alerts are re-posted
every ``repost_s`` (Alertmanager resolves an alert it has not heard of for ``resolve_timeout``).
A safe-mode alert (stale telemetry) uses the same path with ``kind="telemetry_stale"``.

In: ``WebhookReceiver`` is a small HTTP server on 127.0.0.1 accepting Alertmanager's webhook
payload (version "4"), authenticated by a bearer token (Alertmanager's
``http_config.authorization``); a payload that is not version 4 or lacks a field is refused with
400 naming it. Firing alerts become ``Finding``s (``findings()``, or as a ``Detector`` through
``analyze``), so a team's existing Prometheus alert rules reach the agents: the target comes from
a ``target`` label (``machine:3``) or a ``machine`` label (``3``), the kind from a ``kind`` label
or the alert name through ``KIND_BY_ALERTNAME``.
"""

from __future__ import annotations

import hmac
import json
import secrets
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

from autoinfra.core.errors import AutoinfraError, ConfigError
from autoinfra.core.observation import Observation
from autoinfra.core.proposal import Finding

__all__ = [
    "KIND_BY_ALERTNAME",
    "AlertmanagerClient",
    "AlertmanagerError",
    "IncidentAlerts",
    "WebhookReceiver",
    "parse_webhook",
]

KIND_BY_ALERTNAME: dict[str, str] = {
    "NodeDown": "machine_down",
    "InstanceDown": "machine_down",
    "NodeCPUHog": "cpu_hog",
    "HighCPU": "cpu_hog",
    "LinkCongested": "link_congested",
    "UnusualEgress": "intrusion",
}
_REQUIRED = ("version", "status", "receiver", "alerts")
_ALERT_REQUIRED = ("status", "labels", "annotations", "startsAt", "fingerprint")


class AlertmanagerError(AutoinfraError):
    """Alertmanager refused or did not answer: names the URL and the reason."""


def _iso(unix_s: float) -> str:
    return datetime.fromtimestamp(unix_s, UTC).isoformat().replace("+00:00", "Z")


class AlertmanagerClient:
    """``POST /api/v2/alerts`` and ``GET /api/v2/alerts`` with a timeout and retries."""

    def __init__(self, url: str, *, timeout_s: float = 2.0, retries: int = 2) -> None:
        self.url = url.rstrip("/")
        self.retries = retries
        self._http = httpx.Client(base_url=self.url, timeout=timeout_s)

    def close(self) -> None:
        self._http.close()

    def post(self, alerts: Sequence[Mapping[str, Any]]) -> None:
        self._call("POST", "/api/v2/alerts", json=list(alerts))

    def alerts(self, *, active: bool = True) -> list[dict[str, Any]]:
        params = {"active": str(active).lower(), "silenced": "false", "inhibited": "false"}
        resp = self._call("GET", "/api/v2/alerts", params=params)
        return list(resp.json())

    def _call(self, method: str, path: str, **kw: Any) -> httpx.Response:
        last: Exception | None = None
        for attempt in range(self.retries + 1):
            try:
                resp = self._http.request(method, path, **kw)
            except httpx.HTTPError as exc:
                last = exc
                time.sleep(min(0.05 * 2**attempt, 0.5))
                continue
            if resp.status_code >= 400:
                raise AlertmanagerError(
                    f"Alertmanager at {self.url} refused {method} {path}: "
                    f"{resp.status_code} {resp.text[:200]}"
                )
            return resp
        raise AlertmanagerError(f"Alertmanager at {self.url} does not answer ({last})")


@dataclass(slots=True)
class _Open:
    alert: dict[str, Any]
    posted_at: float


class IncidentAlerts:
    """Incidents as Alertmanager alerts: fire, keep alive, resolve (see the module docstring)."""

    def __init__(
        self,
        client: AlertmanagerClient,
        *,
        generator_url: str = "",
        repost_s: float = 60.0,
        wall: Any = time.time,
    ) -> None:
        self.client = client
        self.generator_url = generator_url
        self.repost_s = repost_s
        self._wall = wall
        self._open: dict[tuple[str, str], _Open] = {}
        self.posted = 0  # alerts sent (a repost counts), for reports
        self.errors: list[str] = []  # what Alertmanager refused; a run does not stop for it

    def fire(self, kind: str, target: str, *, agent: str, severity: float, summary: str) -> None:
        key = (kind, target)
        if key in self._open:
            return  # one alert per incident: the same labels are the same alert
        labels = {
            "alertname": "Autoinfra" + "".join(p.title() for p in kind.split("_")),
            "kind": kind,
            "target": target,
            "agent": agent,
            "severity": "critical" if severity >= 0.8 else "warning",
            "source": "autoinfra",
        }
        alert = {
            "labels": labels,
            "annotations": {
                "summary": summary,
                "description": f"{agent} found {kind} on {target} (severity {severity:.2f})",
            },
            "startsAt": _iso(self._wall()),
            "generatorURL": self.generator_url,
        }
        self._open[key] = _Open(alert, self._wall())
        self._send([alert])

    def resolve(self, kind: str, target: str) -> bool:
        got = self._open.pop((kind, target), None)
        if got is None:
            return False
        self._send([got.alert | {"endsAt": _iso(self._wall())}])
        return True

    def resolve_target(self, target: str) -> int:
        """Resolve every open incident on ``target`` (the backend judged it recovered)."""
        keys = [k for k in self._open if k[1] == target]
        for kind, tgt in keys:
            self.resolve(kind, tgt)
        return len(keys)

    def sync(self) -> None:
        now = self._wall()
        due = [o for o in self._open.values() if now - o.posted_at >= self.repost_s]
        for o in due:
            o.posted_at = now
        if due:
            self._send([o.alert for o in due])

    def resolve_all(self) -> None:
        for kind, target in list(self._open):
            self.resolve(kind, target)

    @property
    def open(self) -> list[tuple[str, str]]:
        return sorted(self._open)

    def _send(self, alerts: list[dict[str, Any]]) -> None:
        try:
            self.client.post(alerts)
            self.posted += len(alerts)
        except AlertmanagerError as exc:
            self.errors.append(str(exc))


# -- webhook in ---------------------------------------------------------------------------------
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
