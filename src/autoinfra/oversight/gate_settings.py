"""The gate's settings, as one frozen dataclass, checked when built.

A guard whose setting is NaN, infinite, negative or a share above one is no guard: every
comparison with NaN is false, so ``min_headroom_share: NaN`` once switched the headroom guard off
without a word. Each bad value is a ``ConfigError`` naming the field and what was expected.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from autoinfra.core.errors import ConfigError
from autoinfra.oversight.risk import RiskModel
from autoinfra.telemetry.trust import DEMAND_FALL_MEASURED

__all__ = ["GateSettings"]

# the default fall share must cover what the trace shows, or honest runs would be refused
assert DEMAND_FALL_MEASURED <= 0.2


@dataclass(frozen=True, slots=True)
class GateSettings:
    window_s: float = 600.0  # the sliding window of the rate and blast-radius guards
    max_actions_per_agent: int = 60  # requests per agent per window...
    max_actions_share: float = 0.25  # ...or this share of machines + services, if larger
    max_actions_per_target: int = 10  # requests per agent and target per window
    max_machines_per_window: int = 50  # distinct machines touched / removed per window...
    max_machines_share: float = 0.05  # ...or this share of the cell, if larger
    min_headroom_share: float = 0.10  # free share of schedulable CPU left after a reduction
    # demand is believed to be at least (1 - this) x its peak in the window: the largest fall in
    # honest replays of the shipped trace, rounded up (telemetry.trust)
    demand_fall_share: float = 0.2
    # machines silent longer than this are not capacity: the heartbeat detector's threshold (three
    # missed 5 s beats), so evicting a machine the healer calls lost removes nothing it counts
    heartbeat_limit_s: float = 15.0
    escalate_risk: float = 0.7  # risk at or above this waits for a human
    approval_timeout_s: float | None = None  # unanswered requests are refused after this
    risk: RiskModel = field(default_factory=RiskModel)

    def __post_init__(self) -> None:
        for name in ("window_s", "heartbeat_limit_s"):
            _check_number(name, getattr(self, name), low=0.0, low_open=True)
        for name in ("max_actions_per_agent", "max_actions_per_target"):
            _check_int(name, getattr(self, name), low=1)
        _check_int("max_machines_per_window", self.max_machines_per_window, low=0)
        for name in ("max_actions_share", "max_machines_share"):
            _check_number(name, getattr(self, name), low=0.0, high=1.0)
        _check_number(
            "min_headroom_share", self.min_headroom_share, low=0.0, high=1.0, high_open=True
        )
        _check_number("demand_fall_share", self.demand_fall_share, low=0.0, high=1.0)
        _check_number("escalate_risk", self.escalate_risk, low=0.0, high=1.01, low_open=True)
        if self.approval_timeout_s is not None:
            _check_number("approval_timeout_s", self.approval_timeout_s, low=0.0, low_open=True)
        if not isinstance(self.risk, RiskModel):
            raise ConfigError(f"expected a RiskModel, got {type(self.risk).__name__}", field="risk")


def _check_number(
    name: str,
    value: Any,
    *,
    low: float,
    high: float = math.inf,
    low_open: bool = False,
    high_open: bool = False,
) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if ok:
        ok = (value > low if low_open else value >= low) and (
            value < high if high_open else value <= high
        )
    if not ok:
        lo, hi = "(" if low_open else "[", ")" if high_open else "]"
        raise ConfigError(
            f"expected a finite number in {lo}{low:g}, {high:g}{hi}, got {value!r}", field=name
        )


def _check_int(name: str, value: Any, *, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ConfigError(f"expected an integer >= {low}, got {value!r}", field=name)
