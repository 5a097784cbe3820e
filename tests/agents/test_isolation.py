"""A policy that raises or returns something malformed is isolated: refused, audited, others go on.

The probe: one ``ScaleService(service=1.5)`` or ``DrainMachine(machine=None)`` from a policy raised
out of the runtime and stopped every agent. Here each kind of bad output is produced by a "bad"
agent ticking beside an honest one, and the runtime must (1) not raise, (2) audit a refusal naming
the agent and the reason, (3) still submit the honest agent's action in the same tick.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import hypothesis.strategies as st
from hypothesis import given, settings

from autoinfra.actuators import DryRunActuator, SimulatedActuator
from autoinfra.agents import Agent, Runtime
from autoinfra.core.actions import (
    ACTION_TYPES,
    MAX_DELTA_REPLICAS,
    Action,
    DrainMachine,
    KillProcess,
    Reroute,
    ResizeRequests,
    RestoreRoutes,
    ScaleService,
    SetMachinePower,
)
from autoinfra.core.observation import Observation
from autoinfra.core.proposal import Finding, Justification, Proposal
from autoinfra.security import AuditLog, Identity, Role
from autoinfra.telemetry import SimSensor
from tests.agents.fakes import FakeSim

REFUSED = "proposal_refused"
HONEST = KillProcess(machine=1)


class Emit:
    """A policy returning whatever ``make(time_s)`` returns, or raising what it raises."""

    def __init__(self, make: Callable[[float], Any]) -> None:
        self.make = make

    def decide(self, observation: Observation, findings: Sequence[Finding]) -> Any:
        return self.make(observation.time_s)


def _p(action: Any, **kw: Any) -> Proposal:
    fields: dict[str, Any] = {
        "agent": "",
        "priority": 0,
        "justification": Justification("test"),
        "confidence": 1.0,
    }
    fields.update(kw)
    return Proposal(action, **fields)


def _setup(
    world: FakeSim, bad: Callable[[float], Any], actuator: Any = None
) -> tuple[Runtime, Any]:
    operator = Identity.for_role("bad", Role.OPERATOR)  # all kinds: only the shape is wrong
    agents = [
        Agent("bad", sensor=SimSensor(world), policy=Emit(bad), period_s=5.0, priority=90,
              identity=operator),
        Agent("honest", sensor=SimSensor(world), policy=Emit(lambda t: [_p(HONEST)]),
              period_s=5.0, priority=10, identity=Identity.for_role("honest", Role.HEALER)),
    ]  # fmt: skip
    actuator = actuator if actuator is not None else DryRunActuator(world.clock)
    return Runtime(agents, clock=world.clock, actuator=actuator, audit=AuditLog()), actuator


def _check_isolated(rt: Runtime, actuator: DryRunActuator, *, why: str = "") -> list[str]:
    assert [a for _, _, a in actuator.requests] == [HONEST], "the honest agent must still act"
    refusals = [r.data for r in rt.audit.where(REFUSED)]
    assert refusals and all(r["agent"] == "bad" for r in refusals)
    assert all(len(r["reason"]) <= 300 for r in refusals)
    if why:
        assert any(why in r["reason"] for r in refusals), refusals
    assert rt.audit.verify()
    return [r["reason"] for r in refusals]


def _raises(exc: BaseException) -> Callable[[float], Any]:
    def make(t: float) -> Any:
        raise exc

    return make


def test_a_raising_policy_is_refused_and_the_others_act() -> None:
    world = FakeSim()
    rt, actuator = _setup(world, _raises(ZeroDivisionError("division by zero")))
    rt.tick()
    _check_isolated(rt, actuator, why="raised ZeroDivisionError: division by zero")
    world.step()
    rt.tick()  # and the runtime keeps going on later ticks
    assert len(rt.audit.where(REFUSED)) == 2


def test_scale_service_with_a_float_slot_is_refused_naming_the_field() -> None:
    world = FakeSim()
    rt, actuator = _setup(world, lambda t: [_p(ScaleService(service=1.5, delta_replicas=1))])  # type: ignore[arg-type]
    rt.tick()
    _check_isolated(rt, actuator, why="ScaleService.service")


def test_drain_machine_of_none_is_refused_naming_the_field() -> None:
    world = FakeSim()
    rt, actuator = _setup(world, lambda t: [_p(DrainMachine(machine=None))])  # type: ignore[arg-type]
    rt.tick()
    _check_isolated(rt, actuator, why="DrainMachine.machine")


def _forced(cls: type[Action], **values: Any) -> Action:
    # a valid action, then bad values forced in past the frozen dataclass (the constructor
    # would refuse them): what a policy that works around the checks hands over
    good = {
        ScaleService: {"service": 0, "delta_replicas": 1},
        SetMachinePower: {"machine": 0, "on": True},
        Reroute: {"rack": 0, "away_from_link": 0},
        RestoreRoutes: {"rack": 0},
        ResizeRequests: {"service": 0, "cpu_request": 0.1, "mem_request": 0.1},
    }.get(cls, {"machine": 0})
    action = cls(**good)
    for k, v in values.items():
        object.__setattr__(action, k, v)
    return action


def test_one_bad_proposal_among_good_ones_refuses_only_that_one() -> None:
    world = FakeSim()
    batch = [
        _p(DrainMachine(machine=3)),
        _p(_forced(DrainMachine, machine=None)),
        "drain machine 4",
        _p(SetMachinePower(machine=5, on=False)),
    ]
    rt, actuator = _setup(world, lambda t: batch if t == 0 else [])
    world.tasks[5] = 0
    rt.tick()
    done = [a for _, _, a in actuator.requests]
    assert done == [DrainMachine(machine=3), SetMachinePower(machine=5, on=False), HONEST]
    reasons = [r.data["reason"] for r in rt.audit.where(REFUSED)]
    assert len(reasons) == 2
    assert "DrainMachine.machine" in reasons[0] and "str is not a Proposal" in reasons[1]
    assert [r.data["index"] for r in rt.audit.where(REFUSED)] == [1, 2]


def test_a_policy_returning_no_list_is_refused() -> None:
    world = FakeSim()
    rt, actuator = _setup(world, lambda t: 42)
    rt.tick()
    _check_isolated(rt, actuator, why="raised TypeError")


def test_what_was_admitted_cannot_be_changed_afterwards() -> None:
    # the runtime and the actuator keep their own checked copies: changing the policy's object
    # after the tick does not change what reaches the world
    world = FakeSim()
    mine = DrainMachine(machine=2)
    rt, _ = _setup(world, lambda t: [_p(mine)] if t == 0 else [],
                          actuator=SimulatedActuator(world, latency_s=1.0))  # fmt: skip
    rt.tick()
    object.__setattr__(mine, "machine", 7)
    world.step()
    rt.tick()
    drains = [e for e in world.events if e[2] == "drain"]
    assert [e[3] for e in drains] == [2]
    assert {r.action for r in rt.records} == {DrainMachine(machine=2), HONEST}


def test_bad_findings_are_dropped_and_audited_good_ones_reported() -> None:
    world = FakeSim()
    reported: list[tuple[str, str]] = []

    class Detect:
        def analyze(self, observation: Observation) -> list[Any]:
            return [
                Finding("cpu_hog", "machine:1", 0.9, observation.time_s),
                Finding("cpu_hog", 17, 0.9, observation.time_s),  # type: ignore[arg-type]
                Finding("cpu_hog", "machine:2", math.nan, observation.time_s),
                "machine 3 is on fire",
            ]

    agent = Agent("watch", sensor=SimSensor(world), detectors=[Detect()], period_s=5.0,
                  priority=1)  # fmt: skip
    rt = Runtime([agent], clock=world.clock, actuator=DryRunActuator(world.clock),
                 on_finding=lambda a, f: reported.append((a, f.target)))  # fmt: skip
    rt.tick()
    assert reported == [("watch", "machine:1")]
    assert len(rt.audit.where("finding_refused")) == 3


def test_a_malformed_tick_result_is_refused() -> None:
    world = FakeSim()

    class Broken(Agent):
        def tick(self, now_s: float) -> Any:
            return {"proposals": [DrainMachine(machine=1)]}

    bad = Broken("bad", sensor=SimSensor(world), period_s=5.0, priority=1,
                 identity=Identity.for_role("bad", Role.HEALER))  # fmt: skip
    honest = Agent("honest", sensor=SimSensor(world), policy=Emit(lambda t: [_p(HONEST)]),
                   period_s=5.0, priority=10,
                   identity=Identity.for_role("honest", Role.HEALER))  # fmt: skip
    actuator = DryRunActuator(world.clock)
    rt = Runtime([bad, honest], clock=world.clock, actuator=actuator)
    rt.tick()
    _check_isolated(rt, actuator, why="not an AgentTickResult")


# -- the property ----------------------------------------------------------------------------------
class _Hostile:
    """A value whose every dunder a check might call raises."""

    def __repr__(self) -> str:
        raise RuntimeError("repr")

    def __str__(self) -> str:
        raise RuntimeError("str")

    def __index__(self) -> int:
        raise RuntimeError("index")

    def __eq__(self, other: object) -> bool:
        raise RuntimeError("eq")

    __hash__ = object.__hash__


JUNK = st.one_of(
    st.none(),
    st.booleans(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(max_value=-1),
    st.integers(min_value=2**31),
    st.text(max_size=5),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=2), st.integers(), max_size=2),
    st.builds(_Hostile),
)
CLASSES = sorted(ACTION_TYPES, key=lambda c: c.__name__)
FIELDS = {
    ScaleService: ("service", "delta_replicas"),
    SetMachinePower: ("machine", "on"),
    Reroute: ("rack", "away_from_link"),
    RestoreRoutes: ("rack",),
    ResizeRequests: ("service", "cpu_request", "mem_request"),
}


@st.composite
def malformed_actions(draw: st.DrawFn) -> Any:
    how = draw(st.sampled_from(["forced", "junk", "blank", "lookalike"]))
    if how == "junk":  # not an action at all
        return draw(JUNK)
    cls = draw(st.sampled_from(CLASSES))
    if how == "blank":  # never initialised
        return object.__new__(cls)
    if how == "lookalike":  # the kind and target of a real class on another class
        fake = type("Fake", (), {"kind": cls.kind, "target": f"{cls.target_kind}:0"})
        return fake()
    name = draw(st.sampled_from(FIELDS.get(cls, ("machine",))))
    value = draw(JUNK)
    if name == "on" and isinstance(value, bool):
        value = draw(st.sampled_from([0, 1, "yes", None]))
    if name == "delta_replicas" and type(value) is int and abs(value) <= MAX_DELTA_REPLICAS:
        value = MAX_DELTA_REPLICAS + 1 + abs(value)  # negative deltas are fine: out of range
    if name.endswith("_request") and type(value) is float and 0.0 < value <= 1.0:
        # a request in (0, 1] is valid: push it out of range (1.0 + a subnormal is still 1.0)
        value = 1.5 + value
    return _forced(cls, **{name: value})


@st.composite
def malformed_proposals(draw: st.DrawFn) -> Any:
    kind = draw(st.sampled_from(["action", "confidence", "justification", "findings", "label"]))
    if kind == "action":
        return _p(draw(malformed_actions()))
    good = DrainMachine(machine=draw(st.integers(0, 7)))
    if kind == "confidence":
        return _p(good, confidence=draw(st.one_of(st.just(math.nan), st.just(math.inf), JUNK)
                                        .filter(lambda v: not _is_real(v))))  # fmt: skip
    if kind == "justification":
        cyclic: dict[str, Any] = {}
        cyclic["self"] = cyclic
        bad = draw(st.sampled_from([None, "why", Justification("x", cyclic),
                                    Justification(None, {}), Justification("x", [])]))  # type: ignore[arg-type]  # fmt: skip
        return _p(good, justification=bad)
    if kind == "findings":
        return _p(good, findings=draw(st.sampled_from([None, ["f"], ("f",), 3])))
    return _p(good, request_id=draw(st.one_of(st.integers(), st.none(), st.just(b"x"))))


def _is_real(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


@settings(max_examples=150, deadline=None)
@given(st.lists(malformed_proposals(), min_size=1, max_size=4))
def test_any_malformed_proposal_is_refused_and_audited_and_never_raises(batch: list[Any]) -> None:
    world = FakeSim()
    rt, actuator = _setup(world, lambda t: batch)
    rt.tick()  # must not raise
    refusals = rt.audit.where(REFUSED)
    assert len(refusals) == len(batch), [r.data for r in refusals]
    assert [a for _, _, a in actuator.requests] == [HONEST]
    assert {r.proposed_by for r in rt.records} == {"honest"}
    assert rt.audit.verify()


@settings(max_examples=60, deadline=None)
@given(st.sampled_from([ValueError, TypeError, KeyError, RuntimeError, AttributeError, IndexError]),
       st.one_of(st.text(max_size=500), st.builds(_Hostile)))  # fmt: skip
def test_any_exception_from_a_policy_is_refused_and_audited(exc: type, arg: Any) -> None:
    world = FakeSim()
    rt, actuator = _setup(world, _raises(exc(arg)))
    rt.tick()
    (refusal,) = rt.audit.where(REFUSED)
    assert exc.__name__ in refusal.data["reason"]
    assert [a for _, _, a in actuator.requests] == [HONEST]


def test_hostile_claims_in_a_result_are_refused_without_raising() -> None:
    world = FakeSim()

    class Claims(Agent):
        def tick(self, now_s: float) -> Any:
            from autoinfra.agents import AgentTickResult

            p = Proposal(DrainMachine(machine=1), _Hostile(), 0, Justification("x"))  # type: ignore[arg-type]
            return AgentTickResult(self.perceive(), (), (p,), _Hostile(), now_s)  # type: ignore[arg-type]

    bad = Claims("bad", sensor=SimSensor(world), period_s=5.0, priority=1,
                 identity=Identity.for_role("bad", Role.HEALER))  # fmt: skip
    honest = Agent("honest", sensor=SimSensor(world), policy=Emit(lambda t: [_p(HONEST)]),
                   period_s=5.0, priority=10,
                   identity=Identity.for_role("honest", Role.HEALER))  # fmt: skip
    actuator = DryRunActuator(world.clock)
    rt = Runtime([bad, honest], clock=world.clock, actuator=actuator)
    rt.tick()
    _check_isolated(rt, actuator, why="raised RuntimeError")
