"""The life of one action, as a transition table with a history.

Each edge says who may take it and why it exists. ``ActionRecord.move`` is the only way to change
a status; it refuses edges that are not in the table, so an audit trail can always be replayed.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from autoinfra.core.actions import Action
from autoinfra.core.errors import IllegalTransition


class ActionStatus(enum.StrEnum):
    PROPOSED = "proposed"
    APPROVED = "approved"
    AWAITING_APPROVAL = "awaiting_approval"
    REJECTED = "rejected"
    SUBMITTED = "submitted"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    ROLLED_BACK = "rolled_back"


S = ActionStatus
TRANSITIONS: dict[ActionStatus, frozenset[ActionStatus]] = {
    # the gate decides: low risk is approved outright, high risk waits for a human, a guard refuses
    S.PROPOSED: frozenset({S.APPROVED, S.AWAITING_APPROVAL, S.REJECTED}),
    # a human (or a timeout policy) answers the approval request
    S.AWAITING_APPROVAL: frozenset({S.APPROVED, S.REJECTED}),
    # only the executor submits, and only approved actions
    S.APPROVED: frozenset({S.SUBMITTED}),
    # the backend reports the outcome, polled by the executor
    S.SUBMITTED: frozenset({S.SUCCEEDED, S.FAILED}),
    # a succeeded action can still be undone when its effect proved harmful
    S.SUCCEEDED: frozenset({S.ROLLED_BACK}),
    S.REJECTED: frozenset(),
    S.FAILED: frozenset(),
    S.ROLLED_BACK: frozenset(),
}

TERMINAL: frozenset[ActionStatus] = frozenset(s for s, nxt in TRANSITIONS.items() if not nxt) | {
    S.SUCCEEDED
}


@dataclass(frozen=True, slots=True)
class StatusChange:
    status: ActionStatus
    at_s: float
    by: str  # identity that moved it: an agent id, "gate", "executor", a human's name
    why: str


@dataclass(slots=True)
class ActionRecord:
    """An action with its request id, current status and every move it made."""

    request_id: str
    action: Action
    proposed_by: str
    history: list[StatusChange] = field(default_factory=list)

    @property
    def status(self) -> ActionStatus:
        return self.history[-1].status if self.history else ActionStatus.PROPOSED

    def move(self, to: ActionStatus, *, at_s: float, by: str, why: str) -> None:
        if not self.history:
            first = StatusChange(ActionStatus.PROPOSED, at_s, self.proposed_by, "proposed")
            self.history.append(first)
        current = self.status
        if to not in TRANSITIONS[current]:
            raise IllegalTransition(
                f"action {self.request_id} ({self.action.kind}) cannot move {current} -> {to}"
            )
        self.history.append(StatusChange(to, at_s, by, why))
