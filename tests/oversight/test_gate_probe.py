"""The gate probe (``bench/probe_gate.py``) at a small size, as a regression test: spoofed idle
telemetry drains nothing more than an honest run, a frozen sensor is caught within the staleness
bound, and a flood of escalated drains approved by the 60 s auto-approver keeps the headroom.

Before the guards counted pending escalations, the same escalation case drained every machine
of the slice (0 usable, free CPU share -100 %); see the probe's figures in the report.
"""

from __future__ import annotations

import importlib.util
from types import ModuleType
from typing import Any

import pytest

from autoinfra.oversight import GateSettings
from autoinfra.telemetry.trust import TrustSettings
from tests.conftest import repo_root

MACHINES, WINDOW_S, FROM_S, ESCALATE_AT_S, TICK_S = 60, 1200.0, 300.0, 900.0, 5.0


def _probe(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(repo_root() / "bench"))  # for bench/machine.py
    spec = importlib.util.spec_from_file_location(
        "probe_gate", repo_root() / "bench" / "probe_gate.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def results() -> dict[str, dict[str, Any]]:
    with pytest.MonkeyPatch.context() as mp:
        probe = _probe(mp)
        workload = probe.load_slice(MACHINES, WINDOW_S, 0)
        return {
            case: probe.run_case(
                workload,
                case,
                window_s=WINDOW_S,
                from_s=FROM_S,
                seed=0,
                escalate_at_s=ESCALATE_AT_S,
            )
            for case in probe.CASES
        }


@pytest.mark.slow
def test_spoofed_idle_drains_no_more_than_an_honest_run(results: dict[str, Any]) -> None:
    honest, idle = results["honest"], results["idle"]
    assert honest["safe_mode_entered_s"] is None  # honest telemetry is trusted throughout
    assert idle["safe_mode_delay_s"] is not None and idle["safe_mode_delay_s"] <= TICK_S
    assert idle["drained"] <= honest["drained"] and idle["powered_off"] <= honest["powered_off"]
    assert idle["usable_end"] >= honest["usable_end"]
    assert idle["pending_tasks_end"] <= honest["pending_tasks_end"]


@pytest.mark.slow
def test_a_frozen_sensor_is_caught_within_the_staleness_bound(results: dict[str, Any]) -> None:
    delay = results["frozen"]["safe_mode_delay_s"]
    assert delay is not None and delay <= TrustSettings().max_age_s + TICK_S


@pytest.mark.slow
def test_escalated_drains_keep_the_headroom(results: dict[str, Any]) -> None:
    esc = results["escalate"]
    assert esc["drained"] <= GateSettings().max_machines_per_window
    assert esc["usable_min"] >= MACHINES // 2
    assert esc["free_cpu_share_min"] > GateSettings().min_headroom_share / 2
    # the gate keeps aggregate headroom; a task may still wait for a booting machine when no
    # single machine has room for it (fragmentation), but what waits fits the headroom kept
    assert esc["pending_cpu_share_end"] < GateSettings().min_headroom_share
