"""The live runner end to end on the sim backend, with its own real Prometheus and Alertmanager."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest

from autoinfra.actuators import DryRunActuator
from autoinfra.core.actions import DrainMachine, ScaleService, SetMachinePower
from autoinfra.core.clock import SimClock
from autoinfra.live.report import write_live_report
from autoinfra.live.runner import LiveRunner, LiveSettings
from autoinfra.live.safemode import LiveActuator, holds_in_safe_mode
from autoinfra.live.servers import ALERTMANAGER_BIN, PROMETHEUS_BIN
from autoinfra.oversight.alertmanager import AlertmanagerClient

pytestmark = pytest.mark.skipif(
    not (os.path.exists(PROMETHEUS_BIN) and os.path.exists(ALERTMANAGER_BIN)),
    reason="prometheus / alertmanager not installed",
)


def _settings(tmp_path: Path, **kw: object) -> LiveSettings:
    base: dict[str, object] = dict(
        backend="sim",
        duration_s=8.0,
        faults="node-failure",
        systems=("agents",),
        speed=20.0,
        machines=30,
        fault_lead_s=1.0,
        out_dir=tmp_path / "out",
        scrape_interval_s=0.5,
    )
    base.update(kw)
    return LiveSettings(**base)  # type: ignore[arg-type]


def test_agents_detect_and_recover_a_node_failure_through_prometheus(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    runner = LiveRunner(settings)
    runs = runner.run()
    summary = write_live_report(settings.out_dir, settings, runs, prometheus=runner.prometheus_url)
    rec = summary["systems"]["agents"]["recovery_s"]["node_failure"]
    # node-failure fails two machines (their times shifted to the live run's start together);
    # the 8 s run leaves time for at least one to run its tasks elsewhere again
    assert rec["faults"] == 2 and rec["detected"] == 2 and rec["recovered"] >= 1, rec
    assert 0 <= rec["detect_s"]["mean"] <= rec["recovery_s"]["mean"]
    live = summary["live"]["agents"]
    assert live["audit_chain_verified"] and live["audit_records"] > 0
    assert summary["systems"]["agents"]["actions"]["mean"] > 0
    assert summary["systems"]["agents"]["utilization_cpu"]["mean"] > 0  # seen via Prometheus
    for name in (
        "summary.json",
        "report.md",
        "agents/faults.parquet",
        "agents/actions.parquet",
        "agents/audit.jsonl",
        "agents/journal.jsonl",
    ):
        assert (settings.out_dir / name).exists(), name
    assert json.loads((settings.out_dir / "summary.json").read_text())["schema"].startswith(
        "autoinfra-experiment-summary"
    )
    # every server it started is gone
    assert runner.prometheus is not None and not runner.prometheus.alive()
    assert runner.alertmanager is not None and not runner.alertmanager.alive()


def test_shadow_mode_records_what_agents_would_have_done(tmp_path: Path) -> None:
    settings = _settings(tmp_path, mode="shadow", systems=("agents", "kubernetes-defaults"))
    runner = LiveRunner(settings)
    (run,) = runner.run()
    assert run.name == "kubernetes-defaults" and run.shadow is not None
    assert run.shadow.records, "the agents proposed something beside the baseline"
    assert all(r.status.value != "succeeded" for r in run.shadow.records)
    assert isinstance(run.shadow.runtime.actuator, LiveActuator)
    assert isinstance(run.shadow.runtime.actuator.inner, DryRunActuator)
    calls_by_agents = [
        e
        for e in runner.backend.sim.results().events.itertuples()  # type: ignore[union-attr]
        if str(e.by).startswith(tuple(a.agent_id for a in run.shadow.agents))
    ]
    assert calls_by_agents == [], "nothing the shadow agents proposed reached the cluster"


def test_dry_run_executes_nothing(tmp_path: Path) -> None:
    settings = _settings(tmp_path, dry_run=True)
    (run,) = LiveRunner(settings).run()
    assert run.acting.records
    assert all("dry run" in r.history[-1].why for r in run.acting.records if r.history)
    assert run.faults["mitigated_by"].astype(str).str.len().sum() == 0  # nobody mitigated


def test_safe_mode_while_prometheus_is_stopped(tmp_path: Path) -> None:
    settings = _settings(tmp_path, duration_s=14.0, speed=5.0, faults="none")
    runner = LiveRunner(settings)
    thread = threading.Thread(target=runner.run)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while runner.guard is None or runner.guard.last is None:
            assert time.monotonic() < deadline and thread.is_alive(), "never fresh"
            time.sleep(0.1)
        prom = runner.prometheus
        assert prom is not None
        prom.process.send_signal(signal.SIGSTOP)  # Prometheus hangs: queries time out
        try:
            while not runner.guard.stale:
                assert time.monotonic() < deadline + 10, "safe mode never came"
                time.sleep(0.1)
            am = AlertmanagerClient(runner.alertmanager_url)
            t0 = time.monotonic()
            while not any(a["labels"].get("kind") == "telemetry_stale" for a in am.alerts()):
                assert time.monotonic() - t0 < 8, "no telemetry_stale alert"
                time.sleep(0.2)
            am.close()
        finally:
            prom.process.send_signal(signal.SIGCONT)
        t0 = time.monotonic()
        while runner.guard.stale:
            assert time.monotonic() - t0 < 10, "agents never resumed"
            time.sleep(0.1)
    finally:
        runner.request_stop("test over")
        thread.join(timeout=60)
    (run,) = runner.runs
    kinds = [(t.stale, t.reason) for t in run.guard_transitions]
    assert kinds[0] == (True, "unreachable") and kinds[-1][0] is False, kinds
    assert run.stale_s > 0
    audit = [
        json.loads(x)
        for x in (settings.out_dir / "agents" / "audit.jsonl").read_text().splitlines()
    ]
    assert [a["data"]["stale"] for a in audit if a["event"] == "safe_mode"] == [True, False]


def test_live_actuator_holds_capacity_removal_while_stale() -> None:
    class Guard:
        stale = True
        reason = "unreachable"

    clock = SimClock(0.0)
    inner = DryRunActuator(clock)
    act = LiveActuator(inner, Guard(), clock)  # type: ignore[arg-type]
    act.submit("a", DrainMachine(machine=1))
    act.submit("b", SetMachinePower(machine=2, on=True))
    act.submit("c", ScaleService(service=0, delta_replicas=-1))
    outcomes = {o.request_id: o for o in act.poll()}
    assert set(outcomes) == {"a", "c"} and not outcomes["a"].succeeded
    assert "safe mode" in outcomes["a"].detail
    assert [rid for _, rid, _ in inner.requests] == ["b"]
    assert holds_in_safe_mode(DrainMachine(machine=0))
    assert not holds_in_safe_mode(ScaleService(service=0, delta_replicas=2))
    act.close()
    act.submit("d", SetMachinePower(machine=3, on=True))
    closing = {o.request_id: o.detail for o in act.poll()}
    assert "shutting down" in closing["d"] and "dry run" in closing["b"]


def test_prometheus_killed_mid_run_means_safe_mode_to_the_end(tmp_path: Path) -> None:
    # long enough that a loaded machine still sees staleness (3 scrape intervals) before the end
    settings = _settings(tmp_path, duration_s=15.0, speed=5.0, faults="none")
    runner = LiveRunner(settings)
    thread = threading.Thread(target=runner.run)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while runner.guard is None or runner.guard.last is None:
            assert time.monotonic() < deadline and thread.is_alive(), "never fresh"
            time.sleep(0.1)
        assert runner.prometheus is not None
        runner.prometheus.process.kill()  # gone for good: connection refused from now on
    finally:
        thread.join(timeout=60)
    (run,) = runner.runs
    assert [t.stale for t in run.guard_transitions] == [True]
    assert run.guard_transitions[0].reason == "unreachable"
    assert run.audit_ok and not thread.is_alive()
