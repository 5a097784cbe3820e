"""One registry type for whatever is built by versioned id: systems, policies, scenarios, envs.

Modelled on Gymnasium's ``register`` / ``spec`` / ``make``: an entry is an id, an entry point
(a callable, or a ``"package.module:attr[.attr]"`` string imported only when first made, so
listing a registry never loads torch or a layer above the registry's owner) and keyword
defaults. ``make(id, **overrides)`` calls the entry point with the defaults updated by the
overrides and stamps the id on what it built (``registry_id``), so a report or a stored decision
can always say which versioned thing produced it.

Ids look like ``namespace.name-vN`` (``scaling.qtable-v1``, ``system.agents-v1``): lower case, one
namespace, a version bumped whenever behaviour changes. Short names people type on a command line
(``agents``, ``kubernetes-defaults``) are *aliases* of one id, never entries of their own, so one
thing has one id. An unknown id is a ``ConfigError`` that lists the nearest registered ids.

Each owning package keeps one instance (``policies.registry.POLICIES``,
``agents.registry.SYSTEMS``, ``faults.registry.SCENARIOS``, ``learning.registry.ENVIRONMENTS``);
instances hold names and entry points only, never state of a run.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from autoinfra.core.errors import ConfigError

__all__ = ["ID_PATTERN", "EntrySpec", "Registry", "resolve_entry"]

T = TypeVar("T")

ID_PATTERN = re.compile(r"^[a-z][a-z0-9_]*\.[a-z0-9][a-z0-9_-]*-v[0-9]+$")
_ALIAS = re.compile(r"^[a-z0-9][a-z0-9._-]*$")


def resolve_entry(entry: str | Callable[..., Any], *, what: str) -> Callable[..., Any]:
    """Import ``"package.module:attr[.attr]"`` (or return a callable as is), naming it in errors."""
    if callable(entry):
        return entry
    module_name, sep, path = entry.partition(":")
    if not sep or not module_name or not path:
        raise ConfigError(f"{what}: entry {entry!r} is not of the form 'package.module:attr'")
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"{what}: cannot import {module_name!r} ({exc})") from exc
    for attr in path.split("."):
        try:
            target = getattr(target, attr)
        except AttributeError as exc:
            raise ConfigError(f"{what}: {entry!r} has no attribute {attr!r}") from exc
    if not callable(target):
        raise ConfigError(f"{what}: {entry!r} is not callable")
    return target


@dataclass(frozen=True, slots=True)
class EntrySpec:
    """What one id builds: the entry point, its keyword defaults and a line saying what it is."""

    id: str
    entry_point: str | Callable[..., Any]
    defaults: Mapping[str, Any] = field(default_factory=dict)
    kind: str = ""  # a registry's own sub-kind, e.g. "policy" or "detector"
    description: str = ""
    requires: tuple[str, ...] = ()  # overrides make() must be given (a model file's path, ...)


class Registry(Generic[T]):
    """Versioned ids to entry points; ``make`` builds and stamps ``registry_id`` on the result."""

    def __init__(self, what: str) -> None:
        self.what = what  # "policy", "system", ...: names the registry in every error
        self._specs: dict[str, EntrySpec] = {}
        self._aliases: dict[str, str] = {}

    def register(
        self,
        id: str,
        entry_point: str | Callable[..., Any],
        *,
        kind: str = "",
        description: str = "",
        aliases: tuple[str, ...] = (),
        requires: tuple[str, ...] = (),
        replace: bool = False,
        **defaults: Any,
    ) -> EntrySpec:
        if not ID_PATTERN.match(id):
            raise ConfigError(
                f"{self.what} id {id!r} must look like 'namespace.name-v1' "
                "(lower case, one namespace, versioned)",
                field="id",
            )
        if id in self._aliases:
            raise ConfigError(f"{self.what} id {id!r} is already an alias of {self._aliases[id]!r}")
        spec = EntrySpec(id, entry_point, dict(defaults), kind, description, tuple(requires))
        old = self._specs.get(id)
        # the same entry point and defaults again is the same registration (idempotent setup)
        if old is not None and not replace and _builds(old) != _builds(spec):
            raise ConfigError(
                f"{self.what} {id!r} is already registered as {old.entry_point!r}", field="id"
            )
        for alias in aliases:  # checked before anything is stored: a refusal leaves no trace
            self._check_alias(alias, id, replace=replace)
        if old is None or replace or not old.description:
            self._specs[id] = spec
        self._aliases.update(dict.fromkeys(aliases, id))
        return self._specs[id]

    def alias(self, name: str, id: str, *, replace: bool = False) -> None:
        """Let ``name`` (what users type, e.g. ``agents``) stand for the registered ``id``."""
        if id not in self._specs:
            raise self._unknown(id)
        self._check_alias(name, id, replace=replace)
        self._aliases[name] = id

    def _check_alias(self, name: str, id: str, *, replace: bool) -> None:
        if not _ALIAS.match(name):
            raise ConfigError(f"{self.what} alias {name!r}: lower-case letters, digits, . _ -")
        if name in self._specs:
            raise ConfigError(f"{self.what} alias {name!r} is itself a registered id")
        old = self._aliases.get(name)
        if old is not None and old != id and not replace:
            raise ConfigError(f"{self.what} alias {name!r} already stands for {old!r}")

    def resolve(self, name: str) -> str:
        """The registered id ``name`` is or stands for; unknown names list the nearest ids."""
        if name in self._specs:
            return name
        if name in self._aliases:
            return self._aliases[name]
        raise self._unknown(name)

    def spec(self, name: str) -> EntrySpec:
        return self._specs[self.resolve(name)]

    def make(self, name: str, **overrides: Any) -> T:
        spec = self.spec(name)
        missing = [r for r in spec.requires if r not in overrides and r not in spec.defaults]
        if missing:
            raise ConfigError(
                f"{self.what} {spec.id!r} needs {', '.join(missing)} to be built", field=missing[0]
            )
        factory = resolve_entry(spec.entry_point, what=f"{self.what} {spec.id!r}")
        built: T = factory(**{**spec.defaults, **overrides})
        return _stamp(built, spec.id)

    def ids(self, kind: str | None = None) -> list[str]:
        return sorted(i for i, s in self._specs.items() if kind is None or s.kind == kind)

    def aliases(self) -> dict[str, str]:
        return dict(sorted(self._aliases.items()))

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and (name in self._specs or name in self._aliases)

    def __iter__(self) -> Iterator[EntrySpec]:
        return iter([self._specs[i] for i in self.ids()])

    def near(self, name: str) -> list[str]:
        """Registered ids and aliases that look like ``name`` (a typo's likely meaning)."""
        return difflib.get_close_matches(name, [*self._specs, *self._aliases], n=3, cutoff=0.5)

    def _unknown(self, name: str) -> ConfigError:
        near = self.near(name)
        hint = f" (did you mean {', '.join(near)}?)" if near else ""
        return ConfigError(
            f"unknown {self.what} {name!r}{hint}; registered: {', '.join(self.ids())}",
            field=self.what,
        )


def _builds(spec: EntrySpec) -> tuple[Any, ...]:
    """What decides what an entry builds (its description and aliases do not)."""
    return (spec.entry_point, dict(spec.defaults), spec.kind, spec.requires)


def _stamp(built: T, id: str) -> T:
    """Put the id on what an entry built: an attribute, or a replaced copy of a frozen dataclass."""
    refusal = ConfigError(
        f"{id!r} built a {type(built).__name__}, which cannot carry its registry id "
        "(give it a registry_id field or attribute)"
    )
    instance = dataclasses.is_dataclass(built) and not isinstance(built, type)
    if instance and built.__dataclass_params__.frozen:  # type: ignore[attr-defined]
        # a frozen dataclass is stamped by a copy, so it must declare the field
        if not any(f.name == "registry_id" for f in dataclasses.fields(built)):  # type: ignore[arg-type]
            raise refusal
        return dataclasses.replace(built, registry_id=id)  # type: ignore[type-var]
    try:
        setattr(built, "registry_id", id)  # noqa: B010 - the attribute is the stamp
    except (AttributeError, TypeError) as exc:  # slots without the name, or a read-only type
        raise refusal from exc
    return built
