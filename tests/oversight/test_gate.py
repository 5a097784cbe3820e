"""Gate guards (rate, blast radius, headroom), risk escalation, approvers and the queue on disk."""

from __future__ import annotations

from autoinfra.core.actions import (
    DrainMachine,
    IsolateMachine,
    KillProcess,
    ScaleService,
    SetMachinePower,
)
from autoinfra.core.proposal import Decision, Justification, Proposal
from autoinfra.oversight import (
    ApprovalItem,
    AutoApproveAfter,
    DelayedApprover,
    Gate,
    GateSettings,
    RiskModel,
)
from autoinfra.telemetry import SimSensor
from tests.agents.fakes import FakeSim


def _p(action, agent: str = "a", conf: float = 1.0, rid: str | None = None) -> Proposal:  # type: ignore[no-untyped-def]
    return Proposal(action, agent, 10, Justification("why"), conf, rid or f"{agent}-{action}")


def test_rate_guard_per_agent() -> None:
    world = FakeSim()
    gate = Gate(GateSettings(max_actions_per_agent=2, window_s=60), clock=world.clock)
    verdicts = [gate.review(_p(KillProcess(machine=m), rid=f"k{m}")).decision for m in range(3)]
    assert verdicts == [Decision.APPROVE, Decision.APPROVE, Decision.REJECT]
    assert gate.review(_p(KillProcess(machine=5), agent="b")).decision == Decision.APPROVE
    world.clock.advance(61)
    assert gate.review(_p(KillProcess(machine=6), rid="k6")).decision == Decision.APPROVE


def test_blast_radius_counts_distinct_machines_per_agent() -> None:
    world = FakeSim(n_machines=40)
    settings = GateSettings(max_machines_per_window=2, max_machines_share=0.05)
    gate = Gate(settings, clock=world.clock, sensor=SimSensor(world))
    assert gate.review(_p(KillProcess(machine=1), "x", rid="1")).decision == Decision.APPROVE
    assert gate.review(_p(KillProcess(machine=2), "x", rid="2")).decision == Decision.APPROVE
    same = gate.review(_p(DrainMachine(machine=1), "x", rid="3"))
    assert same.decision == Decision.APPROVE  # the same machine again does not widen it
    v = gate.review(_p(KillProcess(machine=3), "x", rid="4"))
    assert v.decision == Decision.REJECT and "blast-radius" in v.reason
    assert gate.review(_p(KillProcess(machine=3), "y", rid="5")).decision == Decision.APPROVE
    big = Gate(settings, clock=world.clock, sensor=SimSensor(FakeSim(n_machines=200)))
    decisions = [
        big.review(_p(KillProcess(machine=m), "x", rid=f"k{m}")).decision for m in range(11)
    ]
    assert decisions.count(Decision.APPROVE) == 10  # 5 % of 200 machines


def test_headroom_guard_refuses_reductions_that_leave_too_little() -> None:
    world = FakeSim(n_machines=4)  # 4 x 0.5 CPU, 4 tasks x 0.05 each = 0.2 requested per machine
    gate = Gate(GateSettings(min_headroom_share=0.5), clock=world.clock, sensor=SimSensor(world))
    # 0.8 requested of 2.0; without one machine 1.5 capacity: 47 % free < 50 %
    v = gate.review(_p(DrainMachine(machine=0)))
    assert v.decision == Decision.REJECT and "headroom" in v.reason
    loose = Gate(GateSettings(min_headroom_share=0.3), clock=world.clock, sensor=SimSensor(world))
    assert loose.review(_p(DrainMachine(machine=0), rid="d0")).decision == Decision.APPROVE
    # a second reduction in the same instant counts the first: 1.0 capacity left for 0.8
    assert loose.review(_p(DrainMachine(machine=1), rid="d1")).decision == Decision.REJECT
    assert loose.review(_p(SetMachinePower(machine=1, on=True))).decision == Decision.APPROVE


def test_risk_escalates_big_or_unsure_actions() -> None:
    world = FakeSim()
    risk = RiskModel()
    obs = world.observe()
    small = _p(ScaleService(service=0, delta_replicas=1))
    big = _p(ScaleService(service=0, delta_replicas=3))  # doubles a 3-replica service
    assert risk.score(small, obs) < risk.score(big, obs)
    gate = Gate(clock=world.clock, sensor=SimSensor(world))
    assert gate.review(small).decision == Decision.APPROVE
    assert gate.review(big).decision == Decision.ESCALATE
    assert gate.review(_p(IsolateMachine(machine=1), conf=0.95)).decision == Decision.APPROVE
    v = gate.review(_p(IsolateMachine(machine=2), conf=0.4))
    assert v.decision == Decision.ESCALATE and v.risk >= 0.7
    assert len(gate.queue) == 2


def test_auto_approver_answers_after_its_delay() -> None:
    world = FakeSim()
    gate = Gate(clock=world.clock, approver=AutoApproveAfter(delay_s=30))
    assert gate.review(_p(IsolateMachine(machine=2), conf=0.2)).decision == Decision.ESCALATE
    world.clock.advance(25)
    assert gate.answers(world.now_s) == []
    world.clock.advance(5)
    (answer,) = gate.answers(world.now_s)
    assert answer.approved and answer.by == "auto-approve"
    assert len(gate.queue) == 0


def test_delayed_approver_draws_each_delay_once_with_its_seed() -> None:
    def run(seed: int) -> list[float]:
        approver = DelayedApprover(lambda rng: float(rng.exponential(60.0)), seed=seed)
        times = []
        for k in range(3):
            item = ApprovalItem(f"r{k}", "a", KillProcess(machine=k), "x", 0.9, 0.0)
            t = 0.0
            while approver.respond(item, t) is None:
                t += 1.0
            times.append(t)
        return times

    assert run(1) == run(1) and run(1) != run(2)
    no = DelayedApprover(lambda rng: 0.0, seed=0, approve_share=0.0)
    answer = no.respond(ApprovalItem("r", "a", KillProcess(machine=0), "x", 0.9, 0.0), 0.0)
    assert answer is not None and not answer.approved


def test_timeout_refuses_unanswered_requests() -> None:
    world = FakeSim()
    gate = Gate(GateSettings(approval_timeout_s=100), clock=world.clock)
    gate.review(_p(IsolateMachine(machine=1), conf=0.1))
    world.clock.advance(100)
    (answer,) = gate.answers(world.now_s)
    assert not answer.approved and "no answer within 100" in answer.why


# the approval queue on disk (restart, file errors) is tested in tests/oversight/test_approval*.py


def test_rate_guard_per_target_catches_flapping() -> None:
    world = FakeSim()
    gate = Gate(GateSettings(max_actions_per_target=3), clock=world.clock, sensor=SimSensor(world))
    verdicts = []
    for k in range(4):
        step = ScaleService(service=0, delta_replicas=1 if k % 2 else -1)
        verdicts.append(gate.review(_p(step, rid=f"s{k}")).decision)
    assert verdicts == [Decision.APPROVE] * 3 + [Decision.REJECT]
    assert gate.review(_p(ScaleService(service=1, delta_replicas=1), rid="o")).decision == (
        Decision.APPROVE
    )
