"""The four autonomous agents: scaling, healing, energy and security.

Each is the :class:`Agent` template with its detectors, policy, period, priority and a narrow
identity. Priorities say who wins a conflict (``coordination.PriorityArbiter``): security 90 >
healing 80 > scaling 50 > energy 20 — stopping an intruder or saving stranded work matters more than
a replica count, and a replica count more than a watt. Periods say how often each looks: faults
need seconds, scaling follows 15 s load changes (the HPA's sync period), energy decisions take
minutes to pay off (a boot is about 3 min), so it looks once a minute.

- ``ScalingAgent``: Holt forecaster + the Q-table policy (``scaling.qtable-v1``, built through
  the policy registry, with a given table file or the shipped one); only when its module is absent
  does it fall back to the forecast-driven target-tracking rule, and its description says so.
- ``HealingAgent``: heartbeat, CPU-hog and link-congestion detectors + repair rules, with reroutes
  planned by A* on the rack's predicted uplink loads (``policies.routing``): a rack whose every
  uplink is loaded is not moved onto one of them; optionally a failure predictor that drains
  machines at risk (``extra_policies``).
- ``EnergyAgent``: Holt forecaster (cluster demand) + first-fit-decreasing consolidation with
  hysteresis, or a given policy (the preset gives ``policies.consolidation_plan``).
- ``SecurityAgent``: egress-anomaly detector + isolation.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence

from autoinfra.agents.base import Agent
from autoinfra.core.observation import Observation
from autoinfra.core.proposal import Finding, Outcome, Proposal
from autoinfra.core.protocols import OutcomeAware, Policy, Sensor
from autoinfra.policies.consolidation import ConsolidationPolicy, ConsolidationSettings
from autoinfra.policies.forecast import HoltForecaster, HoltSettings
from autoinfra.policies.healing import HealingSettings, SecurityPolicy
from autoinfra.policies.registry import POLICIES
from autoinfra.policies.routing import AStarReroutePolicy, RoutingSettings
from autoinfra.security.identity import Identity, Role
from autoinfra.telemetry.detectors import (
    CpuHogDetector,
    CpuHogSettings,
    HeartbeatDetector,
    HeartbeatSettings,
    IntrusionDetector,
    IntrusionSettings,
    LinkCongestionDetector,
    LinkCongestionSettings,
)

__all__ = [
    "EnergyAgent",
    "HealingAgent",
    "PolicyChain",
    "ScalingAgent",
    "SecurityAgent",
    "qtable_available",
]

QTABLE_ID = "scaling.qtable-v1"
TARGET_ID = "scaling.target-v1"
QTABLE_MODULE = "autoinfra.policies.scaling.qtable"


def qtable_available() -> bool:
    """True when the Q-table policy's module is installed (the preset's choice depends on it)."""
    return importlib.util.find_spec(QTABLE_MODULE) is not None


class PolicyChain:
    """Several policies behind one ``decide``: their proposals in order, outcomes to each."""

    def __init__(self, policies: Sequence[Policy]) -> None:
        self.policies = list(policies)

    def decide(self, observation: Observation, findings: Sequence[Finding]) -> list[Proposal]:
        out: list[Proposal] = []
        for policy in self.policies:
            out.extend(policy.decide(observation, findings))
        return out

    def observe_outcomes(self, outcomes: Sequence[Outcome], proposals: Sequence[Proposal]) -> None:
        for policy in self.policies:
            if isinstance(policy, OutcomeAware):
                policy.observe_outcomes(outcomes, proposals)


class ScalingAgent(Agent):
    def __init__(
        self,
        sensor: Sensor,
        *,
        policy: Policy | None = None,
        qtable_path: str | None = None,
        forecast: HoltSettings | None = None,
        period_s: float = 15.0,
        priority: int = 50,
        agent_id: str = "scaling",
    ) -> None:
        if policy is not None:
            named = getattr(policy, "summary", None) or getattr(policy, "policy_id", None)
            note = f"policy {type(policy).__name__}" + (f" ({named})" if named else "")
            chosen, note = policy, f"{note} (given)"
        elif qtable_available():
            chosen = POLICIES.make(QTABLE_ID, path=qtable_path)
            note = f"Q-table policy ({QTABLE_ID})"
        else:
            chosen = POLICIES.make(TARGET_ID)
            note = (
                f"FALLBACK: {QTABLE_MODULE} is not installed, so replicas follow the "
                f"forecast-driven target-tracking rule ({TARGET_ID})"
            )
        super().__init__(
            agent_id,
            sensor=sensor,
            detectors=[HoltForecaster(forecast)],
            policy=chosen,
            period_s=period_s,
            priority=priority,
            identity=Identity.for_role(agent_id, Role.SCALER),
            description=f"scales services on Holt forecasts; {note}",
        )


class HealingAgent(Agent):
    def __init__(
        self,
        sensor: Sensor,
        *,
        heartbeat: HeartbeatSettings | None = None,
        cpu_hog: CpuHogSettings | None = None,
        congestion: LinkCongestionSettings | None = None,
        healing: HealingSettings | None = None,
        routing: RoutingSettings | None = None,
        extra_policies: Sequence[Policy] = (),
        period_s: float = 5.0,
        priority: int = 80,
        agent_id: str = "healing",
    ) -> None:
        # The bare rule (reroute off every congested uplink) flapped a rack whose uplinks were
        # all loaded: each reroute put the rack's whole egress on the other link, which the
        # next finding moved back, every 20 s (measured at 600 machines: one link at 1.49 on
        # average, the rack's tasks slowed a third of the time). A* reroutes only on a plan
        # that lowers the rack's predicted peak.
        policy: Policy = AStarReroutePolicy(routing, healing)
        if extra_policies:
            policy = PolicyChain([policy, *extra_policies])
        names = ", ".join(type(p).__name__ for p in extra_policies)
        super().__init__(
            agent_id,
            sensor=sensor,
            detectors=[
                HeartbeatDetector(heartbeat),
                CpuHogDetector(cpu_hog),
                LinkCongestionDetector(congestion),
            ],
            policy=policy,
            period_s=period_s,
            priority=priority,
            identity=Identity.for_role(agent_id, Role.HEALER),
            description="detects lost machines, CPU hogs and congested links and repairs them"
            + (f"; also {names}" if names else ""),
        )


class EnergyAgent(Agent):
    def __init__(
        self,
        sensor: Sensor,
        *,
        consolidation: ConsolidationSettings | None = None,
        forecast: HoltSettings | None = None,
        period_s: float = 60.0,
        priority: int = 20,
        agent_id: str = "energy",
        policy: Policy | None = None,
    ) -> None:
        # plan for demand one boot ahead: a machine powered on now serves in about 3 min
        settings = forecast or HoltSettings(horizon_s=300.0, per_service=False)
        super().__init__(
            agent_id,
            sensor=sensor,
            detectors=[HoltForecaster(settings)],
            policy=policy if policy is not None else ConsolidationPolicy(consolidation),
            period_s=period_s,
            priority=priority,
            identity=Identity.for_role(agent_id, Role.ENERGY),
            description=(
                "packs work onto fewer machines (FFD) and powers idle ones off, keeping forecast "
                "headroom, with hysteresis"
                if policy is None
                else f"consolidates with {type(policy).__name__}: headroom from the boot delay x "
                "usage growth, drains ranked by savings over disruption, disruptive ones to a "
                "person"
            ),
        )


class SecurityAgent(Agent):
    def __init__(
        self,
        sensor: Sensor,
        *,
        intrusion: IntrusionSettings | None = None,
        healing: HealingSettings | None = None,
        period_s: float = 5.0,
        priority: int = 90,
        agent_id: str = "security",
    ) -> None:
        super().__init__(
            agent_id,
            sensor=sensor,
            detectors=[IntrusionDetector(intrusion)],
            policy=SecurityPolicy(healing),
            period_s=period_s,
            priority=priority,
            identity=Identity.for_role(agent_id, Role.SECURITY),
            description="finds egress no CPU use explains and isolates the machine",
        )
