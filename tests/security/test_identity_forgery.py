"""The probe's identity cases, rerun: every forgery is refused and audited; the honest agents act.

Each case pairs a forging agent with an honest one on the fake world, ticks the runtime and checks
three things: the forged request did not reach the actuator, the audit log says why, and the
honest agent's request went through in the same tick.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import pytest

from autoinfra.actuators import DryRunActuator
from autoinfra.agents import Agent, AgentTickResult, Runtime
from autoinfra.agents import admission as admission_module
from autoinfra.core.actions import Action, DrainMachine, KillProcess
from autoinfra.core.clock import SimClock
from autoinfra.core.lifecycle import ActionStatus
from autoinfra.core.observation import Observation
from autoinfra.core.proposal import Finding, Justification, Proposal
from autoinfra.oversight.gate import Gate, GateSettings
from autoinfra.security import AuditLog, Identity, Role, Scope
from autoinfra.telemetry import SimSensor
from tests.agents.fakes import FakeSim

REFUSED = "proposal_refused"


def _proposal(action: Action, *, agent: str = "", request_id: str = "") -> Proposal:
    return Proposal(action, agent, 0, Justification("test"), 1.0, request_id)


class Plan:
    """A policy returning ``make(time_s)`` verbatim (proposals, claims and all)."""

    def __init__(self, make: Any) -> None:
        self.make = make

    def decide(self, observation: Observation, findings: Sequence[Finding]) -> list[Proposal]:
        return list(self.make(observation.time_s))


class RawAgent(Agent):
    """An agent whose tick returns what ``forge`` builds, bypassing the template's own stamping."""

    def __init__(self, world: FakeSim, name: str, forge: Any, **kw: Any) -> None:
        super().__init__(name, sensor=SimSensor(world), period_s=5.0, priority=10, **kw)
        self.forge = forge

    def tick(self, now_s: float) -> AgentTickResult:
        obs = self.perceive()
        return self.forge(obs, now_s)  # type: ignore[no-any-return]


def _honest(world: FakeSim, name: str = "healing", machine: int = 1) -> Agent:
    return Agent(
        name,
        sensor=SimSensor(world),
        policy=Plan(lambda t: [_proposal(KillProcess(machine=machine))] if t == 0 else []),
        period_s=5.0,
        priority=80,
        identity=Identity.for_role(name, Role.HEALER),
    )


def _run(agents: list[Agent], world: FakeSim, **kw: Any) -> tuple[Runtime, DryRunActuator]:
    actuator = DryRunActuator(world.clock)
    rt = Runtime(agents, clock=world.clock, actuator=actuator, audit=AuditLog(), **kw)
    rt.tick()
    return rt, actuator


def _refusals(rt: Runtime) -> list[dict[str, Any]]:
    return [r.data for r in rt.audit.where(REFUSED)]


def _submitted(actuator: DryRunActuator) -> list[tuple[str, Action]]:
    return [(rid, a) for _, rid, a in actuator.requests]


# -- a subclass posing as another kind -------------------------------------------------------------
def test_subclass_posing_as_scale_service_cannot_exist_and_a_lookalike_is_refused() -> None:
    with pytest.raises(TypeError, match="closed"):

        class PosingDrain(DrainMachine):  # type: ignore[misc]
            kind = "scale_service"

    class LookAlike:  # duck-typed: a kind and a target, but not of the closed set
        kind = "scale_service"
        target_kind, target_field, service, delta_replicas = "service", "service", 0, 1
        target = "service:0"

    world = FakeSim()
    scaler = Agent(
        "scaling",
        sensor=SimSensor(world),
        policy=Plan(lambda t: [_proposal(LookAlike())]),  # type: ignore[arg-type]
        period_s=5.0,
        priority=50,
        identity=Identity.for_role("scaling", Role.SCALER),
    )
    rt, actuator = _run([scaler, _honest(world)], world)
    assert [a for _, a in _submitted(actuator)] == [KillProcess(machine=1)]
    (refusal,) = _refusals(rt)
    assert refusal["agent"] == "scaling" and "LookAlike" in refusal["reason"]
    assert "not one of the closed action classes" in refusal["reason"]
    assert rt.audit.verify()


# -- an observer returning agent_id="healing" ------------------------------------------------------
def test_observer_claiming_to_be_the_healer_in_its_result_is_refused() -> None:
    world = FakeSim()

    def forge(obs: Observation, now: float) -> AgentTickResult:
        p = Proposal(DrainMachine(machine=5), "healing", 80, Justification("forged"), 1.0, "x")
        return AgentTickResult(obs, (), (p,), "healing", now)

    observer = RawAgent(world, "observer", forge)  # no identity: an observer
    rt, actuator = _run([observer, _honest(world)], world)
    assert [a for _, a in _submitted(actuator)] == [KillProcess(machine=1)]
    (refusal,) = _refusals(rt)
    assert refusal["agent"] == "observer" and "claims agent 'healing'" in refusal["reason"]
    assert all(r.proposed_by == "healing" for r in rt.records)
    assert [r.action for r in rt.records] == [KillProcess(machine=1)]


def test_observer_claiming_the_healer_per_proposal_is_refused() -> None:
    world = FakeSim()

    def forge(obs: Observation, now: float) -> AgentTickResult:
        p = _proposal(DrainMachine(machine=5), agent="healing")
        return AgentTickResult(obs, (), (p,), "", now)  # the result itself names no one

    rt, actuator = _run([RawAgent(world, "observer", forge), _honest(world)], world)
    assert [a for _, a in _submitted(actuator)] == [KillProcess(machine=1)]
    (refusal,) = _refusals(rt)
    assert "the proposal claims agent 'healing'" in refusal["reason"]


def test_a_policy_naming_the_healer_is_stamped_with_its_own_agent_and_denied() -> None:
    # through the template, a policy's claim is overwritten: the observer is still an observer
    world = FakeSim()
    observer = Agent(
        "observer",
        sensor=SimSensor(world),
        policy=Plan(lambda t: [_proposal(DrainMachine(machine=5), agent="healing")]),
        period_s=5.0,
        priority=99,
    )
    rt, actuator = _run([observer, _honest(world)], world)
    assert [a for _, a in _submitted(actuator)] == [KillProcess(machine=1)]
    denied = [r for r in rt.records if r.status == ActionStatus.REJECTED]
    assert [(r.proposed_by, r.history[-1].by) for r in denied] == [("observer", "security")]
    assert [r.event for r in rt.audit.where("denied")] == ["denied"]


# -- a different Proposal.agent on each of 200 proposals ------------------------------------------
def _blast_gate(world: FakeSim, limit: int) -> Gate:
    settings = GateSettings(max_machines_per_window=limit, max_machines_share=0.0)
    return Gate(settings, clock=world.clock, sensor=SimSensor(world))


def test_two_hundred_spoofed_agent_names_do_not_multiply_the_blast_radius() -> None:
    world = FakeSim(n_machines=240)

    def forge(obs: Observation, now: float) -> AgentTickResult:
        ps = tuple(_proposal(KillProcess(machine=m), agent=f"ghost-{m}") for m in range(200))
        return AgentTickResult(obs, (), ps, "", now)

    healer = RawAgent(world, "rogue", forge, identity=Identity.for_role("rogue", Role.HEALER))
    honest = _honest(world, "healing", machine=230)
    rt, actuator = _run([healer, honest], world, gate=_blast_gate(world, 50))
    assert [a for _, a in _submitted(actuator)] == [KillProcess(machine=230)]
    refusals = _refusals(rt)
    assert len(refusals) == 200 and all("claims agent 'ghost-" in r["reason"] for r in refusals)


def test_unnamed_proposals_are_stamped_and_share_one_agents_budget() -> None:
    # the same 200 kills without a claim: stamped with the runtime's agent id, so the gate's
    # blast radius (per agent) stops them at 50 as it would any one agent
    world = FakeSim(n_machines=240)

    def forge(obs: Observation, now: float) -> AgentTickResult:
        ps = tuple(_proposal(KillProcess(machine=m)) for m in range(200))
        return AgentTickResult(obs, (), ps, "", now)

    healer = RawAgent(world, "rogue", forge, identity=Identity.for_role("rogue", Role.HEALER))
    rt, actuator = _run([healer, _honest(world, machine=230)], world, gate=_blast_gate(world, 50))
    from_rogue = [rid for rid, _ in _submitted(actuator) if rid.startswith("rogue/")]
    assert len(from_rogue) == 50
    assert {r.proposed_by for r in rt.records} == {"rogue", "healing"}
    assert any(a == KillProcess(machine=230) for _, a in _submitted(actuator))
    blast = [r for r in rt.audit.where("rejected") if "blast-radius" in r.data["why"]]
    assert len(blast) == 150


def test_priority_claimed_by_an_agent_is_replaced_by_the_registered_one() -> None:
    world = FakeSim()

    def forge(obs: Observation, now: float) -> AgentTickResult:
        p = Proposal(KillProcess(machine=2), "", 10_000, Justification("me first"), 1.0)
        return AgentTickResult(obs, (), (p,), "", now)

    agent = RawAgent(world, "rogue", forge, identity=Identity.for_role("rogue", Role.HEALER))
    actuator = DryRunActuator(world.clock)
    seen: list[Proposal] = []

    class Spy:
        def arbitrate(self, proposals: Sequence[Proposal]) -> list[Proposal]:
            seen.extend(proposals)
            return list(proposals)

    Runtime([agent], clock=world.clock, actuator=actuator, arbiter=Spy()).tick()
    assert [p.priority for p in seen] == [10]


# -- request ids -----------------------------------------------------------------------------------
ID = re.compile(r"^(?P<agent>[\w-]+)/[0-9a-f]{32}$")


def test_request_ids_are_random_and_namespaced_by_agent() -> None:
    ids = []
    for _ in range(2):  # two identical runs: the same proposals, different ids
        world = FakeSim()
        _rt, actuator = _run([_honest(world, "healing")], world)
        ((rid, _),) = _submitted(actuator)
        match = ID.match(rid)
        assert match is not None and match["agent"] == "healing"
        ids.append(rid)
    assert ids[0] != ids[1]


def test_squatting_another_agents_labels_is_refused_and_the_victim_still_acts() -> None:
    # the probe: a policy put the healer's predictable ids on its own proposals, first, and
    # the healer's real requests were dropped as replays with no audit record
    world = FakeSim()
    victim_label = "healing@0.000#0"  # what the healer's template labels its first proposal
    squatter = Agent(
        "energy",
        sensor=SimSensor(world),
        policy=Plan(lambda t: [_proposal(DrainMachine(machine=6), request_id=victim_label)]),
        period_s=5.0,
        priority=90,
        identity=Identity.for_role("energy", Role.ENERGY),
    )
    rt, actuator = _run([squatter, _honest(world, "healing")], world)
    assert [a for _, a in _submitted(actuator)] == [KillProcess(machine=1)]
    (refusal,) = _refusals(rt)
    assert refusal["agent"] == "energy" and refusal["label"] == victim_label
    assert "in agent 'healing''s namespace" in refusal["reason"]


def test_squatting_an_issued_request_id_is_refused() -> None:
    world = FakeSim()
    issued: list[str] = []

    def forge(obs: Observation, now: float) -> AgentTickResult:
        label = issued[0] if issued else ""
        p = _proposal(DrainMachine(machine=6), request_id=label)
        return AgentTickResult(obs, (), (p,) if issued else (), "", now)

    squatter = RawAgent(world, "energy", forge, identity=Identity.for_role("energy", Role.ENERGY))
    honest = Agent(
        "healing",
        sensor=SimSensor(world),
        policy=Plan(lambda t: [_proposal(KillProcess(machine=int(t // 5)))]),
        period_s=5.0,
        priority=80,
        identity=Identity.for_role("healing", Role.HEALER),
    )
    actuator = DryRunActuator(world.clock)
    rt = Runtime([squatter, honest], clock=world.clock, actuator=actuator)
    rt.tick()
    issued.append(actuator.requests[0][1])  # the healer's real id, learnt from outside
    world.step()
    rt.tick()
    assert [a for _, _, a in actuator.requests] == [KillProcess(machine=0), KillProcess(machine=1)]
    (refusal,) = _refusals(rt)
    assert "squats a request id the runtime issued" in refusal["reason"]


def test_an_agent_reusing_its_own_label_is_refused_as_a_replay() -> None:
    world = FakeSim()
    agent = Agent(
        "healing",
        sensor=SimSensor(world),
        policy=Plan(lambda t: [_proposal(KillProcess(machine=int(t // 5)), request_id="mine")]),
        period_s=5.0,
        priority=80,
        identity=Identity.for_role("healing", Role.HEALER),
    )
    actuator = DryRunActuator(world.clock)
    rt = Runtime([agent], clock=world.clock, actuator=actuator)
    rt.tick()
    world.step()
    rt.tick()
    assert [a for _, _, a in actuator.requests] == [KillProcess(machine=0)]
    (refusal,) = _refusals(rt)
    assert "used before by this agent" in refusal["reason"] and refusal["label"] == "mine"


def test_a_request_id_collision_is_refused_and_audited_never_merged(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(admission_module, "new_token", lambda: "0" * 32)
    world = FakeSim()
    agent = Agent(
        "healing",
        sensor=SimSensor(world),
        policy=Plan(
            lambda t: [_proposal(KillProcess(machine=1)), _proposal(KillProcess(machine=2))]
        ),
        period_s=5.0,
        priority=80,
        identity=Identity.for_role("healing", Role.HEALER),
    )
    rt, actuator = _run([agent], world)
    assert [a for _, a in _submitted(actuator)] == [KillProcess(machine=1)]
    (refusal,) = _refusals(rt)
    assert "collision" in refusal["reason"]


# -- no default operator ---------------------------------------------------------------------------
def test_an_agent_without_identity_may_propose_nothing() -> None:
    world = FakeSim()
    anon = Agent(
        "anon",
        sensor=SimSensor(world),
        policy=Plan(lambda t: [_proposal(DrainMachine(machine=4))] if t == 0 else []),
        period_s=5.0,
        priority=99,
    )
    assert anon.identity.role == Role.OBSERVER and not anon.identity.scope.action_kinds
    rt, actuator = _run([anon, _honest(world)], world)
    assert [a for _, a in _submitted(actuator)] == [KillProcess(machine=1)]
    (denied,) = rt.audit.where("denied")
    assert "anon" in denied.data["why"] and "allows nothing" in denied.data["why"]


def test_widening_an_identity_after_registration_changes_nothing() -> None:
    world = FakeSim()
    anon = Agent(
        "anon",
        sensor=SimSensor(world),
        policy=Plan(lambda t: [_proposal(DrainMachine(machine=4))]),
        period_s=5.0,
        priority=99,
    )
    actuator = DryRunActuator(world.clock)
    rt = Runtime([anon], clock=world.clock, actuator=actuator)
    anon.identity = Identity.for_role("anon", Role.OPERATOR)  # too late: the runtime has a copy
    anon.identity.scope._cache["machine:4"] = True
    rt.tick()
    assert actuator.requests == [] and len(rt.audit.where("denied")) == 1


def test_identity_and_scope_are_final_and_agents_refuse_lookalikes() -> None:
    with pytest.raises(TypeError, match="final"):

        class Lenient(Identity):  # type: ignore[misc]
            def check(self, action: Action) -> None:
                return None

    with pytest.raises(TypeError, match="final"):

        class Wide(Scope):  # type: ignore[misc]
            pass

    class FakeIdentity:
        name, role = "x", Role.OPERATOR

        def check(self, action: Action) -> None:
            return None

    from autoinfra.core.errors import ConfigError

    with pytest.raises(ConfigError, match="identity must be an Identity"):
        Agent("x", sensor=SimSensor(FakeSim()), period_s=5.0, priority=1, identity=FakeIdentity())  # type: ignore[arg-type]


def test_scopes_refuse_unknown_kinds() -> None:
    from autoinfra.core.errors import ConfigError

    with pytest.raises(ConfigError, match="unknown action kind"):
        Scope(frozenset({"drain"}), ("machine:*",))


# -- presets and baselines give explicit, narrow identities ----------------------------------------
def _systems(world: FakeSim) -> dict[str, Any]:
    from autoinfra.agents.presets import build_autonomous
    from autoinfra.experiments.baselines import human, kubernetes

    return {
        "agents": build_autonomous(world, seed=0, params={"scaling_policy": "target"}),
        "kubernetes": kubernetes.build(world, seed=0),
        "human": human.build(world, seed=0),
    }


def test_no_preset_or_baseline_agent_may_do_everything() -> None:
    world = FakeSim()
    kinds: dict[str, frozenset[str]] = {}
    for system in _systems(world).values():
        for agent in system.runtime.agents:
            scope = agent.identity.scope
            assert "*" not in scope.action_kinds and "*" not in scope.targets, agent.agent_id
            assert agent.identity.name == agent.agent_id
            kinds[agent.agent_id] = scope.action_kinds
    assert kinds["k8s-node-lifecycle"] == {"evict_tasks"}
    assert kinds["k8s-hpa"] == {"scale_service"}
    assert kinds["k8s-cluster-autoscaler"] == {"set_machine_power", "drain_machine"}
    assert kinds["scaling"] == {"scale_service"}
    assert "drain_machine" not in kinds["human-operator"]


def test_the_clock_alone_is_not_an_identity() -> None:
    # a runtime given an agent-like object with no identity attribute registers an observer
    world = FakeSim()

    class Bare:
        agent_id, period_s, priority = "bare", 5.0, 1

        def tick(self, now_s: float) -> AgentTickResult:
            p = _proposal(DrainMachine(machine=3))
            return AgentTickResult(world.observe(), (), (p,), "bare", now_s)

        def learn(self, outcomes: Sequence[Any]) -> None:
            return None

        def forget(self, request_ids: Sequence[str]) -> None:
            return None

    actuator = DryRunActuator(SimClock())
    rt = Runtime([Bare()], clock=world.clock, actuator=actuator)  # type: ignore[list-item]
    rt.tick()
    assert actuator.requests == [] and len(rt.audit.where("denied")) == 1


@pytest.mark.parametrize("name", ["healing/x", "a@b", "", "two words", "x" * 65])
def test_agent_ids_that_would_blur_namespaces_are_refused(name: str) -> None:
    from autoinfra.core.errors import ConfigError

    world = FakeSim()
    agent = Agent(name, sensor=SimSensor(world), period_s=5.0, priority=1)
    with pytest.raises(ConfigError, match="agent id"):
        Runtime([agent], clock=world.clock, actuator=DryRunActuator(world.clock))
