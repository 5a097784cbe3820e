"""``core.registry.Registry``: the id pattern, aliases, make's defaults and stamp, clear errors."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from autoinfra.core.errors import ConfigError
from autoinfra.core.registry import ID_PATTERN, Registry


class Built:
    def __init__(self, size: int = 1, colour: str = "red") -> None:
        self.size, self.colour = size, colour


@dataclass(frozen=True)
class FrozenWithId:
    name: str = "x"
    registry_id: str = ""


@dataclass(frozen=True, slots=True)
class FrozenWithoutId:
    name: str = "x"


@pytest.mark.parametrize(
    "good", ["scaling.qtable-v1", "system.kubernetes-defaults-v1", "fault.none-v12", "a.b-v0"]
)
def test_valid_ids(good: str) -> None:
    assert ID_PATTERN.match(good)
    Registry[Any]("thing").register(good, Built)


@pytest.mark.parametrize(
    "bad",
    [
        "kubernetes-defaults-v1",  # no namespace: the id the Kubernetes policy used to claim
        "scaling.qtable",  # no version
        "Scaling.qtable-v1",  # upper case
        "a.b.c-v1",  # two namespaces
        "scaling.qtable-v1 ",
        ".qtable-v1",
        "scaling.-v1",
    ],
)
def test_invalid_ids_are_refused_with_the_expected_form(bad: str) -> None:
    with pytest.raises(ConfigError, match=r"namespace\.name-v1"):
        Registry[Any]("thing").register(bad, Built)


def test_make_applies_defaults_then_overrides_and_stamps_the_id() -> None:
    reg: Registry[Built] = Registry("thing")
    reg.register("shape.box-v1", Built, size=3, aliases=("box",))
    made = reg.make("box", colour="blue")
    assert (made.size, made.colour) == (3, "blue")
    assert made.registry_id == "shape.box-v1"  # type: ignore[attr-defined]
    assert reg.make("shape.box-v1", size=5).size == 5
    assert reg.spec("box").id == "shape.box-v1" and reg.resolve("box") == "shape.box-v1"


def test_frozen_dataclasses_are_stamped_by_a_copy_or_refused() -> None:
    reg: Registry[Any] = Registry("thing")
    reg.register("thing.frozen-v1", FrozenWithId)
    reg.register("thing.bare-v1", FrozenWithoutId)
    assert reg.make("thing.frozen-v1").registry_id == "thing.frozen-v1"
    with pytest.raises(ConfigError, match="cannot carry its registry id"):
        reg.make("thing.bare-v1")


def test_unknown_ids_list_the_nearest_registered_ones() -> None:
    reg: Registry[Any] = Registry("policy")
    reg.register("scaling.qtable-v1", Built, aliases=("qtable",))
    reg.register("scaling.target-v1", Built)
    with pytest.raises(ConfigError) as err:
        reg.make("scaling.qtabel-v1")
    message = str(err.value)
    assert "unknown policy 'scaling.qtabel-v1'" in message
    assert "did you mean scaling.qtable-v1" in message
    assert "registered: scaling.qtable-v1, scaling.target-v1" in message
    with pytest.raises(ConfigError, match="unknown policy 'zzz'; registered"):
        reg.spec("zzz")


def test_lazy_entries_import_only_when_made() -> None:
    reg: Registry[Any] = Registry("thing")
    reg.register("thing.lazy-v1", "no.such.module:build")  # registering imports nothing
    with pytest.raises(ConfigError, match=r"cannot import 'no\.such\.module'"):
        reg.make("thing.lazy-v1")
    reg.register("thing.badform-v1", "no-colon")
    with pytest.raises(ConfigError, match="not of the form"):
        reg.make("thing.badform-v1")


def test_required_overrides_are_named() -> None:
    reg: Registry[Any] = Registry("policy")
    reg.register("scaling.model-v1", Built, requires=("size",))
    with pytest.raises(ConfigError, match="needs size"):
        reg.make("scaling.model-v1")
    assert reg.make("scaling.model-v1", size=2).size == 2


def test_one_id_one_meaning() -> None:
    reg: Registry[Any] = Registry("system")
    reg.register("system.a-v1", Built, aliases=("a",))
    reg.register("system.a-v1", Built, aliases=("a",))  # the same again: one registration
    with pytest.raises(ConfigError, match="already registered"):
        reg.register("system.a-v1", FrozenWithId)
    with pytest.raises(ConfigError, match="already stands for"):
        reg.register("system.b-v1", Built, aliases=("a",))
    assert "system.b-v1" not in reg  # refused whole: no half registration left behind
    with pytest.raises(ConfigError, match="is itself a registered id"):
        reg.alias("system.a-v1", "system.a-v1")
    reg.register("system.a-v1", FrozenWithId, replace=True)
    assert isinstance(reg.make("a"), FrozenWithId)
    assert reg.ids() == ["system.a-v1"] and reg.aliases() == {"a": "system.a-v1"}
