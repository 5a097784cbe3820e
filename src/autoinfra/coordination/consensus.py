"""Quorum votes over the bus: a ballot box that asks, and members that answer.

A high-impact proposal (draining many machines, isolating a rack) is put to a vote of the agents
(paper 5.5) before the gate lets it through. The proposer's :class:`BallotBox` publishes the
proposal, signed, on its region's ``proposal`` subject (durably: a member that restarts still
sees it); every :class:`Member` judges it with its own view of the cluster (its
:class:`Judge`) and publishes a signed vote on the ``vote`` subject; the ballot box verifies each
vote and tallies it (:mod:`autoinfra.coordination.quorum`) until the quorum decides or the ballot
expires to deny.

Nothing here trusts the bus: every message is opened with :func:`open_envelope` (schema, version,
signature) and refused with its reason otherwise; the vote inside carries its own signature over
the ballot and the action's digest, so a vote cannot be moved to another ballot, and a member
that votes both ways is struck.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from autoinfra.coordination.bus.base import Bus
from autoinfra.coordination.bus.messages import (
    MessageRejected,
    ProposalBody,
    VoteBody,
    open_envelope,
    seal,
)
from autoinfra.coordination.bus.subjects import subject
from autoinfra.coordination.quorum import (
    Ballot,
    BallotResult,
    Quorum,
    Tally,
    Vote,
    VoteRefused,
    action_digest,
    cast,
)
from autoinfra.security.signing import AgentKey, Keyring

_log = logging.getLogger(__name__)

__all__ = ["BallotBox", "Decision", "Judge", "Member"]


class Judge(Protocol):
    def judge(self, action: dict[str, Any], reason: str) -> bool:
        """Approve this action? Each member answers from what it sees itself."""
        ...


@dataclass(frozen=True, slots=True)
class Decision:
    request_id: str
    result: BallotResult
    explain: str
    refused: tuple[VoteRefused, ...]


@dataclass
class BallotBox:
    bus: Bus
    key: AgentKey
    keyring: Keyring
    quorum: Quorum
    region: str
    cell: str
    clock: Callable[[], float]
    ttl_s: float = 30.0
    _tallies: dict[str, Tally] = field(default_factory=dict)
    rejected_messages: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._votes = self.bus.subscribe(subject(self.region, self.cell, "vote"))

    def open(
        self, request_id: str, action: dict[str, Any], reason: str, confidence: float
    ) -> Ballot:
        ballot = Ballot(request_id, action_digest(action), self.clock() + self.ttl_s)
        self._tallies[request_id] = Tally(ballot, self.quorum, self.keyring)
        body = ProposalBody(
            request_id=request_id, action=action, reason=reason, confidence=confidence
        )
        envelope = seal(
            self.key,
            "proposal/v1",
            body,
            region=self.region,
            cell=self.cell,
            sent_at_s=self.clock(),
        )
        self.bus.publish(
            subject(self.region, self.cell, "proposal"), envelope.to_bytes(), durable=True
        )
        return ballot

    def collect(self, timeout_s: float = 0.0) -> list[Decision]:
        """Tally what arrived; return the ballots decided (or expired) since the last call."""
        for raw in self._votes.drain(timeout_s=timeout_s):
            try:
                envelope, body = open_envelope(raw, self.keyring)
            except MessageRejected as exc:
                self.rejected_messages.append(str(exc))
                _log.warning("refused a message: %s", exc)
                continue
            if not isinstance(body, VoteBody):
                self.rejected_messages.append(f"{envelope.schema_} on the vote subject")
                continue
            tally = self._tallies.get(body.ballot_id)
            if tally is None:
                continue  # a late vote for a ballot already decided, or another box's ballot
            vote = Vote(
                body.ballot_id,
                body.digest,
                envelope.sender,  # the envelope's verified sender is the voter
                body.approve,
                bytes.fromhex(body.signature),
            )
            tally.add(vote)
        now = self.clock()
        decided: list[Decision] = []
        for rid, tally in list(self._tallies.items()):
            result = tally.result(now)
            if result is not BallotResult.PENDING:
                decided.append(Decision(rid, result, tally.explain(), tuple(tally.refused)))
                del self._tallies[rid]
        return decided

    @property
    def pending(self) -> int:
        return len(self._tallies)


@dataclass
class Member:
    bus: Bus
    key: AgentKey
    keyring: Keyring
    judge: Judge
    region: str
    cell: str
    clock: Callable[[], float]
    durable_name: str | None = None
    rejected_messages: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._proposals = self.bus.subscribe(
            subject(self.region, self.cell, "proposal"), durable_name=self.durable_name
        )
        self._voted: set[str] = set()

    def step(self, timeout_s: float = 0.0) -> int:
        """Judge every proposal that arrived and publish the votes; returns how many."""
        n = 0
        for raw in self._proposals.drain(timeout_s=timeout_s):
            try:
                _sender, body = open_envelope(raw, self.keyring)
            except MessageRejected as exc:
                self.rejected_messages.append(str(exc))
                _log.warning("refused a message: %s", exc)
                continue
            if not isinstance(body, ProposalBody) or body.request_id in self._voted:
                continue  # redelivery: vote once
            self._voted.add(body.request_id)
            ballot = Ballot(body.request_id, action_digest(body.action), float("inf"))
            vote = cast(self.key, ballot, self.judge.judge(body.action, body.reason))
            out = VoteBody(
                ballot_id=vote.ballot_id,
                digest=vote.digest,
                approve=vote.approve,
                signature=vote.signature.hex(),
            )
            sealed = seal(
                self.key, "vote/v1", out, region=self.region, cell=self.cell, sent_at_s=self.clock()
            )
            self.bus.publish(
                subject(self.region, self.cell, "vote"), sealed.to_bytes(), durable=True
            )
            n += 1
        return n
