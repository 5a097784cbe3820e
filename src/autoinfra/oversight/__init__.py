"""Oversight: the gate (guards, risk score, approval queue) between deciding and acting, and the
approver policies that stand in for a person in experiments.
"""

from autoinfra.oversight.approval import (
    DEFAULT_TTL_S,
    Answer,
    ApprovalItem,
    ApprovalLogRecovered,
    ApprovalQueue,
    Approver,
    AutoApproveAfter,
    DelayedApprover,
    OpenRequest,
    RequestState,
)
from autoinfra.oversight.gate import Gate, GateSettings
from autoinfra.oversight.risk import DEFAULT_BASE_RISK, RiskModel

__all__ = [
    "DEFAULT_BASE_RISK",
    "DEFAULT_TTL_S",
    "Answer",
    "ApprovalItem",
    "ApprovalLogRecovered",
    "ApprovalQueue",
    "Approver",
    "AutoApproveAfter",
    "DelayedApprover",
    "Gate",
    "GateSettings",
    "OpenRequest",
    "RequestState",
    "RiskModel",
]
