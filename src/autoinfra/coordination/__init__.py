"""Coordination between agents: arbitration of conflicting proposals by priority."""

from autoinfra.coordination.arbiter import (
    ArbiterSettings,
    PriorityArbiter,
    needs_capacity,
    reduces_capacity,
)

__all__ = ["ArbiterSettings", "PriorityArbiter", "needs_capacity", "reduces_capacity"]
