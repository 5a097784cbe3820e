"""Actions to plain dicts and back, strictly, for what must survive a restart (the approval log).

``core.actions`` has a lenient pair for audit records and reports; a durable queue needs more: the
dict it reads back may have been written by an older build or edited by hand, and what it turns
into is an action the executor may run. So decoding here refuses an unknown kind, a missing or
unknown field, and a value of the wrong JSON type (``"3"`` or ``true`` for a machine slot, ``1.5``
for a replica delta, ``"false"`` for ``on``), and encoding refuses anything that is not exactly
one of the closed action classes (a subclass posing as another kind is not encoded).

The field types are read from the dataclasses themselves, so the codec follows the action set as
it changes rather than restating it.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from autoinfra.core.actions import ACTION_KINDS, Action
from autoinfra.core.errors import ConfigError

__all__ = ["decode_action", "encode_action"]


def _fields(cls: type[Action]) -> dict[str, str]:
    # annotations are strings under `from __future__ import annotations`; the action set only
    # uses int, bool and float fields, and anything else is refused below rather than guessed
    return {f.name: str(f.type) for f in dataclasses.fields(cls)}


def _check_value(kind: str, name: str, type_name: str, value: Any, source: str) -> Any:
    # bool is a subclass of int in Python, and JSON keeps them apart: so must we
    if type_name == "bool":
        ok = isinstance(value, bool)
    elif type_name == "int":
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif type_name == "float":
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        value = float(value) if ok else value
    else:
        raise ConfigError(
            f"action field {kind}.{name} has type {type_name}, which the codec does not know",
            source=source,
            field=f"action.{name}",
        )
    if not ok:
        raise ConfigError(
            f"{kind}.{name} must be a JSON {type_name}, got {value!r} ({type(value).__name__})",
            source=source,
            field=f"action.{name}",
        )
    return value


def encode_action(action: Action) -> dict[str, Any]:
    """``{"kind": ..., <fields>}`` for an instance of exactly one of the closed action classes."""
    cls = ACTION_KINDS.get(getattr(type(action), "kind", ""))
    if cls is None or type(action) is not cls:
        raise ConfigError(
            f"{type(action).__name__} is not one of the closed action classes "
            f"{sorted(c.__name__ for c in ACTION_KINDS.values())}",
            field="action",
        )
    out: dict[str, Any] = {"kind": cls.kind}
    for name, type_name in _fields(cls).items():
        value = getattr(action, name)
        if hasattr(value, "item") and not isinstance(value, int | float):
            value = value.item()  # a NumPy scalar a policy computed: store the plain value
        out[name] = _check_value(cls.kind, name, type_name, value, "<action>")
    return out


def decode_action(raw: Any, *, source: str = "<dict>") -> Action:
    """The action ``raw`` describes; a ConfigError naming ``source`` and the field otherwise."""
    if not isinstance(raw, dict):
        raise ConfigError(
            f"an action must be an object, got {type(raw).__name__}", source=source, field="action"
        )
    kind = raw.get("kind")
    cls = ACTION_KINDS.get(kind) if isinstance(kind, str) else None
    if cls is None or not isinstance(kind, str):
        raise ConfigError(
            f"unknown action kind {kind!r}; expected one of {sorted(ACTION_KINDS)}",
            source=source,
            field="action.kind",
        )
    fields = _fields(cls)
    unknown = sorted(set(raw) - set(fields) - {"kind"})
    if unknown:
        raise ConfigError(
            f"unknown field(s) {unknown} for {kind}; expected {sorted(fields)}",
            source=source,
            field=f"action.{unknown[0]}",
        )
    values: dict[str, Any] = {}
    for name, type_name in fields.items():
        if name not in raw:
            raise ConfigError(f"{kind} needs field {name!r}", source=source, field=f"action.{name}")
        values[name] = _check_value(kind, name, type_name, raw[name], source)
    try:
        return cls(**values)
    except (TypeError, ValueError) as exc:  # the class's own checks, if it has any
        raise ConfigError(f"bad {kind}: {exc}", source=source, field="action") from exc
