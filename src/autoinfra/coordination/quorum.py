"""A signed quorum vote among agents that tolerates faulty or lying voters.

High-impact actions (paper 5.5, "consensus among agents") are put to a vote of ``n`` agents
instead of being taken on one agent's word. Up to ``f`` of the voters may be Byzantine: crashed,
buggy, or lying in any pattern, alone or together. The vote is built so that they cannot carry it:

- **Votes are signed** with the voter's Ed25519 key (``security.signing``) over the ballot id, the
  digest of the exact action put to the vote, the voter's name and the choice. A vote that fails
  its signature, names an unknown voter, or is for another ballot or another version of the
  action is refused and the reason recorded. Nobody can vote for someone else.
- **Equivocation is caught.** A voter that signs both "approve" and "reject" for one ballot has
  both votes struck and is reported as faulty.
- **The threshold** is the Byzantine quorum size ``q = floor((n + f) / 2) + 1`` (Malkhi and
  Reiter, "Byzantine quorum systems", 1998; for ``n = 3f + 1`` it is the familiar ``2f + 1``).
  With ``b <= f`` liars, an approval needs at least ``q - b`` honest approvals out of ``n - b``
  honest voters, and ``q - b > (n - b) / 2`` exactly when ``b <= f``: so **an approval always has a
  strict majority of the honest voters behind it.** With ``f + 1`` liars that fails (see the
  tests): the bound is real, not decoration.
- Two quorums of size ``q`` overlap in ``2q - n > f`` voters, so at least one honest voter is in
  both: two collectors can never approve two different versions of one action.
- The default is "no". A ballot is ``REJECTED`` as soon as approval has become impossible
  (more than ``n - q`` rejections); one that has neither result by its deadline expires to deny.

Silence counts as not approving, so ``n - q >= f`` crashed voters still let the honest rest decide
(``n > 3f`` is required, and checked).
"""

from __future__ import annotations

import enum
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from autoinfra.core.errors import ConfigError
from autoinfra.security.signing import AgentKey, Keyring

__all__ = [
    "Ballot",
    "BallotResult",
    "Quorum",
    "Tally",
    "Vote",
    "VoteRefused",
    "action_digest",
    "cast",
    "quorum_size",
]

_VOTE_DOMAIN = b"autoinfra-vote/v1"  # signatures of other kinds of message never pass as votes


def quorum_size(n: int, f: int) -> int:
    """Votes needed to approve among ``n`` voters of whom up to ``f`` may lie."""
    return (n + f) // 2 + 1


def action_digest(action: Mapping[str, Any]) -> str:
    """SHA-256 of an action's canonical JSON form: what voters sign, so a changed action is a
    different ballot."""
    body = json.dumps(action, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(body.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Ballot:
    """One question put to the voters: take this exact action (by digest), yes or no."""

    ballot_id: str
    digest: str
    deadline_s: float


@dataclass(frozen=True, slots=True)
class Vote:
    ballot_id: str
    digest: str
    voter: str
    approve: bool
    signature: bytes

    def message(self) -> bytes:
        return signed_message(self.ballot_id, self.digest, self.voter, self.approve)


def signed_message(ballot_id: str, digest: str, voter: str, approve: bool) -> bytes:
    fields = [ballot_id, digest, voter, "approve" if approve else "reject"]
    # length-prefixed, so no choice of names can make two different votes sign the same bytes
    return _VOTE_DOMAIN + b"".join(f"{len(x)}:{x}".encode() for x in fields)


def cast(key: AgentKey, ballot: Ballot, approve: bool) -> Vote:
    """The vote of ``key``'s identity on ``ballot``, signed."""
    message = signed_message(ballot.ballot_id, ballot.digest, key.name, approve)
    return Vote(ballot.ballot_id, ballot.digest, key.name, approve, key.sign(message))


class BallotResult(enum.StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"  # approval became impossible
    EXPIRED = "expired"  # no result by the deadline: deny


@dataclass(frozen=True, slots=True)
class VoteRefused:
    """A vote that was not counted, and why (for the log and the audit chain)."""

    voter: str
    reason: str


@dataclass(frozen=True, slots=True)
class Quorum:
    """The voters and the number of liars tolerated. ``f`` defaults to the most ``n`` allows."""

    voters: frozenset[str]
    f: int = -1

    def __post_init__(self) -> None:
        n = len(self.voters)
        if n == 0:
            raise ConfigError("a quorum needs voters", field="voters")
        if self.f < 0:
            object.__setattr__(self, "f", (n - 1) // 3)
        if n <= 3 * self.f:
            raise ConfigError(
                f"{n} voters cannot tolerate f={self.f} liars; need n > 3f", field="f"
            )

    @property
    def n(self) -> int:
        return len(self.voters)

    @property
    def size(self) -> int:
        return quorum_size(self.n, self.f)


@dataclass
class Tally:
    """The votes on one ballot as one collector has received them."""

    ballot: Ballot
    quorum: Quorum
    keyring: Keyring
    _votes: dict[str, bool] = field(default_factory=dict)
    _faulty: set[str] = field(default_factory=set)
    refused: list[VoteRefused] = field(default_factory=list)

    def add(self, vote: Vote) -> VoteRefused | None:
        """Count ``vote`` if it is valid; otherwise record and return why it was refused."""
        why = self._problem(vote)
        if why is None and vote.voter in self._votes:
            if self._votes[vote.voter] == vote.approve:
                return None  # the same vote again (a retry on the bus): counted once
            del self._votes[vote.voter]
            self._faulty.add(vote.voter)
            why = "equivocation: signed both approve and reject; both struck"
        if why is not None:
            refused = VoteRefused(vote.voter, why)
            self.refused.append(refused)
            return refused
        self._votes[vote.voter] = vote.approve
        return None

    def add_all(self, votes: Iterable[Vote]) -> None:
        for vote in votes:
            self.add(vote)

    def _problem(self, vote: Vote) -> str | None:
        if vote.voter in self._faulty:
            return "voter already struck for equivocation"
        if vote.voter not in self.quorum.voters:
            return "not a voter of this quorum"
        if vote.ballot_id != self.ballot.ballot_id:
            return f"vote for another ballot ({vote.ballot_id!r})"
        if vote.digest != self.ballot.digest:
            return "vote for another version of the action (digest differs)"
        if not self.keyring.verify(vote.voter, vote.message(), vote.signature):
            return "bad signature"
        return None

    @property
    def approvals(self) -> int:
        return sum(self._votes.values())

    @property
    def rejections(self) -> int:
        return len(self._votes) - self.approvals

    @property
    def faulty(self) -> frozenset[str]:
        return frozenset(self._faulty)

    def result(self, now_s: float | None = None) -> BallotResult:
        q = self.quorum
        if self.approvals >= q.size:
            return BallotResult.APPROVED
        # struck voters can no longer approve, so they count against approval being possible
        if self.rejections + len(self._faulty) > q.n - q.size:
            return BallotResult.REJECTED
        if now_s is not None and now_s >= self.ballot.deadline_s:
            return BallotResult.EXPIRED
        return BallotResult.PENDING

    def explain(self) -> str:
        q = self.quorum
        return (
            f"{self.approvals} approve, {self.rejections} reject, {len(self._faulty)} struck of "
            f"{q.n} voters; {q.size} approvals needed (tolerates f={q.f})"
        )
