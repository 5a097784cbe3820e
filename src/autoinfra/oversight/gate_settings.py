"""The gate's settings, as one frozen dataclass, checked when built.

A guard whose setting is NaN, infinite, negative or a share above one is no guard: every
comparison with NaN is false, so ``min_headroom_share: NaN`` once switched the headroom guard off
without a word. The bounds are declared on the fields and checked by pydantic
(``core.documents.check_fields``); each bad value is a ``ConfigError`` naming the field and what
was expected.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

from pydantic import Field

from autoinfra.core.documents import check_fields
from autoinfra.oversight.risk import RiskModel
from autoinfra.telemetry.trust import DEMAND_FALL_MEASURED

__all__ = ["GateSettings"]

# the default fall share must cover what the trace shows, or honest runs would be refused
assert DEMAND_FALL_MEASURED <= 0.2


Positive = Annotated[float, Field(gt=0)]
Share = Annotated[float, Field(ge=0, le=1)]


@dataclass(frozen=True, slots=True)
class GateSettings:
    window_s: Positive = 600.0  # the sliding window of the rate and blast-radius guards
    max_actions_per_agent: Annotated[int, Field(ge=1)] = 60  # requests per agent per window...
    max_actions_share: Share = 0.25  # ...or this share of machines + services, if larger
    max_actions_per_target: Annotated[int, Field(ge=1)] = 10  # per agent and target per window
    max_machines_per_window: Annotated[int, Field(ge=0)] = 50  # machines touched per window...
    max_machines_share: Share = 0.05  # ...or this share of the cell, if larger
    # free share of schedulable CPU left after a reduction
    min_headroom_share: Annotated[float, Field(ge=0, lt=1)] = 0.10
    # demand is believed to be at least (1 - this) x its peak in the window: the largest fall in
    # honest replays of the shipped trace, rounded up (telemetry.trust)
    demand_fall_share: Share = 0.2
    # machines silent longer than this are not capacity: the heartbeat detector's threshold (three
    # missed 5 s beats), so evicting a machine the healer calls lost removes nothing it counts
    heartbeat_limit_s: Positive = 15.0
    # risk at or above this waits for a human (above 1: never escalate)
    escalate_risk: Annotated[float, Field(gt=0, le=1.01)] = 0.7
    approval_timeout_s: Positive | None = None  # unanswered requests are refused after this
    risk: RiskModel = field(default_factory=RiskModel)

    def __post_init__(self) -> None:
        check_fields(self)  # the bounds in the annotations above, in pydantic's strict mode
