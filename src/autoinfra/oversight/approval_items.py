"""What the approval queue holds and hands out: requests (:class:`ApprovalItem`) and answers.

An item carries everything needed to act on it after a restart (the whole action, who asked, why,
the gate's risk score, and the deadline after which silence means no), because after a restart
the queue is the only place the request still exists. :meth:`ApprovalItem.proposal` rebuilds the
proposal the runtime and the gate held before the restart.
"""

from __future__ import annotations

from dataclasses import dataclass

from autoinfra.core.actions import Action

# Answer lives in core (the runtime's gate seam returns it); named here too, where it is handed out
from autoinfra.core.proposal import Answer, Justification, Proposal

__all__ = ["Answer", "ApprovalItem"]


@dataclass(frozen=True, slots=True)
class ApprovalItem:
    """What a person is asked to approve: the action, who wants it, why, and how risky it is."""

    request_id: str
    agent: str
    action: Action
    reason: str
    risk: float
    asked_at_s: float
    expected_effect: str = ""
    # None when asking: the queue sets asked_at_s + its ttl_s; an item read back always has it
    expires_at_s: float | None = None
    priority: int = 0  # the proposal's, so a rebuilt proposal arbitrates as the original did
    confidence: float | None = None  # the proposal's, if the asker passed it

    def proposal(self) -> Proposal:
        """The proposal this request came from, as far as the queue knows it."""
        return Proposal(
            self.action,
            self.agent,
            self.priority,
            Justification(self.reason, expected_effect=self.expected_effect),
            self.confidence if self.confidence is not None else float("nan"),
            self.request_id,
        )
