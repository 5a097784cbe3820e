"""Consensus before high-impact actions: the gate's approval, then a quorum of agents.

Wraps the runtime's gate. A proposal the gate would approve and that ``high_impact`` marks
(for example isolating a machine, or a drain) is not approved yet: it is put to a signed vote of
the agents over the bus (:mod:`autoinfra.coordination.consensus`) and answered when the quorum
decides, like a person's answer to an escalation. Everything else passes through unchanged, as do
the gate's own escalations and re-checks, so the guards stay on every path.

A quorum "no" comes back after the gate already reserved the action's budget; that reservation
is left to expire with the gate's window (it errs on the side of doing less).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from autoinfra.coordination.consensus import BallotBox, Member
from autoinfra.coordination.quorum import BallotResult
from autoinfra.core.actions import action_to_dict, kind_of
from autoinfra.core.observation import Observation
from autoinfra.core.proposal import Answer, Decision, Proposal, Verdict
from autoinfra.core.protocols import Escalating, QueueHolding, Rechecking, Reviewer

__all__ = ["QuorumGate", "kinds_are_high_impact"]


def kinds_are_high_impact(kinds: Sequence[str]) -> Callable[[Proposal], bool]:
    wanted = frozenset(kinds)
    return lambda p: kind_of(p.action) in wanted


@dataclass
class QuorumGate:
    inner: Reviewer  # the runtime's gate: review, and answers/recheck/queue when it has them
    box: BallotBox
    high_impact: Callable[[Proposal], bool]
    members: Sequence[Member] = ()  # in-process voters stepped here; remote ones run elsewhere
    clock: Callable[[], float] = field(default=lambda: 0.0)
    decided: list[tuple[str, str, str]] = field(default_factory=list)  # (rid, result, why)

    @property
    def queue(self) -> object:
        return self.inner.queue if isinstance(self.inner, QueueHolding) else None

    def review(self, proposal: Proposal) -> Verdict:
        verdict: Verdict = self.inner.review(proposal)
        if verdict.decision != Decision.APPROVE or not self.high_impact(proposal):
            return verdict
        confidence = proposal.confidence if proposal.confidence == proposal.confidence else 0.0
        self.box.open(
            proposal.request_id,
            action_to_dict(proposal.action),
            proposal.justification.reason,
            max(0.0, min(1.0, confidence)),
        )
        q = self.box.quorum
        return Verdict(
            Decision.ESCALATE,
            f"the gate approves; put to a quorum of {q.n} agents ({q.size} needed, f={q.f})",
            verdict.risk,
        )

    def answers(self, now_s: float) -> list[Answer]:
        out: list[Answer] = (
            list(self.inner.answers(now_s)) if isinstance(self.inner, Escalating) else []
        )
        for member in self.members:
            member.step()
        for d in self.box.collect():
            why = f"quorum {d.result.value}: {d.explain}"
            if d.refused:
                why += f"; {len(d.refused)} vote(s) refused"
            self.decided.append((d.request_id, d.result.value, why))
            out.append(Answer(d.request_id, d.result is BallotResult.APPROVED, "quorum", why,
                              now_s))  # fmt: skip
        return out

    def recheck(
        self, proposal: Proposal, now_s: float, observation: Observation | None = None
    ) -> str | None:
        if isinstance(self.inner, Rechecking):
            return self.inner.recheck(proposal, now_s, observation)
        return None
