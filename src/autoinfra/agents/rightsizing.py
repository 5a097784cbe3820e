"""The right-sizing agent: services' requests follow their observed usage (Autopilot-style).

A fifth agent beside scaling, healing, energy and security, with its own narrow identity
(``Role.RIGHTSIZER``: ``resize_requests`` on services and nothing else) and so its own budget at
the gate. It looks once a minute: a recommendation reads a window of usage, and a request that
changes more often than its usage does only churns placements. Priority 40, below scaling (50):
on one service in one batch, a replica change wins over a request change, and the arbiter's hold
keeps the right-sizer off a service the scaler just moved.
"""

from __future__ import annotations

from collections.abc import Callable

from autoinfra.agents.base import Agent
from autoinfra.core.budget import GateBudget
from autoinfra.core.protocols import Sensor
from autoinfra.policies.rightsizing import RightSizingPolicy, RightSizingSettings
from autoinfra.security.identity import Identity, Role

__all__ = ["RightSizingAgent"]


class RightSizingAgent(Agent):
    def __init__(
        self,
        sensor: Sensor,
        *,
        settings: RightSizingSettings | None = None,
        budget: Callable[[], GateBudget] | None = None,
        period_s: float = 60.0,
        priority: int = 40,
        agent_id: str = "rightsizing",
    ) -> None:
        policy = RightSizingPolicy(settings, budget=budget)
        s = policy.settings
        super().__init__(
            agent_id,
            sensor=sensor,
            detectors=[],
            policy=policy,
            period_s=period_s,
            priority=priority,
            identity=Identity.for_role(agent_id, Role.RIGHTSIZER),
            description=(
                f"sets services' requests from usage (memory: peak + {s.margin:.0%}; CPU at the "
                f"minimum replicas: p{s.cpu_quantile * 100:.0f} at the planner's target)"
            ),
        )
