"""What the gate will still let one agent do: a read-only picture of its remaining budgets.

A policy that plans (``policies.scaling.plan``) must know how much the gate will accept before
it proposes, or it proposes what the gate then refuses: the rate guard once refused 90 % of the
Q-table's one-replica steps because nothing told the policy it had spent its window. The gate
(``oversight.gate.Gate.remaining_budget``) builds a :class:`GateBudget` from its ledger; the
policy reads it through the :class:`BudgetSource` protocol. It lives in ``core`` because the gate
(``oversight``) and the policies are siblings that must not import each other.

The budget is a snapshot, not a reservation: the gate still reviews every proposal, so a policy
that ignores it, or races another, is refused exactly as before.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Protocol, runtime_checkable

__all__ = ["BudgetSource", "GateBudget"]


@dataclass(frozen=True, slots=True)
class GateBudget:
    """One agent's remaining share of the gate's rate guard, and the risk line it escalates at."""

    agent: str
    at_s: float
    window_s: float  # the guards' sliding window
    actions_cap: int  # requests per agent per window (the rate guard's limit for this cell)
    actions_left: int  # of them, not yet taken by approved or waiting requests
    per_target_limit: int  # requests per agent and target per window
    # requests this agent holds per target in the window (targets not named hold none)
    per_target_used: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    escalate_risk: float = 0.7  # risk at or above this waits for a human
    # the risk model's terms for a scaling step: base + size_weight x size + conf_w x (1 - conf)
    scale_base_risk: float = 0.1
    size_weight: float = 0.6
    confidence_weight: float = 0.5
    # the headroom guard's view, for policies that remove capacity: the demand it would judge a
    # removal on now (None: no picture), the free share it keeps, and whether it would refuse
    # every removal on the current picture (demand shown falling faster than it believes)
    believed_demand_cpu: float | None = None
    min_headroom_share: float = 0.1
    removals_blocked: bool = False
    # the blast-radius guard: machines this agent may still touch in the window, machines all
    # agents together may still take capacity from, and the limit both count against
    machines_left: int | None = None
    removals_left: int | None = None
    machines_limit: int | None = None

    def target_left(self, target: str) -> int:
        """Requests this agent may still make on ``target`` in the window."""
        return max(0, self.per_target_limit - int(self.per_target_used.get(target, 0)))

    def max_step_share(self, confidence: float) -> float:
        """The largest |delta| / replicas a scaling step at ``confidence`` may have and still be
        approved at once (risk strictly below ``escalate_risk``); 0 when none can be."""
        conf = min(1.0, max(0.0, float(confidence)))
        room = self.escalate_risk - self.scale_base_risk - self.confidence_weight * (1.0 - conf)
        if room <= 0:
            return 0.0
        if self.size_weight <= 0:
            return math.inf
        # strictly below: shave a hair so a step exactly on the line is not taken as approved
        return max(0.0, room / self.size_weight - 1e-9)


@runtime_checkable
class BudgetSource(Protocol):
    """Anything that can say what budget an agent has left (the gate)."""

    def remaining_budget(self, agent: str) -> GateBudget: ...
