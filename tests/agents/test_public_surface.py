"""The agent-loop packages export what docs/architecture.md names, and stay light to import."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

PACKAGES = {
    "autoinfra.agents": {"Agent", "AgentTickResult", "Runtime", "System", "make_system"},
    "autoinfra.actuators": {"SimulatedActuator", "DryRunActuator"},
    "autoinfra.telemetry": {"SimSensor", "MetricStore", "HeartbeatDetector", "CpuHogDetector"},
    "autoinfra.coordination": {"PriorityArbiter"},
    "autoinfra.oversight": {"Gate", "ApprovalQueue", "AutoApproveAfter", "DelayedApprover"},
    "autoinfra.security": {"AuditLog", "Identity", "Scope"},
    "autoinfra.policies": {"make_policy", "list_policies", "register_policy"},
}


@pytest.mark.parametrize("name", sorted(PACKAGES))
def test_exports_resolve_and_include_the_documented_names(name: str) -> None:
    module = importlib.import_module(name)
    exported = set(module.__all__)
    assert PACKAGES[name] <= exported
    for attr in exported:
        assert hasattr(module, attr), f"{name}.{attr}"


def test_agents_import_stays_light() -> None:
    code = (
        "import sys, autoinfra.agents, autoinfra.policies, autoinfra.actuators; "
        "heavy = [m for m in ('torch','stable_baselines3','ray','sklearn','autoinfra.experiments',"
        "'autoinfra.policies.scaling.qtable') if m in sys.modules]; print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
