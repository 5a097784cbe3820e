"""Hypothesis: whatever the gate, the approver and the backend answer, records move legally."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from hypothesis import given, settings
from hypothesis import strategies as st

from autoinfra.agents import Agent, Runtime
from autoinfra.core.actions import Action, DrainMachine, KillProcess, ScaleService
from autoinfra.core.errors import IllegalTransition
from autoinfra.core.lifecycle import TRANSITIONS, ActionRecord, ActionStatus
from autoinfra.core.proposal import Decision, Outcome, Proposal, Verdict
from autoinfra.oversight.approval import Answer
from autoinfra.telemetry import SimSensor
from tests.agents.conftest import ScriptedPolicy
from tests.agents.fakes import FakeSim

S = ActionStatus


@given(st.lists(st.sampled_from(list(ActionStatus)), max_size=12))
def test_random_moves_either_follow_an_edge_or_change_nothing(moves: list[ActionStatus]) -> None:
    rec = ActionRecord("r", DrainMachine(machine=0), "a")
    for i, to in enumerate(moves):
        before = rec.status
        try:
            rec.move(to, at_s=float(i), by="t", why="prop")
        except IllegalTransition:
            assert to not in TRANSITIONS[before] and rec.status == before
        else:
            assert to in TRANSITIONS[before] and rec.status == to
    path = [t.status for t in rec.history]
    assert not path or path[0] == S.PROPOSED
    assert all(b in TRANSITIONS[a] for a, b in itertools.pairwise(path))


class _RandomGate:
    """Answers from a drawn script; escalations are answered later from another script."""

    def __init__(self, decisions: list[Decision], answers: list[bool]) -> None:
        self.decisions, self.answer_script = decisions, answers
        self.waiting: list[str] = []
        self.i = self.j = 0

    def review(self, proposal: Proposal) -> Verdict:
        d = self.decisions[self.i % len(self.decisions)]
        self.i += 1
        if d == Decision.ESCALATE:
            self.waiting.append(proposal.request_id)
        return Verdict(d, "drawn")

    def answers(self, now_s: float) -> list[Answer]:
        out = []
        for rid in self.waiting:
            yes = self.answer_script[self.j % len(self.answer_script)]
            self.j += 1
            out.append(Answer(rid, yes, "person", "drawn", now_s))
        self.waiting = []
        return out


class _RandomBackend:
    def __init__(self, results: list[bool | None], world: FakeSim) -> None:
        self.results, self.world = results, world
        self.open: list[str] = []
        self.k = 0
        self.submitted: set[str] = set()

    def submit(self, request_id: str, action: Action) -> None:
        assert request_id not in self.submitted, "the runtime submitted an id twice"
        self.submitted.add(request_id)
        self.open.append(request_id)

    def poll(self) -> list[Outcome]:
        out, keep = [], []
        for rid in self.open:
            r = self.results[self.k % len(self.results)]
            self.k += 1
            if r is None:
                keep.append(rid)
            else:
                out.append(Outcome(rid, r, self.world.now_s))
        self.open = keep
        return out


@settings(max_examples=40, deadline=None)
@given(
    decisions=st.lists(st.sampled_from(list(Decision)), min_size=1, max_size=6),
    answers=st.lists(st.booleans(), min_size=1, max_size=4),
    results=st.lists(st.one_of(st.none(), st.booleans()), min_size=1, max_size=5),
    n_ticks=st.integers(1, 8),
)
def test_runtime_records_follow_the_table(
    decisions: list[Decision], answers: list[bool], results: list[bool | None], n_ticks: int
) -> None:
    world = FakeSim()

    def plan(t: float) -> Sequence[Action]:
        k = int(t // 5)
        return [
            DrainMachine(machine=k % 8),
            KillProcess(machine=(k + 3) % 8),
            ScaleService(service=0, delta_replicas=k + 1),
        ]

    gate = _RandomGate(decisions, answers)
    backend = _RandomBackend(results, world)
    agent = Agent("a", sensor=SimSensor(world), policy=ScriptedPolicy(plan), period_s=5, priority=1)
    rt = Runtime([agent], clock=world.clock, actuator=backend, gate=gate)
    for _ in range(n_ticks):
        rt.tick()
        world.step()
    for rec in rt.records:
        path = [t.status for t in rec.history]
        assert path[0] == S.PROPOSED
        assert all(b in TRANSITIONS[a] for a, b in itertools.pairwise(path))
        if S.SUBMITTED in path:
            assert S.APPROVED in path  # only approved actions are submitted
    assert backend.submitted == {
        r.request_id for r in rt.records if S.SUBMITTED in [t.status for t in r.history]
    }
