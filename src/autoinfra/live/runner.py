"""The live runner: the same Runtime on the wall clock against a backend, each system in turn.

One run (``LiveRunner.run``):

1. start the exporter (``/metrics`` on 127.0.0.1), a Prometheus scraping it and an Alertmanager
   with our webhook receiver, unless ``prometheus_url`` / ``alertmanager_url`` name existing ones
   (checked first: one that does not answer is an error, nothing left running); our own
   Prometheus pushes each scrape to a remote-write receiver the sensor reads from memory, an
   existing one is read with PromQL (``telemetry.prometheus``);
2. for each system: a fresh backend (same seed, same faults), the system built on a view of it
   whose reader is the Prometheus sensor behind a ``TelemetryGuard``; then the loop: the backend
   advances, its observation is published to the exporter, the guard collects once from
   Prometheus, the runtime ticks; findings go to the backend's ground truth and out as alerts;
   recovered faults resolve their alerts;
3. on the end of the duration, or SIGINT/SIGTERM (``request_stop``): the actuator is closed (every
   in-flight action is finished or marked), a last tick records it, the audit log is closed and
   its chain verified, the backend stopped; after the last system every server started is stopped.

``mode="shadow"``: one acting system (the first non-agents system named, else
``kubernetes-defaults``) runs with the agents beside it on a dry-run actuator; what they proposed
is recorded as would-have. ``dry_run``: the acting system's actions are recorded, never executed.

Faults of the scenario are moved earlier so the first comes ``fault_lead_s`` (wall seconds) after
the start, spacing kept: scenario files are written for hour-long replays, live runs are minutes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import secrets
import signal
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from autoinfra.actuators import BackendActuator, DryRunActuator
from autoinfra.actuators.backend import interrupted_in
from autoinfra.agents import System, make_system
from autoinfra.backends import make_backend
from autoinfra.core.clock import Clock
from autoinfra.core.cluster import Backend
from autoinfra.core.errors import ConfigError
from autoinfra.core.incidents import INCIDENT_KINDS
from autoinfra.core.proposal import Finding
from autoinfra.faults.registry import load_scenario
from autoinfra.faults.schedule import draw_times
from autoinfra.faults.spec import FaultScenario
from autoinfra.live.safemode import LiveActuator, SafeModeChange, TelemetryGuard
from autoinfra.live.servers import ManagedServer, start_alertmanager, start_prometheus
from autoinfra.live.settings import BackendView, LiveSettings, SystemRun
from autoinfra.oversight.alertmanager import AlertmanagerClient, IncidentAlerts, WebhookReceiver
from autoinfra.security.audit import AuditLog
from autoinfra.security.audit_key import AuditKey
from autoinfra.security.tokens import autoinfra_home
from autoinfra.telemetry.exporter import ExporterServer, ObservationExporter, start_exporter
from autoinfra.telemetry.prometheus import PrometheusClient, PrometheusSensor, StaleTelemetry
from autoinfra.telemetry.remote_write import RemoteWriteReceiver, start_receiver
from autoinfra.telemetry.store import MetricStore

__all__ = ["LiveRunner", "LiveSettings", "SystemRun"]  # the last two from live.settings

INCIDENTS = INCIDENT_KINDS


def _audit_key() -> AuditKey:
    """The key of live runs' audit chains: in ``$AUTOINFRA_HOME/keys``, never beside the log."""
    return AuditKey.load_or_create(name="live-audit", key_dir=autoinfra_home() / "keys")


class LiveRunner:
    def __init__(self, settings: LiveSettings) -> None:
        settings.check()
        self.s = settings
        self.stop_event = threading.Event()
        self.stop_reason = ""
        self.exporter = ObservationExporter(settings.backend)
        self.http: ExporterServer | None = None
        self.prometheus: ManagedServer | None = None
        self.alertmanager: ManagedServer | None = None
        self.webhook: WebhookReceiver | None = None
        # our own Prometheus pushes each scrape here (remote write); an existing one is queried
        self.receiver: RemoteWriteReceiver | None = None
        self.prometheus_url = settings.prometheus_url or ""
        self.alertmanager_url = settings.alertmanager_url or ""
        self.runs: list[SystemRun] = []
        self.backend: Backend | None = None  # the one running now (tests look at it)
        self.guard: TelemetryGuard | None = None

    # -- lifecycle ------------------------------------------------------------------------------
    def request_stop(self, reason: str = "stop requested") -> None:
        self.stop_reason = self.stop_reason or reason
        self.stop_event.set()

    def install_signal_handlers(self) -> None:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda num, _f: self.request_stop(signal.Signals(num).name))

    def run(self) -> list[SystemRun]:
        try:
            self._start_servers()
            for name, shadow in self._plan():
                if self.stop_event.is_set():
                    break
                self.runs.append(self._run_system(name, shadow))
        finally:
            self._stop_servers()
        return self.runs

    def _plan(self) -> list[tuple[str, str | None]]:
        if self.s.mode == "act":
            return [(name, None) for name in self.s.systems]
        acting = next((n for n in self.s.systems if n != "agents"), "kubernetes-defaults")
        return [(acting, "agents")]

    # -- servers --------------------------------------------------------------------------------
    def _start_servers(self) -> None:
        s = self.s
        if s.prometheus_url:  # an existing one must answer before anything starts
            probe = PrometheusClient(s.prometheus_url, timeout_s=2.0, retries=1)
            try:
                probe.query("1")
            except StaleTelemetry as exc:
                raise ConfigError(str(exc), field="prometheus") from exc
            finally:
                probe.close()
        if s.alertmanager_url:
            am = AlertmanagerClient(s.alertmanager_url, timeout_s=2.0, retries=1)
            try:
                am.alerts()
            finally:
                am.close()
        self.http = start_exporter(self.exporter, s.exporter_port)
        if not s.prometheus_url:
            self.receiver = start_receiver(secrets.token_urlsafe(24))
            self.prometheus = start_prometheus(
                [self.http.address],
                scrape_interval_s=s.scrape_interval_s,
                remote_write=(self.receiver.url, self.receiver.token),
            )
            self.prometheus_url = self.prometheus.url
        # an existing Alertmanager needs the token in its config: take it from the environment
        # (never from the command line, where every user of the machine could read it)
        token = os.environ.get("AUTOINFRA_WEBHOOK_TOKEN") or None
        self.webhook = WebhookReceiver(token=token, ignore_sources=("autoinfra",))
        if not s.alertmanager_url:
            self.alertmanager = start_alertmanager(
                webhook_url=self.webhook.url, webhook_token=self.webhook.token
            )
            self.alertmanager_url = self.alertmanager.url

    def _stop_servers(self) -> None:
        for stop in (
            self.alertmanager.stop if self.alertmanager else None,
            self.webhook.stop if self.webhook else None,
            self.prometheus.stop if self.prometheus else None,
            self.receiver.stop if self.receiver else None,
            self.http.stop if self.http else None,
        ):
            if stop is not None:
                with contextlib.suppress(Exception):  # stop the others whatever one does
                    stop()

    # -- one system -----------------------------------------------------------------------------
    def _scenario(self) -> FaultScenario:
        scenario = load_scenario(self.s.faults)
        if not scenario.faults:
            return scenario
        per_wall = self.s.speed if self.s.backend == "sim" else 1.0
        # windows and counts become fixed times first (seeded), then the whole set is shifted
        timed = draw_times(
            scenario, np.random.default_rng(self.s.seed), run_end_s=self.s.duration_s * per_wall
        )
        scenario = dataclasses.replace(scenario, faults=timed)
        shift = scenario.faults[0].at_s - self.s.fault_lead_s * per_wall
        moved = tuple(
            dataclasses.replace(f, at_s=max(0.0, f.at_s - shift)) for f in scenario.faults
        )
        return dataclasses.replace(scenario, faults=moved)

    def _backend(self) -> Backend:
        options: dict[str, Any] = dict(self.s.backend_options)
        if self.s.machines is not None:
            options.setdefault("machines", self.s.machines)
        if self.s.backend == "sim":
            hours = self.s.duration_s * self.s.speed / 3600.0 + 0.25
            options = {"speed": self.s.speed, "hours": hours} | options
        else:
            options.setdefault("dry_run", self.s.dry_run)
        return make_backend(
            self.s.backend, seed=self.s.seed, scenario=self._scenario(), options=options
        )

    def _run_system(self, name: str, shadow_name: str | None) -> SystemRun:
        s = self.s
        out = s.out_dir / name
        out.mkdir(parents=True, exist_ok=True)
        backend = self.backend = self._backend()
        started = time.monotonic()
        try:
            backend.start()
            clock = backend.clock
            store = MetricStore()
            sensor = PrometheusSensor(
                self.prometheus_url,
                clock=clock,
                store=store,
                scrape_interval_s=s.scrape_interval_s,
                stale_after_intervals=s.stale_after_intervals,
                # a Prometheus that hangs must not hold the loop for long: one interval, one retry
                timeout_s=min(2.0, max(0.5, s.scrape_interval_s)),
                retries=1,
                pushed=self.receiver.samples if self.receiver else None,
            )
            guard = self.guard = TelemetryGuard(sensor, clock)
            alerts = IncidentAlerts(AlertmanagerClient(self.alertmanager_url), repost_s=60.0)
            view = BackendView(backend, guard)
            # the approval queue on disk: a stopped run leaves its pending questions readable
            params = (
                {"approval_queue_path": str(out / "approvals.json")} if name == "agents" else None
            )
            acting = make_system(name, view, seed=s.seed, params=params)
            acting.runtime.audit = AuditLog(out / "audit.jsonl", key=_audit_key())
            reconciled = self._reconcile(out / "journal.jsonl")
            inner = (
                DryRunActuator(clock)
                if s.dry_run
                else BackendActuator(
                    backend.writer, backend.reader, clock, journal_path=out / "journal.jsonl"
                )
            )
            actuator = LiveActuator(inner, guard, clock)
            acting.runtime.actuator = actuator
            for agent in acting.agents:  # a team's alert rules reach the agents as findings
                if agent.agent_id == "healing" and self.webhook is not None:
                    agent.detectors.append(self.webhook)
            counts = {"false_alarms": 0}

            def on_finding(agent_id: str, finding: Finding) -> None:
                if not backend.record_detection(finding.target, agent_id, finding.kind):
                    counts["false_alarms"] += 1
                if finding.kind in INCIDENTS:
                    alerts.fire(
                        finding.kind,
                        finding.target,
                        agent=agent_id,
                        severity=finding.severity,
                        summary=f"{finding.kind} on {finding.target}",
                    )

            acting.runtime.on_finding = on_finding
            shadow, shadow_seen = self._shadow(shadow_name, view, clock, out)

            def on_guard(t: SafeModeChange) -> None:
                target = f"prometheus:{self.prometheus_url}"
                acting.runtime.audit.append(
                    "safe_mode",
                    actor="live-runner",
                    at_s=t.at_s,
                    data={"stale": t.stale, "reason": t.reason, "detail": t.detail},
                )
                if t.stale:
                    alerts.fire(
                        "telemetry_stale",
                        target,
                        agent="live-runner",
                        severity=1.0,
                        summary=f"safe mode: {t.detail}",
                    )
                else:
                    alerts.resolve("telemetry_stale", target)

            guard.on_change = on_guard
            self._await_first_scrape(backend, guard)
            self._loop(backend, guard, acting, shadow, alerts, started)
            by_signal = self.stop_event.is_set()
            actuator.close()
            if shadow is not None:
                shadow.runtime.actuator.close()  # type: ignore[attr-defined]
                shadow.tick()
            acting.tick()  # records what close() marked; nothing new is executed
            alerts.resolve_all()
            alerts.client.close()
            acting.runtime.audit.close()
            # re-read from disk: the chain as stored
            audit = AuditLog(out / "audit.jsonl", key=_audit_key())
            audit_ok, audit_n = audit.verify(), len(audit)
            audit.close()
            faults = pd.DataFrame(backend.fault_rows())
            sensor.close()
            return SystemRun(
                name=name,
                description=acting.description,
                acting=acting,
                shadow=shadow,
                faults=faults,
                store=store,
                guard_transitions=list(guard.transitions),
                stale_s=guard.stale_s,
                held=len(actuator.held),
                false_alarms=counts["false_alarms"],
                wall_s=time.monotonic() - started,
                end_s=clock.now_s(),
                audit_ok=audit_ok,
                audit_records=audit_n,
                stopped_by_signal=by_signal,
                shadow_detections=shadow_seen,
                reconciled=reconciled,
            )
        finally:
            backend.stop()

    @staticmethod
    def _reconcile(journal: Path) -> list[dict[str, Any]]:
        """A previous run of this system into the same folder: what it had in flight when it was
        killed is reported (never executed again: this run's runtime does not know those
        requests), and its journal is kept beside the new one. The new run starts a fresh journal,
        because request ids are stamped from the backend's clock, which starts again at 0."""
        if not journal.exists():
            return []
        found = interrupted_in(journal)
        journal.replace(journal.with_name(f"journal.before-{int(time.time())}.jsonl"))
        return found

    def _shadow(
        self, name: str | None, view: BackendView, clock: Clock, out: Path
    ) -> tuple[System | None, dict[str, float]]:
        seen: dict[str, float] = {}
        if name is None:
            return None, seen
        shadow = make_system(name, view, seed=self.s.seed)
        shadow.runtime.audit = AuditLog(out / "shadow-audit.jsonl", key=_audit_key())
        shadow.runtime.actuator = LiveActuator(DryRunActuator(clock), None, clock)

        def on_finding(agent_id: str, finding: Finding) -> None:
            seen.setdefault(f"{finding.kind}@{finding.target}", clock.now_s())

        shadow.runtime.on_finding = on_finding
        return shadow, seen

    def _await_first_scrape(self, backend: Backend, guard: TelemetryGuard) -> None:
        """Publish the new backend and wait until Prometheus has scraped it."""
        switched = time.time()
        deadline = time.monotonic() + self.s.ready_timeout_s
        while not self.stop_event.is_set():
            backend.advance()
            self.exporter.publish(backend.reader.observe())
            if guard.refresh() and guard.last is not None:
                age = guard.last.extra.get("age_s", math.inf)
                scraped = time.time() - (float(age) if isinstance(age, int | float) else math.inf)
                if scraped >= switched:
                    return
            if time.monotonic() > deadline:
                raise ConfigError(
                    f"Prometheus at {self.prometheus_url} has not scraped the "
                    f"exporter at {self.http.url if self.http else '?'} within "
                    f"{self.s.ready_timeout_s:g} s",
                    field="prometheus",
                )
            self.stop_event.wait(min(0.2, self.s.scrape_interval_s / 2))

    def _loop_s(self, backend: Backend) -> float:
        if self.s.loop_s is not None:
            return self.s.loop_s
        tick_s = getattr(backend, "tick_s", None)  # a paced simulator: one pass a tick
        return max(0.2, float(tick_s) / self.s.speed) if tick_s else 1.0

    def _loop(
        self,
        backend: Backend,
        guard: TelemetryGuard,
        acting: System,
        shadow: System | None,
        alerts: IncidentAlerts,
        started: float,
    ) -> None:
        period = self._loop_s(backend)
        next_at = time.monotonic()
        recovered: set[str] = set()
        while not self.stop_event.is_set() and not backend.done:
            if time.monotonic() - started >= self.s.duration_s:
                break
            backend.advance()
            self.exporter.publish(backend.reader.observe())
            guard.refresh()
            acting.tick()
            if shadow is not None:
                shadow.tick()
            for row in backend.fault_rows():
                target = str(row["target"])
                if not math.isnan(float(row["recovered_s"])) and target not in recovered:
                    recovered.add(target)
                    alerts.resolve_target(target)
            alerts.sync()
            next_at += period
            self.stop_event.wait(max(0.0, next_at - time.monotonic()))
