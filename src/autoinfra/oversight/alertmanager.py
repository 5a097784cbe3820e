"""Alerts through a real Alertmanager: incidents out (v2 API), a team's alerts in (webhook v4).

Out: ``IncidentAlerts`` posts each incident the agents find (a finding of an incident kind on a
target) to ``/api/v2/alerts`` with labels (``alertname``, ``kind``, ``target``, ``agent``,
``severity``, ``source="autoinfra"``) and annotations (summary, description). Alertmanager
fingerprints an alert by its labels, so posting the same incident again updates one alert instead
of making a second (labels never carry the time or the agent's confidence); ``resolve`` posts it
with ``endsAt`` = now when the backend judges the fault recovered. Active alerts are re-posted
every ``repost_s`` (Alertmanager resolves an alert it has not heard of for ``resolve_timeout``).
A safe-mode alert (stale telemetry) uses the same path with ``kind="telemetry_stale"``.

In: ``oversight.webhook.WebhookReceiver`` (re-exported here) accepts Alertmanager's webhook
(version 4) and turns firing alerts into findings.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from autoinfra.core.errors import AutoinfraError

# the receiving side lives in ``oversight.webhook``; re-exported so one import serves both ways
from autoinfra.oversight.webhook import KIND_BY_ALERTNAME, WebhookReceiver, parse_webhook

__all__ = [
    "KIND_BY_ALERTNAME",
    "AlertmanagerClient",
    "AlertmanagerError",
    "IncidentAlerts",
    "WebhookReceiver",
    "parse_webhook",
]


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
