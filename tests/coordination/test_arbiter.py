"""Priority arbitration: same target, capacity conflicts, holds across ticks, recorded reasons."""

from __future__ import annotations

from autoinfra.coordination import PriorityArbiter
from autoinfra.core.actions import (
    Action,
    DrainMachine,
    EvictTasks,
    ScaleService,
    SetMachinePower,
)
from autoinfra.core.clock import SimClock
from autoinfra.core.proposal import Justification, Proposal


def _p(action: Action, agent: str, priority: int, rid: str, conf: float = 1.0) -> Proposal:
    return Proposal(action, agent, priority, Justification("t"), conf, rid)


def test_same_target_goes_to_the_higher_priority() -> None:
    arb = PriorityArbiter()
    energy = _p(SetMachinePower(machine=3, on=False), "energy", 20, "e1")
    healing = _p(DrainMachine(machine=3), "healing", 80, "h1")
    other = _p(SetMachinePower(machine=4, on=False), "energy", 20, "e2")
    assert arb.arbitrate([energy, healing, other]) == [healing, other]
    assert "machine:3 taken by healing" in arb.rulings["e1"]


def test_ties_are_settled_by_confidence_then_name() -> None:
    arb = PriorityArbiter()
    a = _p(ScaleService(service=1, delta_replicas=1), "b-agent", 50, "a", conf=0.6)
    b = _p(ScaleService(service=1, delta_replicas=-1), "a-agent", 50, "b", conf=0.9)
    assert arb.arbitrate([a, b]) == [b]
    c = _p(ScaleService(service=1, delta_replicas=1), "b-agent", 50, "c")
    d = _p(ScaleService(service=1, delta_replicas=-1), "a-agent", 50, "d")
    assert arb.arbitrate([c, d]) == [d]


def test_energy_loses_when_others_need_capacity() -> None:
    arb = PriorityArbiter()
    off = _p(SetMachinePower(machine=7, on=False), "energy", 20, "off")
    scale = _p(ScaleService(service=0, delta_replicas=2), "scaling", 50, "up")
    assert arb.arbitrate([off, scale]) == [scale]
    assert "needs capacity" in arb.rulings["off"]
    evict = _p(EvictTasks(machine=1), "healing", 80, "ev")
    assert arb.arbitrate([off, evict]) == [evict]
    down = _p(ScaleService(service=0, delta_replicas=-1), "scaling", 50, "down")
    assert arb.arbitrate([off, down]) == [off, down]  # a scale-down needs nothing


def test_winner_holds_its_target_for_a_while() -> None:
    clock = SimClock()
    arb = PriorityArbiter(clock=clock)
    arb.arbitrate([_p(DrainMachine(machine=2), "healing", 80, "h")])
    clock.advance(30)
    later = _p(SetMachinePower(machine=2, on=False), "energy", 20, "e")
    assert arb.arbitrate([later]) == []
    assert "held by healing" in arb.rulings["e"]
    clock.advance(200)
    assert arb.arbitrate([later]) == [later]


def test_with_a_sensor_small_needs_do_not_block_energy() -> None:
    from autoinfra.telemetry import SimSensor
    from tests.agents.fakes import FakeSim

    world = FakeSim(n_machines=10)  # 5.0 CPU, 2.0 requested: 3.0 free
    arb = PriorityArbiter(sensor=SimSensor(world))
    small = _p(ScaleService(service=0, delta_replicas=2), "scaling", 50, "up")  # 0.1 CPU
    off = _p(DrainMachine(machine=7), "energy", 20, "d7")
    assert arb.arbitrate([off, small]) == [off, small]
    big = _p(ScaleService(service=0, delta_replicas=50), "scaling", 50, "big")  # 2.5 CPU
    off2 = _p(DrainMachine(machine=8), "energy", 20, "d8")
    assert arb.arbitrate([off2, big]) == [big]
    assert "below the 10% margin" in arb.rulings["d8"]


def test_switching_off_an_empty_drained_machine_never_loses_on_capacity() -> None:
    from autoinfra.telemetry import SimSensor
    from tests.agents.fakes import FakeSim

    world = FakeSim(n_machines=10)
    world.drain(7, by="test")  # cordoned and emptied: it counts in no one's free CPU
    arb = PriorityArbiter(sensor=SimSensor(world))
    big = _p(ScaleService(service=0, delta_replicas=50), "scaling", 50, "big")  # 2.5 CPU
    off = _p(SetMachinePower(machine=7, on=False), "energy", 20, "off7")
    busy = _p(DrainMachine(machine=8), "energy", 20, "d8")
    # 4.5 CPU usable, 1.8 requested, 0.2 pending, 2.5 for the scale-up: nothing is left
    assert arb.arbitrate([off, busy, big]) == [off, big]
    assert "below the 10% margin" in arb.rulings["d8"]
    assert "off7" not in arb.rulings
