"""The one way settings mappings are validated: pydantic, errors naming the file and field path."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Annotated

import pytest
from pydantic import Field

from autoinfra.core.documents import (
    UNKNOWN_KEYS_REFUSED,
    check_fields,
    validate_into,
    with_overrides,
)
from autoinfra.core.errors import ConfigError


@dataclass(frozen=True, slots=True)
class Inner:
    __pydantic_config__ = UNKNOWN_KEYS_REFUSED

    period_s: float = 15.0
    pods: int = 4


@dataclass(frozen=True, slots=True)
class Outer:
    __pydantic_config__ = UNKNOWN_KEYS_REFUSED

    inner: Inner = field(default_factory=Inner)
    names: tuple[str, ...] = ("a",)
    share: float = 0.5

    def __post_init__(self) -> None:
        if not 0 < self.share <= 1:
            raise ConfigError(f"expected a share in (0, 1], got {self.share!r}", field="share")


@dataclass(frozen=True, slots=True)
class Bounded:
    window_s: Annotated[float, Field(gt=0)] = 600.0
    count: Annotated[int, Field(ge=1)] = 3
    timeout_s: Annotated[float, Field(gt=0)] | None = None

    def __post_init__(self) -> None:
        check_fields(self)


def _error(call: object, *args: object, **kwargs: object) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        call(*args, **kwargs)  # type: ignore[operator]
    return info.value


def test_overrides_merge_nested_and_convert_like_the_command_line() -> None:
    got = with_overrides(Outer(), {"inner": {"pods": "6"}, "names": ["x", "y"]}, source="f.yaml")
    assert got == Outer(inner=Inner(15.0, 6), names=("x", "y"))
    assert with_overrides(Outer(), {}, source="f.yaml") == Outer()


@pytest.mark.parametrize(
    ("overrides", "field", "words"),
    [
        ({"inner": {"podz": 1}}, "params.inner.podz", "unknown key; expected one of ['period_s'"),
        ({"sharee": 1}, "params.sharee", "expected one of ['inner', 'names', 'share']"),
        ({"inner": {"pods": "many"}}, "params.inner.pods", "valid integer"),
        ({"names": [1]}, "params.names[0]", "valid string"),
        ({"share": 2.0}, "params.share", "expected a share in (0, 1], got 2.0"),
    ],
)
def test_errors_name_the_source_and_the_dotted_path(
    overrides: dict[str, object], field: str, words: str
) -> None:
    err = _error(with_overrides, Outer(), overrides, source="spec.yaml", prefix="params")
    assert err.source == "spec.yaml" and err.field == field
    assert words in str(err)


def test_a_non_mapping_is_refused_naming_where() -> None:
    err = _error(with_overrides, Outer(), [1], source="spec.yaml", prefix="params")  # type: ignore[arg-type]
    assert err.field == "params" and "expected a mapping" in str(err)
    err = _error(validate_into, Inner, 3, source="x.json")
    assert err.source == "x.json" and "Inner" in str(err)


def test_check_fields_holds_the_declared_bounds_strictly() -> None:
    assert Bounded(window_s=1, timeout_s=2.5) == Bounded(1.0, 3, 2.5)
    for name, value in [
        ("window_s", 0.0),
        ("window_s", math.nan),
        ("window_s", True),
        ("count", 0),
        ("count", 2.0),
        ("timeout_s", -1.0),
    ]:
        err = _error(Bounded, **{name: value})
        assert err.field == name and err.source == "Bounded", (name, value)
