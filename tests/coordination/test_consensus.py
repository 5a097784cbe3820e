"""Quorum votes over the bus: honest members decide, liars are struck or refused, silence denies."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from autoinfra.coordination.bus import InProcessBus, seal
from autoinfra.coordination.bus.messages import VoteBody
from autoinfra.coordination.bus.subjects import subject
from autoinfra.coordination.consensus import BallotBox, Member
from autoinfra.coordination.quorum import Ballot, BallotResult, Quorum, action_digest, cast
from autoinfra.security.signing import AgentKey, Keyring
from tests.coordination.servers import NatsServer, nats_server

NAMES = [f"member-{i}" for i in range(7)]
KEYS = {n: AgentKey.generate(n) for n in [*NAMES, "proposer"]}
RING = Keyring()
for key in KEYS.values():
    RING.enrol(key)
DRAIN = {"kind": "drain_machine", "machine": 12}


@dataclass
class Always:
    answer: bool

    def judge(self, action: dict[str, Any], reason: str) -> bool:
        return self.answer


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def _setup(bus: Any, answers: list[bool | None], clock: Clock) -> tuple[BallotBox, list[Member]]:
    box = BallotBox(bus, KEYS["proposer"], RING, Quorum(frozenset(NAMES)), "eu", "a", clock)
    members = [
        Member(bus, KEYS[name], RING, Always(bool(a)), "eu", "a", clock)
        for name, a in zip(NAMES, answers, strict=True)
        if a is not None  # None: this member is down
    ]
    return box, members


def test_honest_members_approve_over_the_bus() -> None:
    clock = Clock()
    box, members = _setup(InProcessBus(), [True] * 7, clock)
    box.open("healing/1", DRAIN, "machine 12 keeps failing", 0.9)
    assert sum(m.step() for m in members) == 7
    [decision] = box.collect()
    assert decision.result is BallotResult.APPROVED and decision.request_id == "healing/1"


def test_two_liars_of_seven_cannot_carry_a_rejected_drain() -> None:
    clock, bus = Clock(), InProcessBus()
    box, members = _setup(bus, [False] * 5 + [None, None], clock)
    box.open("healing/2", DRAIN, "", 0.9)
    for m in members:
        m.step()
    ballot = Ballot("healing/2", action_digest(DRAIN), 1e9)
    vote_subject = subject("eu", "a", "vote")
    # member-5 equivocates, member-6 forges votes in honest members' names
    for approve in (True, False):
        v = cast(KEYS["member-5"], ballot, approve)
        body = VoteBody(
            ballot_id=v.ballot_id, digest=v.digest, approve=approve, signature=v.signature.hex()
        )
        bus.publish(
            vote_subject,
            seal(KEYS["member-5"], "vote/v1", body, region="eu", cell="a", sent_at_s=0).to_bytes(),
        )
    for victim in NAMES[:2]:
        forged = cast(KEYS["member-6"], ballot, True)
        body = VoteBody(
            ballot_id=forged.ballot_id,
            digest=forged.digest,
            approve=True,
            signature=forged.signature.hex(),
        )
        envelope = seal(KEYS["member-6"], "vote/v1", body, region="eu", cell="a", sent_at_s=0)
        spoofed = envelope.model_copy(update={"sender": victim})  # claims to be the victim
        bus.publish(vote_subject, spoofed.to_bytes())
    [decision] = box.collect()
    assert decision.result is BallotResult.REJECTED
    assert any("equivocation" in r.reason for r in decision.refused)
    assert sum("bad signature" in m for m in box.rejected_messages) == 2


def test_a_silent_quorum_expires_to_deny() -> None:
    clock = Clock()
    box, members = _setup(InProcessBus(), [True, True, True, None, None, None, None], clock)
    box.open("energy/3", {"kind": "set_machine_power", "machine": 1, "on": False}, "", 0.5)
    for m in members:
        m.step()
    assert box.collect() == [] and box.pending == 1
    clock.t = 31.0
    [decision] = box.collect()
    assert decision.result is BallotResult.EXPIRED


@pytest.fixture
def nats(tmp_path: Path) -> Iterator[NatsServer]:
    with nats_server(tmp_path) as server:
        yield server


def test_a_member_that_restarts_still_votes_on_a_durable_ballot(nats: NatsServer) -> None:
    from autoinfra.coordination.bus.nats import NatsBus

    clock = Clock()
    buses = [NatsBus(nats.url, name=f"n{i}") for i in range(3)]
    try:
        box = BallotBox(
            buses[0], KEYS["proposer"], RING, Quorum(frozenset(NAMES[:4])), "eu", "a", clock
        )
        members = [
            Member(buses[1], KEYS[n], RING, Always(True), "eu", "a", clock, durable_name=n)
            for n in NAMES[:3]
        ]
        box.open("healing/9", DRAIN, "", 0.9)
        # member-2 is down when the ballot goes out; its durable consumer keeps the ballot
        late = members.pop()
        late._proposals.close()
        assert sum(m.step(timeout_s=1.0) for m in members) == 2
        assert box.collect(timeout_s=0.5) == []
        back = Member(
            buses[2], KEYS[NAMES[2]], RING, Always(True), "eu", "a", clock, durable_name=NAMES[2]
        )
        assert back.step(timeout_s=2.0) == 1
        decisions = box.collect(timeout_s=1.0)
        while not decisions:
            decisions = box.collect(timeout_s=0.5)
        assert decisions[0].result is BallotResult.APPROVED
    finally:
        for bus in buses:
            bus.close()
