"""The systems an experiment can compare, registered by name in the agents' system registry.

The autonomous preset (``agents``, ``agents-v1``) is registered by ``autoinfra.agents.registry``
itself. The baselines live here, a layer above, so they are added as lazy ``"module:function"``
strings: nothing is imported until a run builds the system, and the agents package never imports
the experiments package.
"""

from __future__ import annotations

from autoinfra.agents.registry import list_systems, register_system

BASELINES: dict[str, str] = {
    "kubernetes-defaults": "autoinfra.experiments.baselines.kubernetes:build",
    "human": "autoinfra.experiments.baselines.human:build",
    "noop": "autoinfra.experiments.baselines.noop:build",
}


def ensure_registered() -> list[str]:
    """Register the baselines (idempotent: the same entry twice is one registration)."""
    for name, entry in BASELINES.items():
        register_system(name, entry)
    return list_systems()
