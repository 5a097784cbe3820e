"""``System``: what an experiment compares, a named runtime with the parameters it was built with.

The autonomous agents, the Kubernetes-defaults rules, the human-operator model and the no-op
control are all Systems, each built by a factory with one signature::

    build(sim, *, seed: int, params: Mapping[str, Any] | None = None) -> System

so the harness treats them alike: after every ``sim.step()`` it calls ``system.tick()``, and at the
end reads ``system.records`` and ``system.audit``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from autoinfra.agents.base import Agent
from autoinfra.agents.runtime import Runtime, RuntimeTick
from autoinfra.core.lifecycle import ActionRecord
from autoinfra.security.audit import AuditLog
from autoinfra.telemetry.store import MetricStore

__all__ = ["System"]


@dataclass
class System:
    name: str
    runtime: Runtime
    params: Mapping[str, Any] = field(default_factory=dict)
    description: str = ""
    metrics: MetricStore | None = None  # the time-series store its sensor fills, if any
    registry_id: str = ""  # stamped by the system registry's make (``system.agents-v1``, ...)

    def tick(self) -> RuntimeTick:
        return self.runtime.tick()

    @property
    def agents(self) -> list[Agent]:
        return self.runtime.agents

    @property
    def records(self) -> list[ActionRecord]:
        return self.runtime.records

    @property
    def audit(self) -> AuditLog:
        return self.runtime.audit

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "registry_id": self.registry_id,
            "description": self.description,
            "params": dict(self.params),
            "agents": [a.describe() for a in self.agents],
        }
