"""The agent loop: periods, passivity, approvals, scope, idempotency, lifecycle, feedback."""

from __future__ import annotations

import itertools

import pytest

from autoinfra.actuators import DryRunActuator, SimulatedActuator
from autoinfra.agents import Agent, Runtime
from autoinfra.core.actions import DrainMachine, KillProcess, ScaleService, SetMachinePower
from autoinfra.core.errors import ConfigError
from autoinfra.core.lifecycle import TRANSITIONS, ActionStatus
from autoinfra.core.proposal import Decision, Proposal, Verdict
from autoinfra.security import AuditLog, Identity, Role
from autoinfra.telemetry import SimSensor
from tests.agents.conftest import ScriptedPolicy
from tests.agents.fakes import FakeSim

S = ActionStatus


def _agent(world: FakeSim, name: str, policy: ScriptedPolicy, **kw: object) -> Agent:
    # these tests are about the loop, not scopes: an explicit operator identity (no default is one)
    kw.setdefault("identity", Identity.for_role(name, Role.OPERATOR))
    return Agent(
        name,
        sensor=SimSensor(world),
        policy=policy,
        period_s=float(kw.pop("period_s", 5.0)),  # type: ignore[arg-type]
        priority=int(kw.pop("priority", 10)),  # type: ignore[call-overload]
        **kw,  # type: ignore[arg-type]
    )


def test_each_agent_runs_on_its_own_period(world: FakeSim) -> None:
    fast, slow = ScriptedPolicy(lambda t: []), ScriptedPolicy(lambda t: [])
    rt = Runtime(
        [_agent(world, "fast", fast, period_s=10.0), _agent(world, "slow", slow, period_s=15.0)],
        clock=world.clock,
        actuator=DryRunActuator(world.clock),
    )
    for _ in range(13):  # t = 0 .. 60 in 5 s ticks
        rt.tick()
        world.step()
    assert fast.calls == [0.0, 10.0, 20.0, 30.0, 40.0, 50.0, 60.0]
    assert slow.calls == [0.0, 15.0, 30.0, 45.0, 60.0]


def test_agent_tick_is_passive(world: FakeSim) -> None:
    policy = ScriptedPolicy(lambda t: [DrainMachine(machine=1)])
    agent = _agent(world, "a", policy)
    result = agent.tick(0.0)
    assert [p.action for p in result.proposals] == [DrainMachine(machine=1)]
    assert result.proposals[0].agent == "a" and result.proposals[0].request_id
    assert world.mutations == 0


class _FixedGate:
    def __init__(self, decisions: dict[str, Decision]) -> None:
        self.decisions = decisions

    def review(self, proposal: Proposal) -> Verdict:
        return Verdict(self.decisions[proposal.action.kind], "fixed")


def test_only_approved_actions_are_submitted(world: FakeSim) -> None:
    policy = ScriptedPolicy(
        lambda t: (
            [
                DrainMachine(machine=1),
                KillProcess(machine=2),
                ScaleService(service=0, delta_replicas=1),
            ]
            if t == 0.0
            else []
        )
    )
    gate = _FixedGate(
        {
            "drain_machine": Decision.APPROVE,
            "kill_process": Decision.REJECT,
            "scale_service": Decision.ESCALATE,
        }
    )
    actuator = DryRunActuator(world.clock)
    rt = Runtime([_agent(world, "a", policy)], clock=world.clock, actuator=actuator, gate=gate)
    rt.tick()
    assert [a for _, _, a in actuator.requests] == [DrainMachine(machine=1)]
    by_kind = {r.action.kind: r.status for r in rt.records}
    assert by_kind == {
        "drain_machine": S.SUBMITTED,
        "kill_process": S.REJECTED,
        "scale_service": S.AWAITING_APPROVAL,
    }
    assert world.mutations == 0  # a dry run never acts


def test_out_of_scope_proposals_are_refused_and_audited(world: FakeSim) -> None:
    policy = ScriptedPolicy(lambda t: [SetMachinePower(machine=3, on=False)] if t == 0 else [])
    audit = AuditLog()
    actuator = DryRunActuator(world.clock)
    scaler = _agent(world, "scaler", policy, identity=Identity.for_role("scaler", Role.SCALER))
    rt = Runtime([scaler], clock=world.clock, actuator=actuator, audit=audit)
    rt.tick()
    (rec,) = rt.records
    assert rec.status == S.REJECTED and rec.history[-1].by == "security"
    assert "may not set_machine_power" in rec.history[-1].why
    assert actuator.requests == []
    assert [r.event for r in audit.where("denied")] == ["denied"]
    assert policy.outcomes and policy.outcomes[0][1] is False  # the agent hears it was refused
    assert audit.verify()


def test_simulated_actuator_is_idempotent_and_waits_for_effects(world: FakeSim) -> None:
    act = SimulatedActuator(world, latency_s=1.5)
    world.tasks[5] = 0
    act.submit("r1", SetMachinePower(machine=5, on=False))
    act.submit("r1", SetMachinePower(machine=5, on=False))  # the same request again
    assert act.poll() == []  # latency not yet elapsed
    world.step()
    (outcome,) = act.poll()
    assert outcome.succeeded and outcome.request_id == "r1"
    assert [e[2] for e in world.events] == ["power_off"]
    act.submit("r1", SetMachinePower(machine=5, on=False))
    world.step()
    assert act.poll() == [] and len(world.events) == 1

    act.submit("r2", SetMachinePower(machine=5, on=True))
    world.step()
    assert act.poll() == []  # booting: not ON yet
    for _ in range(6):
        world.step()
    (outcome,) = act.poll()
    assert outcome.succeeded and world.machine_state(5).name == "ON"


def test_refused_actions_come_back_as_failed_outcomes(world: FakeSim) -> None:
    act = SimulatedActuator(world, latency_s=0.0)
    act.submit("r", SetMachinePower(machine=0, on=False))  # machine 0 has tasks: refused
    (outcome,) = act.poll()
    assert not outcome.succeeded and "refused" in outcome.detail


def test_drain_succeeds_when_empty_and_full_loop_feeds_back(world: FakeSim) -> None:
    policy = ScriptedPolicy(lambda t: [DrainMachine(machine=2)] if t == 0 else [])
    rt = Runtime(
        [_agent(world, "a", policy)],
        clock=world.clock,
        actuator=SimulatedActuator(world, latency_s=1.0),
    )
    for _ in range(4):
        rt.tick()
        world.step()
    (rec,) = rt.records
    assert [t.status for t in rec.history] == [S.PROPOSED, S.APPROVED, S.SUBMITTED, S.SUCCEEDED]
    assert world.tasks[2] == 0
    assert policy.outcomes == [(rec.request_id, True)]


def test_identical_action_in_flight_is_not_proposed_twice(world: FakeSim) -> None:
    policy = ScriptedPolicy(lambda t: [SetMachinePower(machine=4, on=True)])
    world.state[4] = 1  # OFF
    actuator = SimulatedActuator(world, latency_s=1.0)
    rt = Runtime([_agent(world, "a", policy)], clock=world.clock, actuator=actuator)
    for _ in range(3):
        rt.tick()
        world.step()
    assert len(rt.records) == 1 and len(actuator.applied) == 1


def test_agent_ids_must_be_unique(world: FakeSim) -> None:
    p = ScriptedPolicy(lambda t: [])
    with pytest.raises(ConfigError, match="unique"):
        Runtime(
            [_agent(world, "x", p), _agent(world, "x", p)],
            clock=world.clock,
            actuator=DryRunActuator(),
        )


def test_findings_reported_once_per_appearance(world: FakeSim) -> None:
    from autoinfra.core.proposal import Finding

    class Flappy:
        def analyze(self, obs):  # type: ignore[no-untyped-def]
            on = obs.time_s < 20 or obs.time_s >= 40
            return [Finding("cpu_hog", "machine:1", 0.9, obs.time_s)] if on else []

    seen: list[tuple[str, float]] = []
    agent = Agent("h", sensor=SimSensor(world), detectors=[Flappy()], period_s=5, priority=1)
    rt = Runtime(
        [agent],
        clock=world.clock,
        actuator=DryRunActuator(),
        on_finding=lambda a, f: seen.append((a, f.at_s)),
    )
    for _ in range(10):
        rt.tick()
        world.step()
    assert seen == [("h", 0.0), ("h", 40.0)]


def test_every_record_history_follows_the_transition_table(world: FakeSim) -> None:
    policy = ScriptedPolicy(
        lambda t: [DrainMachine(machine=int(t // 5) % 8), KillProcess(machine=1)]
    )
    rt = Runtime(
        [_agent(world, "a", policy)],
        clock=world.clock,
        actuator=SimulatedActuator(world, latency_s=2.0),
    )
    for _ in range(12):
        rt.tick()
        world.step()
    assert rt.records
    for rec in rt.records:
        statuses = [t.status for t in rec.history]
        assert statuses[0] == S.PROPOSED
        for a, b in itertools.pairwise(statuses):
            assert b in TRANSITIONS[a]
