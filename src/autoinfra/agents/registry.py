"""Systems by versioned name, with lazy ``"module:function"`` entries (like Gymnasium's ``make``).

An entry is a factory ``build(sim, *, seed, params=None) -> System`` or a string naming one; strings
are imported only when the system is made, so registering the baselines (which live in
``autoinfra.experiments``, a layer above this one) never imports them from here.

``SystemRegistry`` is an ordinary class, so tests and tools can build their own. The module-level
functions work on one shared instance because plugins must have one place to register into; it
holds only names and entry points, never state of a run.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Protocol

from autoinfra.agents.system import System
from autoinfra.core.errors import ConfigError
from autoinfra.policies.registry import resolve_entry

__all__ = [
    "SystemFactory",
    "SystemRegistry",
    "list_systems",
    "make_system",
    "register_system",
    "resolve_entry",
]

_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]*$")


class SystemFactory(Protocol):
    def __call__(
        self, sim: Any, *, seed: int, params: Mapping[str, Any] | None = None
    ) -> System: ...


class SystemRegistry:
    def __init__(self) -> None:
        self._entries: dict[str, str | SystemFactory] = {}

    def register(self, name: str, entry: str | SystemFactory, *, replace: bool = False) -> None:
        if not _NAME.match(name):
            raise ConfigError(
                f"system name {name!r} must be lower-case letters, digits, '.', '_' or '-'",
                field="name",
            )
        if name in self._entries and not replace and self._entries[name] != entry:
            raise ConfigError(
                f"system {name!r} is already registered as {self._entries[name]!r}", field="name"
            )
        self._entries[name] = entry

    def make(
        self, name: str, sim: Any, *, seed: int, params: Mapping[str, Any] | None = None
    ) -> System:
        entry = self._entries.get(name)
        if entry is None:
            raise ConfigError(
                f"unknown system {name!r}; registered: {', '.join(self.names())}", field="system"
            )
        factory = resolve_entry(entry, what=f"system {name!r}")
        system = factory(sim, seed=seed, params=params)
        if not isinstance(system, System):
            raise ConfigError(
                f"system {name!r}: factory returned {type(system).__name__}, not a System"
            )
        return system

    def names(self) -> list[str]:
        return sorted(self._entries)


def _builtin() -> SystemRegistry:
    registry = SystemRegistry()
    registry.register("agents-v1", "autoinfra.agents.presets:build_autonomous")
    registry.register("agents", "autoinfra.agents.presets:build_autonomous")
    return registry


_REGISTRY = _builtin()


def register_system(name: str, entry: str | SystemFactory, *, replace: bool = False) -> None:
    """Register a system factory (or a lazy ``"module:function"`` string) under ``name``."""
    _REGISTRY.register(name, entry, replace=replace)


def make_system(
    name: str, sim: Any, *, seed: int, params: Mapping[str, Any] | None = None
) -> System:
    return _REGISTRY.make(name, sim, seed=seed, params=params)


def list_systems() -> list[str]:
    return _REGISTRY.names()
