"""The pieces the API slots into a runtime: a pin-aware gate, an execution ledger, no approver.

- :class:`PinGate` wraps the runtime's gate: a proposal whose target an operator pinned is refused
  before the gate's guards see it (the runtime records the refusal like any other); every other
  proposal goes to the wrapped gate unchanged. It also tells the service which proposals it saw,
  so escalations can be shown with their justification and linked to incidents.
- :class:`LedgerActuator` wraps the actuator: a request a person decided (or an operator's
  revert) is executed only after its intent is committed to the state store under its request
  id; a request id claimed before (in this process or an earlier one killed mid-way) is never
  handed to the backend again and comes back as a failed outcome saying so.
- :class:`NobodyApproves` is the approver of a served runtime: it never answers, so escalations
  wait for a person (or their time-to-live).
"""

from __future__ import annotations

from collections.abc import Callable

from autoinfra.api.oversight import Answer
from autoinfra.api.oversight import PendingItem as ApprovalItem
from autoinfra.api.state import StateStore
from autoinfra.core.actions import Action, action_to_dict
from autoinfra.core.observation import Observation
from autoinfra.core.proposal import Decision, Outcome, Proposal, Verdict
from autoinfra.core.protocols import Actuator, Escalating, QueueHolding, Rechecking, Reviewer

__all__ = ["LedgerActuator", "NobodyApproves", "PinGate"]


class NobodyApproves:
    """An ``Approver`` that never answers: a person must."""

    def respond(self, item: ApprovalItem, now_s: float) -> Answer | None:
        return None


class PinGate:
    def __init__(
        self,
        inner: Reviewer,
        *,
        pinned: Callable[[str], str | None],
        seen: Callable[[Proposal, Verdict], None],
    ) -> None:
        self.inner = inner
        self._pinned = pinned
        self._seen = seen

    def review(self, proposal: Proposal) -> Verdict:
        why = self._pinned(proposal.action.target)
        if why is not None:
            verdict = Verdict(Decision.REJECT, f"pinned by an operator: {why}", 0.0)
        else:
            verdict = self.inner.review(proposal)
        self._seen(proposal, verdict)
        return verdict

    # the inner gate's other faces, passed on only where it has them (core.protocols)
    def answers(self, now_s: float) -> list[Answer]:
        return list(self.inner.answers(now_s)) if isinstance(self.inner, Escalating) else []

    def recheck(
        self, proposal: Proposal, now_s: float, observation: Observation | None = None
    ) -> str | None:
        if isinstance(self.inner, Rechecking):
            return self.inner.recheck(proposal, now_s, observation)
        return None

    @property
    def queue(self) -> object:
        return self.inner.queue if isinstance(self.inner, QueueHolding) else None


class LedgerActuator:
    def __init__(
        self,
        inner: Actuator,
        store: StateStore,
        run_id: str,
        *,
        now_s: Callable[[], float],
        on_execute: Callable[[str, Action], None] | None = None,
    ) -> None:
        self.inner = inner
        self.on_execute = on_execute
        self.store = store
        self.run_id = run_id
        self.now_s = now_s
        self._claimed: set[str] = set()
        self._refused: list[Outcome] = []

    def guarded(self, request_id: str) -> bool:
        return request_id.startswith("revert:") or self.store.decision(request_id) is not None

    def submit(self, request_id: str, action: Action) -> None:
        if self.guarded(request_id):
            if not self.store.claim_execution(request_id, action_to_dict(action), self.run_id):
                self._refused.append(
                    Outcome(
                        request_id,
                        False,
                        self.now_s(),
                        "not executed: this request id was executed before (execution ledger)",
                    )
                )
                return
            self._claimed.add(request_id)
            if self.on_execute is not None:
                self.on_execute(request_id, action)  # audited: handed to the backend, once
        self.inner.submit(request_id, action)

    def poll(self) -> list[Outcome]:
        outcomes = [*self._refused, *self.inner.poll()]
        self._refused = []
        for o in outcomes:
            if o.request_id in self._claimed:
                self._claimed.discard(o.request_id)
                self.store.finish_execution(o.request_id, o.succeeded, o.detail)
        return outcomes
