"""The action set is closed: final classes, a kind no one can set, fields checked when built."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from autoinfra.actuators.simulated import _HANDLERS
from autoinfra.core.actions import (
    ACTION_KINDS,
    ACTION_TYPES,
    MAX_DELTA_REPLICAS,
    Action,
    DrainMachine,
    EvictTasks,
    InvalidAction,
    IsolateMachine,
    KillProcess,
    Reroute,
    ResizeRequests,
    RestoreRoutes,
    ScaleService,
    SetMachinePower,
    kind_of,
    rebuild,
)
from autoinfra.core.errors import ActionError
from autoinfra.oversight.risk import DEFAULT_BASE_RISK
from autoinfra.security.identity import Role, scope_for

CLASSES: list[type[Action]] = [
    ScaleService,
    SetMachinePower,
    DrainMachine,
    EvictTasks,
    KillProcess,
    IsolateMachine,
    Reroute,
    ResizeRequests,
    RestoreRoutes,
]


@pytest.mark.parametrize("cls", [Action, *CLASSES], ids=lambda c: c.__name__)
def test_no_class_can_be_subclassed(cls: type[Action]) -> None:
    with pytest.raises(TypeError, match="closed"):

        class Posing(cls):  # type: ignore[valid-type, misc]
            kind = "scale_service"


def test_the_probes_subclass_cannot_even_be_defined() -> None:
    # the probe: a DrainMachine subclass labelled scale_service passed a scaler's scope
    with pytest.raises(TypeError):
        type("Sneaky", (DrainMachine,), {"kind": "scale_service"})


@pytest.mark.parametrize("name", ["kind", "target_kind", "target_field", "__post_init__"])
def test_class_attributes_are_read_only(name: str) -> None:
    with pytest.raises(TypeError, match="final"):
        setattr(DrainMachine, name, "scale_service")
    with pytest.raises(TypeError, match="final"):
        delattr(ScaleService, name)
    assert DrainMachine.kind == "drain_machine"


def test_kind_is_not_a_field_and_not_settable_on_an_instance() -> None:
    with pytest.raises(TypeError):
        DrainMachine(machine=1, kind="scale_service")  # type: ignore[call-arg]
    a = DrainMachine(machine=1)
    # frozen + slots: Python 3.11 raises TypeError from the generated __setattr__, later versions
    # FrozenInstanceError (an AttributeError); either way the kind stays
    with pytest.raises((AttributeError, TypeError)):
        a.kind = "scale_service"  # type: ignore[misc]
    assert kind_of(a) == "drain_machine" == a.kind


def test_one_mapping_class_kind_everywhere() -> None:
    assert dict(ACTION_TYPES) == {cls: cls.kind for cls in CLASSES}
    assert {cls: k for k, cls in ACTION_KINDS.items()} == dict(ACTION_TYPES)
    assert set(_HANDLERS) == set(ACTION_TYPES)  # the actuator dispatches exactly these
    risk_kinds = {k.split(":")[0] for k in DEFAULT_BASE_RISK}
    assert risk_kinds == set(ACTION_KINDS)  # the risk model prices exactly these
    scoped = set().union(*(scope_for(r).action_kinds for r in Role)) - {"*"}
    assert scoped == set(ACTION_KINDS)  # and the role scopes name no other kind
    with pytest.raises(TypeError):
        ACTION_TYPES[DrainMachine] = "scale_service"  # type: ignore[index]


@pytest.mark.parametrize(
    ("make", "field"),
    [
        (lambda: ScaleService(service=1.5, delta_replicas=1), "ScaleService.service"),  # type: ignore[arg-type]
        (lambda: ScaleService(service=True, delta_replicas=1), "ScaleService.service"),
        (lambda: ScaleService(service=-1, delta_replicas=1), "ScaleService.service"),
        (lambda: ScaleService(service=float("nan"), delta_replicas=1), "ScaleService.service"),  # type: ignore[arg-type]
        (lambda: ScaleService(service=1, delta_replicas=1.0), "ScaleService.delta_replicas"),  # type: ignore[arg-type]
        (
            lambda: ScaleService(service=1, delta_replicas=MAX_DELTA_REPLICAS + 1),
            "ScaleService.delta_replicas",
        ),
        (lambda: ScaleService(service="3", delta_replicas=1), "ScaleService.service"),  # type: ignore[arg-type]
        (lambda: DrainMachine(machine=None), "DrainMachine.machine"),  # type: ignore[arg-type]
        (
            lambda: ResizeRequests(service=1, cpu_request=float("nan"), mem_request=0.1),
            "ResizeRequests.cpu_request",
        ),
        (
            lambda: ResizeRequests(service=1, cpu_request=0.1, mem_request=True),  # type: ignore[arg-type]
            "ResizeRequests.mem_request",
        ),
        (
            lambda: ResizeRequests(service=1, cpu_request=0.1, mem_request=-0.5),
            "ResizeRequests.mem_request",
        ),
        (
            lambda: ResizeRequests(service=1, cpu_request="0.1", mem_request=0.1),  # type: ignore[arg-type]
            "ResizeRequests.cpu_request",
        ),
        (lambda: DrainMachine(machine=-4), "DrainMachine.machine"),
        (lambda: DrainMachine(machine=2**40), "DrainMachine.machine"),
        (lambda: SetMachinePower(machine=1, on=1), "SetMachinePower.on"),  # type: ignore[arg-type]
        (lambda: SetMachinePower(machine=1, on="false"), "SetMachinePower.on"),  # type: ignore[arg-type]
        (lambda: SetMachinePower(machine=np.float64(2.0), on=True), "SetMachinePower.machine"),  # type: ignore[arg-type]
        (lambda: Reroute(rack=0, away_from_link=-1), "Reroute.away_from_link"),
        (lambda: KillProcess(machine=math.inf), "KillProcess.machine"),  # type: ignore[arg-type]
    ],
)
def test_bad_fields_raise_an_action_error_naming_the_field(make: Any, field: str) -> None:
    with pytest.raises(InvalidAction, match=field.replace(".", r"\.")) as info:
        make()
    assert isinstance(info.value, ActionError)
    assert len(str(info.value).splitlines()) == 1


def test_numpy_values_policies_compute_are_accepted_as_plain_values() -> None:
    a = ScaleService(service=np.int64(3), delta_replicas=np.int32(-2))
    assert type(a.service) is int and type(a.delta_replicas) is int
    assert a == ScaleService(service=3, delta_replicas=-2)
    b = SetMachinePower(machine=np.int16(1), on=np.bool_(False))
    assert type(b.on) is bool and b == SetMachinePower(machine=1, on=False)


def test_the_base_is_not_an_action() -> None:
    with pytest.raises(InvalidAction, match="not one of the closed"):
        Action()


def test_rebuild_catches_values_forced_in_after_construction() -> None:
    a = DrainMachine(machine=3)
    object.__setattr__(a, "machine", 2.5)
    with pytest.raises(InvalidAction, match=r"DrainMachine\.machine"):
        rebuild(a)
    blank = object.__new__(EvictTasks)  # never initialised: its slot is empty
    with pytest.raises(InvalidAction, match=r"EvictTasks\.machine: not set"):
        rebuild(blank)
    with pytest.raises(InvalidAction, match="not one of the closed"):
        rebuild("drain machine 3")


def test_rebuild_returns_an_equal_copy_no_one_else_holds() -> None:
    a = Reroute(rack=2, away_from_link=5)
    b = rebuild(a)
    assert b == a and b is not a and type(b) is Reroute


def test_hostile_repr_in_a_value_does_not_escape_the_check() -> None:
    class Nasty:
        def __repr__(self) -> str:
            raise RuntimeError("no")

    with pytest.raises(InvalidAction, match="<Nasty>"):
        DrainMachine(machine=Nasty())  # type: ignore[arg-type]
