"""Oversight: the gate (guards, risk score, approval queue) between deciding and acting, and the
approver policies that stand in for a person in experiments.
"""

from autoinfra.oversight.approval import (
    Answer,
    ApprovalItem,
    ApprovalQueue,
    Approver,
    AutoApproveAfter,
    DelayedApprover,
)
from autoinfra.oversight.gate import Gate, GateSettings
from autoinfra.oversight.risk import DEFAULT_BASE_RISK, RiskModel

__all__ = [
    "DEFAULT_BASE_RISK",
    "Answer",
    "ApprovalItem",
    "ApprovalQueue",
    "Approver",
    "AutoApproveAfter",
    "DelayedApprover",
    "Gate",
    "GateSettings",
    "RiskModel",
]
