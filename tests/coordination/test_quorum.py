"""The quorum vote: signatures, equivocation, and the Byzantine bound (f liars never carry it,
f + 1 can)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autoinfra.coordination.quorum import (
    Ballot,
    BallotResult,
    Quorum,
    Tally,
    Vote,
    action_digest,
    cast,
    quorum_size,
)
from autoinfra.core.errors import ConfigError
from autoinfra.security.signing import AgentKey, Keyring

# Ed25519 key generation is the slow part; one pool of keys serves every example
_NAMES = [f"agent-{i}" for i in range(13)]
_KEYS = {name: AgentKey.generate(name) for name in _NAMES}


def _keyring(names: list[str]) -> Keyring:
    ring = Keyring()
    for name in names:
        ring.enrol(_KEYS[name])
    return ring


BALLOT = Ballot("healing/7f3a", action_digest({"kind": "drain_machine", "machine": 3}), 100.0)
OTHER = Ballot("healing/7f3a", action_digest({"kind": "drain_machine", "machine": 4}), 100.0)


def _tally(n: int) -> tuple[Tally, list[str]]:
    names = _NAMES[:n]
    return Tally(BALLOT, Quorum(frozenset(names)), _keyring(names)), names


@pytest.mark.parametrize(("n", "f", "q"), [(4, 1, 3), (7, 2, 5), (10, 3, 7), (3, 0, 2), (6, 1, 4)])
def test_quorum_size_is_the_byzantine_quorum(n: int, f: int, q: int) -> None:
    assert quorum_size(n, f) == q
    assert Quorum(frozenset(_NAMES[:n])).f == f


def test_too_few_voters_for_the_liars_asked_for_is_refused() -> None:
    with pytest.raises(ConfigError, match="need n > 3f"):
        Quorum(frozenset(_NAMES[:6]), f=2)


def test_honest_unanimity_approves_and_a_forged_vote_is_refused() -> None:
    tally, names = _tally(4)
    impostor = AgentKey.generate(names[0])  # right name, wrong key
    assert tally.add(cast(impostor, BALLOT, True)) is not None
    assert tally.refused[-1].reason == "bad signature"
    for name in names[:3]:
        assert tally.add(cast(_KEYS[name], BALLOT, True)) is None
    assert tally.result() is BallotResult.APPROVED


def test_votes_for_another_version_or_from_outsiders_do_not_count() -> None:
    tally, names = _tally(4)
    tally.add(cast(_KEYS[names[0]], OTHER, True))
    tally.add(cast(_KEYS[_NAMES[12]], BALLOT, True))
    reasons = [r.reason for r in tally.refused]
    assert reasons == [
        "vote for another version of the action (digest differs)",
        "not a voter of this quorum",
    ]
    assert tally.approvals == 0


def test_replaying_a_vote_with_its_choice_flipped_fails_the_signature() -> None:
    tally, names = _tally(4)
    vote = cast(_KEYS[names[0]], BALLOT, False)
    flipped = Vote(vote.ballot_id, vote.digest, vote.voter, True, vote.signature)
    assert tally.add(flipped) is not None
    assert tally.approvals == 0


def test_equivocation_strikes_both_votes_and_the_voter() -> None:
    tally, names = _tally(4)
    liar = _KEYS[names[0]]
    tally.add(cast(liar, BALLOT, True))
    tally.add(cast(liar, BALLOT, False))
    tally.add(cast(liar, BALLOT, True))
    assert tally.faulty == {names[0]}
    assert tally.approvals == tally.rejections == 0
    # three honest approvals still carry it: n=4 tolerates the one liar
    for name in names[1:]:
        tally.add(cast(_KEYS[name], BALLOT, True))
    assert tally.result() is BallotResult.APPROVED


def test_silence_expires_to_deny_and_impossible_approval_rejects_early() -> None:
    tally, names = _tally(4)
    tally.add(cast(_KEYS[names[0]], BALLOT, True))
    assert tally.result(now_s=50.0) is BallotResult.PENDING
    assert tally.result(now_s=100.0) is BallotResult.EXPIRED
    tally.add(cast(_KEYS[names[1]], BALLOT, False))
    tally.add(cast(_KEYS[names[2]], BALLOT, False))
    assert tally.result() is BallotResult.REJECTED


# --- the Byzantine property -------------------------------------------------------------------

STRATEGIES = ("approve", "random", "equivocate", "forge", "other_version", "silent")


@st.composite
def elections(draw: st.DrawFn, liars_over_f: int) -> tuple[int, list[bool | None], list[str], int]:
    """n voters; honest choices (None = silent); each liar's strategy; the liars' count."""
    n = draw(st.sampled_from([4, 5, 7, 10, 13]))
    f = (n - 1) // 3
    b = f + liars_over_f if liars_over_f else draw(st.integers(0, f))
    honest = draw(st.lists(st.sampled_from([True, False, None]), min_size=n - b, max_size=n - b))
    tactics = draw(st.lists(st.sampled_from(STRATEGIES), min_size=b, max_size=b))
    return n, honest, tactics, b


def _run(n: int, honest: list[bool | None], tactics: list[str], seed: int) -> Tally:
    names = _NAMES[:n]
    tally = Tally(BALLOT, Quorum(frozenset(names)), _keyring(names))
    liars, good = names[: len(tactics)], names[len(tactics) :]
    votes: list[Vote] = []
    for name, choice in zip(good, honest, strict=True):
        if choice is not None:
            votes.append(cast(_KEYS[name], BALLOT, choice))
    for i, (name, tactic) in enumerate(zip(liars, tactics, strict=True)):
        key = _KEYS[name]
        if tactic == "approve":  # colluding: all liars push the action through
            votes.append(cast(key, BALLOT, True))
        elif tactic == "random":
            votes.append(cast(key, BALLOT, (seed >> i) & 1 == 1))
        elif tactic == "equivocate":
            votes += [cast(key, BALLOT, True), cast(key, BALLOT, False)]
        elif tactic == "forge":  # sign approvals in honest voters' names with the liar's key
            for victim in good:
                forged = cast(AgentKey(victim, key._private), BALLOT, True)
                votes.append(forged)
        elif tactic == "other_version":
            votes.append(cast(key, OTHER, True))
    # delivery order is the adversary's too
    order = sorted(range(len(votes)), key=lambda j: (j * 7919 + seed) % (len(votes) + 1))
    tally.add_all(votes[j] for j in order)
    return tally


@settings(max_examples=300, deadline=None)
@given(elections(liars_over_f=0), st.integers(0, 2**16))
def test_up_to_f_liars_never_approve_what_the_honest_majority_does_not(
    election: tuple[int, list[bool | None], list[str], int], seed: int
) -> None:
    n, honest, tactics, _ = election
    tally = _run(n, honest, tactics, seed)
    honest_yes = sum(1 for c in honest if c is True)
    if tally.result() is BallotResult.APPROVED:
        assert honest_yes * 2 > len(honest), tally.explain()
    # and no honest voter is ever struck
    assert tally.faulty <= set(_NAMES[: len(tactics)])


@settings(max_examples=100, deadline=None)
@given(elections(liars_over_f=0), st.integers(0, 2**16))
def test_honest_voters_who_all_approve_are_not_blocked_by_f_liars(
    election: tuple[int, list[bool | None], list[str], int], seed: int
) -> None:
    n, honest, tactics, _ = election
    tally = _run(n, [True] * len(honest), tactics, seed)
    assert tally.result() is BallotResult.APPROVED, tally.explain()


@pytest.mark.parametrize("n", [4, 7, 10])
def test_f_plus_one_colluding_liars_can_carry_a_vote_the_honest_do_not_back(n: int) -> None:
    f = (n - 1) // 3
    liars = f + 1
    honest_count = n - liars
    # honest voters split evenly or lean to "no": no honest majority for the action
    honest = [True] * (honest_count // 2) + [False] * (honest_count - honest_count // 2)
    needed = quorum_size(n, f) - liars  # honest approvals the liars still need
    assert needed <= honest.count(True)
    tally = _run(n, honest, ["approve"] * liars, seed=1)
    assert honest.count(True) * 2 <= len(honest)
    assert tally.result() is BallotResult.APPROVED  # the bound is real


def test_two_collectors_never_approve_two_versions_with_f_liars() -> None:
    n = 7
    names = _NAMES[:n]
    quorum, ring = Quorum(frozenset(names)), _keyring(names)
    a, b = Tally(BALLOT, quorum, ring), Tally(OTHER, quorum, ring)
    liars, good = names[:2], names[2:]
    for liar in liars:  # the liars vote for both versions, one to each collector
        a.add(cast(_KEYS[liar], BALLOT, True))
        b.add(cast(_KEYS[liar], OTHER, True))
    # the honest split their approvals between the versions any way they like
    for i, name in enumerate(good):
        (a if i % 2 else b).add(cast(_KEYS[name], a.ballot if i % 2 else b.ballot, True))
    assert not (a.result() is BallotResult.APPROVED and b.result() is BallotResult.APPROVED)
