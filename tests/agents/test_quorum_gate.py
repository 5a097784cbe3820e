"""High-impact actions go to a quorum of agents after the gate; a liar cannot carry them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from autoinfra.actuators import DryRunActuator
from autoinfra.agents import Agent, Runtime
from autoinfra.agents.quorum_gate import QuorumGate, kinds_are_high_impact
from autoinfra.coordination.bus import InProcessBus
from autoinfra.coordination.consensus import BallotBox, Member
from autoinfra.coordination.quorum import Quorum
from autoinfra.core.actions import DrainMachine, ScaleService
from autoinfra.core.lifecycle import ActionStatus
from autoinfra.core.proposal import Decision, Proposal, Verdict
from autoinfra.security import Identity, Role
from autoinfra.security.signing import AgentKey, Keyring
from autoinfra.telemetry import SimSensor
from tests.agents.conftest import ScriptedPolicy
from tests.agents.fakes import FakeSim

VOTERS = ["healing", "energy", "security", "scaling"]


class _Approves:
    def review(self, proposal: Proposal) -> Verdict:
        return Verdict(Decision.APPROVE, "guards pass")


@dataclass
class _Says:
    answer: bool

    def judge(self, action: dict[str, Any], reason: str) -> bool:
        return self.answer


def _runtime(world: FakeSim, honest: bool) -> tuple[Runtime, QuorumGate]:
    keys = {n: AgentKey.generate(n) for n in [*VOTERS, "runtime"]}
    ring = Keyring()
    for key in keys.values():
        ring.enrol(key)
    bus = InProcessBus()
    box = BallotBox(bus, keys["runtime"], ring, Quorum(frozenset(VOTERS)), "eu", "a",
                    lambda: world.clock.now_s())  # fmt: skip
    judges = {"healing": _Says(honest), "energy": _Says(honest), "security": _Says(honest),
              "scaling": _Says(True)}  # scaling is the liar: it approves everything  # fmt: skip
    members = [Member(bus, keys[n], ring, judges[n], "eu", "a", lambda: 0.0) for n in VOTERS]
    gate = QuorumGate(_Approves(), box, kinds_are_high_impact(["drain_machine"]), members)
    policy = ScriptedPolicy(
        lambda t: (
            [DrainMachine(machine=1), ScaleService(service=0, delta_replicas=1)] if t == 0 else []
        )
    )
    agent = Agent("ops", sensor=SimSensor(world), policy=policy, period_s=5.0, priority=10,
                  identity=Identity.for_role("ops", Role.OPERATOR))  # fmt: skip
    rt = Runtime([agent], clock=world.clock, actuator=DryRunActuator(world.clock), gate=gate)
    return rt, gate


def _path(rt: Runtime, kind: type) -> list[ActionStatus]:
    [rec] = [r for r in rt.records if type(r.action) is kind]
    return [t.status for t in rec.history]


def test_honest_majority_approves_the_drain_after_the_gate(world: FakeSim) -> None:
    rt, gate = _runtime(world, honest=True)
    rt.tick()  # in-process voters answer within the tick; remote ones would take longer
    assert ActionStatus.AWAITING_APPROVAL not in _path(rt, ScaleService)  # not high impact
    drain = _path(rt, DrainMachine)
    assert drain.index(ActionStatus.AWAITING_APPROVAL) < drain.index(ActionStatus.SUBMITTED)
    assert [d[1] for d in gate.decided] == ["approved"]
    assert any(r.event == "answer" and r.actor == "quorum" for r in rt.audit.records)


def test_one_liar_of_four_cannot_carry_a_drain_the_others_reject(world: FakeSim) -> None:
    rt, gate = _runtime(world, honest=False)
    rt.tick()
    assert _path(rt, DrainMachine)[-1] is ActionStatus.REJECTED
    assert ActionStatus.SUBMITTED in _path(rt, ScaleService)
    assert gate.decided[0][1] == "rejected" and "1 approve, 3 reject" in gate.decided[0][2]
