"""Contract tests for every actuator: idempotent by request id, refusals come back from poll."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from autoinfra.actuators import DryRunActuator, SimulatedActuator
from autoinfra.core.actions import DrainMachine, KillProcess, SetMachinePower
from autoinfra.core.proposal import Outcome
from autoinfra.core.protocols import Actuator
from tests.agents.fakes import FakeSim

FACTORIES: dict[str, Callable[[FakeSim], Actuator]] = {
    "simulated": lambda w: SimulatedActuator(w, latency_s=1.0),
    "simulated-no-latency": lambda w: SimulatedActuator(w, latency_s=0.0),
    "dry-run": lambda w: DryRunActuator(w.clock),
}


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_actuator_contract(name: str) -> None:
    world = FakeSim()
    act = FACTORIES[name](world)
    assert isinstance(act, Actuator)
    act.submit("a", DrainMachine(machine=1))
    act.submit("a", DrainMachine(machine=1))  # the same request again: one request
    act.submit("b", SetMachinePower(machine=0, on=False))  # refused later (has tasks): no raise
    act.submit("c", KillProcess(machine=99))  # no such machine: no raise either
    outcomes: list[Outcome] = []
    for _ in range(5):
        world.step()
        polled = act.poll()
        assert isinstance(polled, list) and all(isinstance(o, Outcome) for o in polled)
        outcomes.extend(polled)
    ids = [o.request_id for o in outcomes]
    assert len(ids) == len(set(ids)), "one outcome per request"
    drains = [e for e in world.events if e[2] == "drain"]
    assert len(drains) <= 1
    if name == "dry-run":
        assert outcomes == [] and world.mutations == 0
    else:
        by_id = {o.request_id: o for o in outcomes}
        assert by_id["a"].succeeded and not by_id["b"].succeeded and not by_id["c"].succeeded
