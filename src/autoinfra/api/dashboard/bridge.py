"""The bridge from a running cluster to the notifiers: watch the service, announce what is new.

A thread polls the :class:`ClusterService` every ``poll_s`` seconds (the same reads the dashboard
makes) and hands the :class:`~autoinfra.oversight.notify.Notifier`:

- each newly pending approval (with its justification and the what-if summary), and its answer
  once it leaves the queue;
- each incident of a critical kind: ``trigger`` when it opens, ``acknowledge`` once an action on it
  was approved or succeeded, ``resolve`` when it recovers.

Polling rather than hooks keeps the service unaware of notifications, and works the same for a
simulated and a live cluster. The notifier's outbox is durable and keyed by event, so announcing
the same event twice (a restart, a second poll) sends it once; incidents already over when the
bridge first looks are not announced at all.

``lifespan`` starts the bridge with the app when any channel is configured (see
``autoinfra.oversight.notify.settings`` for the environment variables).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from autoinfra.api.service import ClusterService, NotFound
from autoinfra.core.incidents import IncidentKind
from autoinfra.oversight.notify import ApprovalNotice, IncidentNotice, Notifier, NotifySettings
from autoinfra.oversight.notify.notices import IncidentPhase

__all__ = ["CRITICAL_KINDS", "NotificationBridge", "lifespan", "what_if_summary"]

_log = logging.getLogger(__name__)
CRITICAL_KINDS = frozenset({IncidentKind.NODE_FAILURE, IncidentKind.INTRUSION})
JSON = dict[str, Any]


def what_if_summary(what_if: JSON | None) -> str:
    """One line a person can read in a chat message: the fork's predicted differences."""
    if not what_if:
        return ""
    delta = what_if.get("delta", {})
    parts = [f"{k.replace('_', ' ')} {v:+g}" for k, v in delta.items() if v]
    body = ", ".join(parts) if parts else "no measurable difference"
    return f"{body} after {what_if.get('horizon_s', 0):g} s (forked world, no agents acting)"


class NotificationBridge:
    def __init__(
        self,
        service: ClusterService,
        notifier: Notifier,
        *,
        public_url: str = "",
        poll_s: float = 2.0,
        critical_kinds: frozenset[str] = CRITICAL_KINDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.service = service
        self.notifier = notifier
        self.public_url = public_url.rstrip("/")
        self.poll_s = poll_s
        self.critical_kinds = critical_kinds
        self.clock = clock
        self._shown: dict[str, ApprovalNotice] = {}
        self._sent: set[str] = set()
        self._first = True
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- one poll --------------------------------------------------------------------------------
    def poll_once(self) -> int:
        """Announce what changed since the last poll; returns how many rows were queued."""
        queued = self._approvals() + self._incidents()
        self._first = False
        return queued

    def _approvals(self) -> int:
        queued = 0
        pending = self.service.proposals("pending", 1000)
        ids = {p["request_id"] for p in pending}
        for p in pending:
            rid = p["request_id"]
            if rid in self._shown:
                continue
            try:
                full = self.service.proposal(rid)
            except NotFound:
                continue
            notice = self._approval_notice(full)
            self._shown[rid] = notice
            queued += self.notifier.approval_pending(notice)
        for rid in [r for r in self._shown if r not in ids]:
            notice = self._shown.pop(rid)
            approved, by = self._answer(rid)
            queued += self.notifier.approval_answered(notice, approved=approved, by=by)
        return queued

    def _approval_notice(self, p: JSON) -> ApprovalNotice:
        action = p.get("action", {})
        target = next((f"{k}:{action[k]}" for k in ("machine", "service", "rack") if k in action),
                      "?")  # fmt: skip
        just = p.get("justification", {})
        reason = just.get("policy_reason") or p.get("reason", "")
        if just.get("findings"):
            found = ", ".join(f"{f['kind']} on {f['target']}" for f in just["findings"])
            reason = f"{reason} (finding: {found})"
        expires_in = p.get("expires_in_s")
        return ApprovalNotice(
            request_id=p["request_id"],
            agent=p.get("agent", ""),
            action_kind=str(action.get("kind", "?")),
            target=target,
            reason=reason,
            risk=float(p.get("risk", 0.0)),
            digest=p.get("digest", ""),
            what_if=what_if_summary(p.get("what_if")),
            expires_at_s=None if expires_in is None else self.clock() + float(expires_in),
            url=f"{self.public_url}/ui/approvals#req-{p['request_id']}" if self.public_url else "",
        )

    def _answer(self, rid: str) -> tuple[bool, str]:
        try:
            p = self.service.proposal(rid)
        except NotFound:
            return False, "unknown"
        history = p.get("history", [])
        for step in reversed(history):
            if step.get("status") in ("approved", "rejected"):
                return step["status"] == "approved", str(step.get("by", ""))
        return p.get("status") not in ("rejected", "expired"), "unknown"

    def _incidents(self) -> int:
        queued = 0
        for inc in self.service.incidents(None, None, None, None):
            if inc.get("kind") not in self.critical_kinds:
                continue
            iid = str(inc["incident_id"])
            closed = inc.get("closed_s") is not None
            if self._first and closed:
                self._sent.update({f"{iid}:trigger", f"{iid}:acknowledge", f"{iid}:resolve"})
                continue
            events = [e.get("event") for e in inc.get("timeline", [])]
            phases: list[IncidentPhase] = ["trigger"]
            if "approved" in events or "mitigated" in events:
                phases.append("acknowledge")
            if closed:
                phases.append("resolve")
            for phase in phases:
                key = f"{iid}:{phase}"
                if key in self._sent:
                    continue
                self._sent.add(key)
                queued += self.notifier.incident(self._incident_notice(inc, phase))
        return queued

    def _incident_notice(self, inc: JSON, phase: IncidentPhase) -> IncidentNotice:
        last = inc.get("timeline", [{}])[-1]
        summary = f"{last.get('event', 'detected')}: {last.get('detail', '')}".strip()
        url = ""
        if self.public_url:
            url = f"{self.public_url}/ui/incidents?target={inc['target']}#inc-{inc['incident_id']}"
        return IncidentNotice(
            incident_id=str(inc["incident_id"]),
            kind=str(inc["kind"]),
            target=str(inc["target"]),
            summary=summary,
            severity="critical",
            phase=phase,
            at_s=self.clock(),
            url=url,
            details={"opened_s": inc.get("opened_s"), "closed_s": inc.get("closed_s"),
                     "severity": inc.get("severity"), "events": len(inc.get("timeline", []))},
        )  # fmt: skip

    # -- the thread ------------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="notify-bridge", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll_once()
            except Exception:  # one failed poll must not end notifications for good
                _log.exception("notification bridge poll failed")
            self._stop.wait(self.poll_s)


def _outbox_path(service: Any) -> Path:
    raw = os.environ.get("AUTOINFRA_NOTIFY_OUTBOX")
    if raw:
        return Path(raw)
    store_path = getattr(getattr(service, "store", None), "path", None)
    if store_path is not None:
        return Path(store_path).parent / "notify-outbox.db"
    from autoinfra.security.tokens import autoinfra_home

    return autoinfra_home() / "state" / "notify-outbox.db"


def start_notifications(app: Any) -> NotificationBridge | None:
    """Build and start notifier + bridge for ``app`` if the settings turn any channel on."""
    settings = getattr(app.state, "notify_settings", None)
    if not isinstance(settings, NotifySettings):
        settings = NotifySettings.from_env()
        app.state.notify_settings = settings
    service = getattr(app.state, "service", None)
    if service is None:
        return None
    notifier = Notifier.from_settings(settings, _outbox_path(service))
    if not notifier.channels:
        notifier.close()
        return None
    app.state.notifier = notifier
    notifier.start()
    bridge = NotificationBridge(service, notifier, public_url=settings.public_url)
    bridge.start()
    app.state.notify_bridge = bridge
    return bridge


@asynccontextmanager
async def lifespan(app: Any) -> AsyncIterator[None]:
    bridge = start_notifications(app)
    try:
        yield
    finally:
        if bridge is not None:
            bridge.stop()
            app.state.notifier.close()
