"""The systems an experiment can compare, registered in the agents' system registry.

The autonomous preset (``system.agents-v1``, typed as ``agents``) is registered by
``autoinfra.agents.registry`` itself. The baselines live here, a layer above, so they are added as
lazy ``"module:function"`` strings: nothing is imported until a run builds the system, and the
agents package never imports the experiments package.
"""

from __future__ import annotations

from autoinfra.agents.registry import list_systems, register_system

# id -> (entry point, the name people type, what it is)
BASELINES: dict[str, tuple[str, str, str]] = {
    "system.kubernetes-defaults-v1": (
        "autoinfra.experiments.baselines.kubernetes:build",
        "kubernetes-defaults",
        "stock Kubernetes controllers with their documented defaults",
    ),
    "system.human-v1": (
        "autoinfra.experiments.baselines.human:build",
        "human",
        "an on-call operator with alerts, a pager and a playbook",
    ),
    "system.noop-v1": (
        "autoinfra.experiments.baselines.noop:build",
        "noop",
        "no agents: the control",
    ),
}


def ensure_registered() -> list[str]:
    """Register the baselines (idempotent: the same entry twice is one registration)."""
    for system_id, (entry, alias, description) in BASELINES.items():
        register_system(system_id, entry, aliases=(alias,), description=description)
    return list_systems()
