"""Risk of one proposed action, from its kind, its size and the agent's confidence.

Paper section 5.6.2 splits work into low-risk tasks agents handle alone and high-risk ones that go
to a human. The split needs a number: ``risk = base[kind] + size_weight * size + confidence_weight *
(1 - confidence)``, clipped to 0..1. The base risks are our judgement of how hard each action is to
undo and how much it can hurt, not published figures: powering a machine on is cheap to undo;
isolating one cuts a possibly healthy machine off the network. ``size`` is 0 for single-machine
actions and, for a scaling step, the change relative to the current replica count (doubling a
service counts 1.0), so big changes are riskier than small ones; for a request resize, the
change relative to the current CPU request.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from autoinfra.core.actions import ResizeRequests, ScaleService, SetMachinePower
from autoinfra.core.errors import ConfigError
from autoinfra.core.observation import Observation
from autoinfra.core.proposal import Proposal

__all__ = ["DEFAULT_BASE_RISK", "RiskModel"]

DEFAULT_BASE_RISK: Mapping[str, float] = MappingProxyType(
    {
        "scale_service": 0.10,
        "set_machine_power:on": 0.05,  # more capacity; undone by powering off again
        "set_machine_power:off": 0.25,  # fewer machines; a reboot takes minutes to undo
        "drain_machine": 0.35,  # moves every task on the machine
        "evict_tasks": 0.20,  # only ever on a machine already lost
        "kill_process": 0.30,  # stops a process no task accounts for
        "reroute": 0.30,  # shifts a rack's traffic onto its other uplink
        "restore_routes": 0.30,  # shifts it back: as risky as the reroute, on the same links
        "isolate_machine": 0.50,  # cuts a machine off; wrong when the finding was a false alarm
        # new requests for every replica of a service: too small throttles or kills them, but a
        # new resize undoes it; sized by the change in CPU request (a halving counts 0.5)
        "resize_requests": 0.15,
    }
)


def _kind_key(proposal: Proposal) -> str:
    action = proposal.action
    if isinstance(action, SetMachinePower):
        return f"set_machine_power:{'on' if action.on else 'off'}"
    return action.kind


@dataclass(frozen=True, slots=True)
class RiskModel:
    base: Mapping[str, float] = field(default_factory=lambda: DEFAULT_BASE_RISK)
    size_weight: float = 0.6  # a scaling step that doubles a service adds 0.6
    confidence_weight: float = 0.5  # an agent that is 50 % sure adds 0.25
    unknown_kind_risk: float = 0.8  # actions this model has no figure for go to a human

    def __post_init__(self) -> None:
        # a NaN anywhere would make every comparison false and silently switch escalation off
        for name in ("size_weight", "confidence_weight", "unknown_kind_risk"):
            _check_risk(name, getattr(self, name), high=math.inf if "weight" in name else 1.0)
        for kind, value in self.base.items():
            _check_risk(f"base.{kind}", value, high=1.0)

    def size(self, proposal: Proposal, observation: Observation | None) -> float:
        action = proposal.action
        if isinstance(action, ResizeRequests):
            if observation is None or not 0 <= action.service < len(observation.service_ids):
                return 1.0  # no picture to size the change by: as big as it gets
            old = float(observation.service_cpu_request[action.service])
            return min(1.0, abs(action.cpu_request - old) / old) if old > 0 else 1.0
        if not isinstance(action, ScaleService):
            return 0.0
        replicas = 1
        if observation is not None and 0 <= action.service < observation.service_replicas.shape[0]:
            replicas = max(1, int(observation.service_replicas[action.service]))
        return min(1.0, abs(action.delta_replicas) / replicas)

    def score(self, proposal: Proposal, observation: Observation | None = None) -> float:
        base = self.base.get(_kind_key(proposal), self.unknown_kind_risk)
        risk = (
            base
            + self.size_weight * self.size(proposal, observation)
            + self.confidence_weight * (1.0 - min(1.0, max(0.0, proposal.confidence)))
        )
        return min(1.0, max(0.0, risk))


def _check_risk(name: str, value: object, *, high: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"expected a number in [0, {high:g}], got {value!r}", field=name)
    if not (math.isfinite(value) and 0.0 <= value <= high):
        raise ConfigError(f"expected a finite number in [0, {high:g}], got {value!r}", field=name)
