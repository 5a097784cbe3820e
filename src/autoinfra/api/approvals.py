"""Approvals of the simulated service: what a person is shown, and their votes.

The request as shown carries a ``digest`` (SHA-256 over the request id, agent, action, risk and
time asked); a vote must send it back, so a request that changed between showing and voting is
refused (409). A vote and the decision it completes are one transaction in the state store, then
the answer goes to the gate's queue (delivery after a crash is ``SimClusterService``'s job).
High-risk requests need ``approvers_required`` distinct people; nobody votes on their own
proposal or twice; a reject decides at once and is a negative reward for the learning loop.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from autoinfra.api.oversight import PendingItem as ApprovalItem
from autoinfra.api.preference import state_bucket
from autoinfra.api.service import Conflict, Gone, NotFound, SelfApproval
from autoinfra.api.service_state import ServiceSettings, ServiceState
from autoinfra.api.whatif import what_if
from autoinfra.core.actions import action_to_dict
from autoinfra.core.lifecycle import ActionStatus
from autoinfra.core.proposal import Proposal, Verdict

__all__ = ["ApprovalMixin", "ServiceSettings", "action_digest"]

JSON = dict[str, Any]
S = ActionStatus


def action_digest(item: ApprovalItem) -> str:
    """SHA-256 over exactly what the approver is shown: the request, its agent, action and risk."""
    body = {
        "request_id": item.request_id,
        "agent": item.agent,
        "action": action_to_dict(item.action),
        "risk": round(item.risk, 6),
        "asked_at_s": item.asked_at_s,
    }
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


class ApprovalMixin(ServiceState):
    # the shared state and _audit/_deliver come from ServiceState
    _proposals: dict[str, tuple[Proposal, Verdict, JSON]]
    _shown_wall: dict[str, float]
    _what_if: dict[str, JSON]
    _pending_json: list[JSON]

    def _item_json(self, item: ApprovalItem) -> JSON:
        return {
            "request_id": item.request_id,
            "agent": item.agent,
            "action": action_to_dict(item.action),
            "risk": item.risk,
            "asked_at_s": item.asked_at_s,
            "reason": item.reason,
            "expected_effect": item.expected_effect,
            "digest": action_digest(item),
            "approvers_required": self._required(item),
            "votes": [
                {"by": s, "approve": a, "reason": r}
                for s, a, r in self.store.votes(item.request_id)
            ],
            "expires_in_s": self._expires_in(item.request_id),
        }

    def _required(self, item: ApprovalItem) -> int:
        high = item.risk >= self.settings.high_risk
        return self.settings.approvers_required if high else 1

    def _expires_in(self, rid: str) -> float:
        shown = self._shown_wall.get(rid, self.wall())
        return round(self.settings.approval_ttl_s - (self.wall() - shown), 1)

    def _refresh_pending(self) -> None:
        self._pending_json = [self._item_json(i) for i in self.oversight.pending()]

    def proposals(self, status: str | None, limit: int) -> list[JSON]:
        cached = self._pending_json
        pending = [{**i, "expires_in_s": self._expires_in(i["request_id"])} for i in cached]
        if status == "pending":
            return pending[:limit]
        if status is not None:
            pending = []
        with self.lock:
            records = [r for r in self.runtime.records if status is None or r.status == status]
            recent = [
                {
                    "request_id": r.request_id,
                    "agent": r.proposed_by,
                    "action": action_to_dict(r.action),
                    "status": r.status.value,
                    "why": r.history[-1].why if r.history else "",
                }
                for r in records[-limit:]
            ]
            return (pending + recent)[:limit]

    def proposal(self, request_id: str) -> JSON:
        with self.lock:
            item = self.oversight.find(request_id)
            seen = self._proposals.get(request_id)
            try:
                rec = self.runtime.record(request_id)
            except KeyError:
                rec = None
            if item is None and rec is None:
                raise NotFound(f"no proposal {request_id!r}")
            out: JSON = (
                self._item_json(item)
                if item is not None
                else {
                    "request_id": request_id,
                    "agent": rec.proposed_by if rec else "",
                    "action": action_to_dict(rec.action) if rec else {},
                }
            )
            if rec is not None:
                out["status"] = rec.status.value
                out["history"] = [
                    {"status": t.status.value, "at_s": t.at_s, "by": t.by, "why": t.why}
                    for t in rec.history
                ]
            if seen is not None:
                p, verdict, summary = seen
                out["justification"] = {
                    "observation": summary,
                    "findings": [
                        {"kind": f.kind, "target": f.target, "severity": round(f.severity, 3)}
                        for f in p.findings
                    ],
                    "policy_reason": p.justification.reason,
                    "inputs": p.justification.inputs,
                    "expected_effect": p.justification.expected_effect,
                    "gate": verdict.reason,
                    "confidence": p.confidence,
                }
            forked = None
            if item is not None and request_id not in self._what_if:
                forked = self.sim.fork()
        if forked is not None and item is not None:
            # run the forks outside the lock: the agents keep running meanwhile
            self._what_if[request_id] = what_if(
                _Frozen(forked), item.action, horizon_s=self.settings.what_if_horizon_s
            )
        if request_id in self._what_if:
            out["what_if"] = self._what_if[request_id]
        return out

    # -- votes -----------------------------------------------------------------------------------
    def vote(self, request_id: str, *, approve: bool, by: str, digest: str, reason: str) -> JSON:
        with self.lock:
            item = self.oversight.find(request_id)
            if item is None:
                decided = self.store.decision(request_id)
                if decided is not None or self._was_answered(request_id):
                    raise Gone(f"request {request_id!r} was already answered or expired")
                raise NotFound(f"no pending request {request_id!r}")
            if self._expires_in(request_id) <= 0:
                raise Gone(f"request {request_id!r} expired; it will be denied")
            if digest != action_digest(item):
                raise Conflict(
                    f"digest does not match request {request_id!r} as it is now; "
                    "reload it and review again"
                )
            if by == item.agent:
                raise SelfApproval(f"{by!r} proposed {request_id!r} and may not vote on it")
            voted, decided = self.store.cast(
                request_id,
                subject=by,
                approve=approve,
                reason=reason,
                digest=digest,
                required=self._required(item),
                action=action_to_dict(item.action),
            )
            if not voted:
                raise SelfApproval(f"{by!r} already voted on {request_id!r}")
            now = float(self.sim.now_s)
            self.oversight.record(
                "vote",
                actor=by,
                at_s=now,
                data={
                    "request_id": request_id,
                    "approve": approve,
                    "reason": reason,
                    "digest": digest,
                },
            )
            if not approve:
                # an operator's "no" is a reward for the learning loop (see api.preference)
                state = state_bucket(self.runtime._latest or self.sim.observe())
                self.prefs.reward(state, item.action.kind, -1.0)
            if decided is not None:
                if decided["approved"]:
                    state = state_bucket(self.runtime._latest or self.sim.observe())
                    self.prefs.reward(state, item.action.kind, 1.0)
                self._deliver(decided, now)
            self._refresh_pending()
            return {
                "request_id": request_id,
                "recorded": True,
                "decided": decided is not None,
                "approved": decided["approved"] if decided else None,
                "votes": len(self.store.votes(request_id)),
                "approvers_required": self._required(item),
            }

    def _was_answered(self, rid: str) -> bool:
        try:
            return self.runtime.record(rid).status != S.AWAITING_APPROVAL
        except KeyError:
            return False


class _Frozen:
    """A forked simulator, passed as-is (the fork is already independent of the live world)."""

    def __init__(self, sim: Any) -> None:
        self._sim = sim

    def fork(self) -> Any:
        return self._sim.fork()

    @property
    def now_s(self) -> float:
        return float(self._sim.now_s)
