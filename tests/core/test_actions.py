"""Actions are frozen, name their target, and round-trip through their dict form."""

from __future__ import annotations

import dataclasses

import pytest

from autoinfra.core import (
    ConfigError,
    DrainMachine,
    EvictTasks,
    IsolateMachine,
    KillProcess,
    Reroute,
    ResizeRequests,
    RestoreRoutes,
    ScaleService,
    SetMachinePower,
    action_from_dict,
    action_to_dict,
)
from autoinfra.core.actions import ACTION_KINDS

EXAMPLES = [
    ScaleService(service=2, delta_replicas=-1),
    SetMachinePower(machine=7, on=False),
    DrainMachine(machine=7),
    EvictTasks(machine=9),
    KillProcess(machine=1),
    IsolateMachine(machine=4),
    Reroute(rack=3, away_from_link=6),
    ResizeRequests(service=5, cpu_request=0.025, mem_request=0.04),
    RestoreRoutes(rack=3),
]


def test_every_kind_has_an_example() -> None:
    assert {a.kind for a in EXAMPLES} == set(ACTION_KINDS)


@pytest.mark.parametrize("action", EXAMPLES, ids=lambda a: a.kind)
def test_round_trip_and_target(action: object) -> None:
    d = action_to_dict(action)  # type: ignore[arg-type]
    assert action_from_dict(d) == action
    assert action.target.split(":")[0] in {"machine", "service", "rack"}  # type: ignore[attr-defined]
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(action, action.target_field, 0)  # type: ignore[attr-defined]


def test_targets_name_the_thing() -> None:
    assert ScaleService(service=2, delta_replicas=1).target == "service:2"
    assert DrainMachine(machine=11).target == "machine:11"
    assert Reroute(rack=5, away_from_link=10).target == "rack:5"


def test_unknown_kind_names_the_field() -> None:
    with pytest.raises(ConfigError, match="field 'kind'"):
        action_from_dict({"kind": "reboot_universe"}, source="plan.json")


def test_bad_fields_are_reported() -> None:
    with pytest.raises(ConfigError, match="scale_service"):
        action_from_dict({"kind": "scale_service", "svc": 1})
