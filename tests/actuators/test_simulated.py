"""SimulatedActuator mapping details: scaling steps, power-on lifts a cordon, timeouts."""

from __future__ import annotations

import pytest

from autoinfra.actuators import SimulatedActuator
from autoinfra.core.actions import EvictTasks, Reroute, ScaleService, SetMachinePower
from autoinfra.core.errors import ActionError
from tests.agents.fakes import FakeSim


def test_scale_steps_compose_within_one_poll() -> None:
    world = FakeSim()
    act = SimulatedActuator(world, latency_s=0.0)
    act.submit("a", ScaleService(service=1, delta_replicas=2))
    act.submit("b", ScaleService(service=1, delta_replicas=-1))
    outcomes = act.poll()
    assert all(o.succeeded for o in outcomes) and world.replicas[1] == 3 + 2 - 1


def test_power_on_makes_the_machine_schedulable_again() -> None:
    world = FakeSim(boot_delay_s=10.0)
    world.state[2] = 1  # OFF
    world.schedulable[2] = False  # cordoned when it was drained, before it went off
    act = SimulatedActuator(world, latency_s=0.0)
    act.submit("on", SetMachinePower(machine=2, on=True))
    assert act.poll() == []
    world.step()
    world.step()
    (outcome,) = act.poll()
    assert outcome.succeeded and world.schedulable[2]


def test_no_effect_within_the_timeout_is_a_failure() -> None:
    world = FakeSim(boot_delay_s=1000.0)
    world.state[2] = 1
    act = SimulatedActuator(world, latency_s=0.0, outcome_timeout_s=30.0)
    act.submit("on", SetMachinePower(machine=2, on=True))
    outcomes = []
    for _ in range(8):
        outcomes += act.poll()
        world.step()
    (outcome,) = outcomes
    assert not outcome.succeeded and "no effect after 30 s" in outcome.detail
    assert act.in_flight == 0


def test_evict_cordons_and_reroute_applies() -> None:
    world = FakeSim()
    world.fail(4)
    act = SimulatedActuator(world, latency_s=0.0)
    act.submit("e", EvictTasks(machine=4))
    act.submit("r", Reroute(rack=0, away_from_link=0))
    assert {o.request_id: o.succeeded for o in act.poll()} == {"e": True, "r": True}
    assert [e[2] for e in world.events] == ["evict_stranded", "cordon", "reroute"]
    assert not world.schedulable[4]


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ActionError, match="latency_s"):
        SimulatedActuator(FakeSim(), latency_s=-1.0)
