"""How the runtime keeps escalated requests exactly-once across a restart, with the approval queue.

The durable approval queue (``oversight.approval``) is the one record of an escalated request that
outlives the process. The runtime uses it in three places:

- **on start** it rebuilds a record for every request the queue still holds
  (:func:`restored_history` says how far each got): waiting or answered requests wait for their
  answer again (the queue hands it out once more); a request whose execution had *begun* (the
  intent is on disk) but whose outcome was never heard is closed as failed with an "outcome
  unknown" detail and is **not** submitted again: at most once beats at least once for actions
  that drain or isolate machines, and the detail tells a person to look;
- **before submitting** (:func:`may_submit`) it writes the intent; the queue refuses a second one;
- **when a record closes** (:func:`queue_closed`) it writes the outcome, or settles a denial.

Actions approved outright by the gate never enter the queue and are not affected.
"""

from __future__ import annotations

from autoinfra.core.lifecycle import ActionStatus
from autoinfra.core.proposal import Outcome
from autoinfra.oversight.approval import ApprovalQueue, OpenRequest, RequestState
from autoinfra.security.audit import AuditLog

__all__ = ["RESTORED", "may_submit", "queue_closed", "restored_history"]

S = ActionStatus
RESTORED = "restored"  # the audit event of a record rebuilt from the queue after a restart


def restored_history(
    req: OpenRequest, now_s: float
) -> tuple[list[tuple[ActionStatus, str, str]], Outcome | None]:
    """The moves that bring a rebuilt record to where the request was, and for a request begun
    before the restart, the outcome to close it with (outcome unknown, not run again)."""
    asked = f"restored from the approval queue after a restart (asked at {req.item.asked_at_s:g} s)"
    moves: list[tuple[ActionStatus, str, str]] = [(S.AWAITING_APPROVAL, "runtime", asked)]
    if req.state != RequestState.EXECUTING:
        return moves, None  # its answer (if any) comes again through the gate
    answer = req.answer
    by = answer.by if answer is not None else "unknown"
    moves.append((S.APPROVED, by, f"approved before the restart by {by}"))
    moves.append((S.SUBMITTED, "executor", "submission begun before the restart"))
    detail = (
        "outcome unknown: the runtime stopped after beginning to submit this action and before "
        "hearing back; not submitted again (at most once). Check the target by hand."
    )
    return moves, Outcome(req.item.request_id, False, now_s, detail)


def may_submit(queue: ApprovalQueue | None, request_id: str, now_s: float, audit: AuditLog) -> bool:
    """Write the intent to submit an escalated request; False (audited) if the queue refuses."""
    if queue is None or request_id not in queue:
        return True  # approved outright by the gate: not a queued request
    if queue.begin_execution(request_id, now_s):
        return True
    why = "the approval queue does not hold it as approved and not yet begun"
    audit.append("not_submitted", actor="executor", at_s=now_s,
                 data={"request_id": request_id, "queue_state": queue.state_of(request_id),
                       "why": why})  # fmt: skip
    return False


def queue_closed(
    queue: ApprovalQueue | None,
    request_id: str,
    status: ActionStatus,
    at_s: float,
    why: str,
    outcome: Outcome | None,
) -> None:
    """Tell the queue a record reached a final status: its outcome, or that it will not run."""
    if queue is None or request_id not in queue:
        return
    state = queue.state_of(request_id)
    if state == RequestState.EXECUTING:
        succeeded = outcome.succeeded if outcome is not None else None
        queue.end_execution(request_id, at_s, succeeded=succeeded, detail=why)
    elif state in (RequestState.APPROVED, RequestState.DENIED):
        queue.settle(request_id, at_s, status=status.value, why=why)
