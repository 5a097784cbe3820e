"""The systems an experiment compares, by versioned id, in one ``core.registry.Registry``.

An entry is a factory ``build(sim, *, seed, params=None) -> System`` or a ``"module:function"``
string naming one; strings are imported only when the system is made, so registering the
baselines (which live in ``autoinfra.experiments``, a layer above this one) never imports them
from here. ``make_system`` stamps the id on the ``System`` it returns (``System.registry_id``).

Ids are ``system.<name>-vN``; the names people type (``--systems agents,kubernetes-defaults``)
are aliases of those ids, and the experiment keeps keying its tables by what was typed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from autoinfra.agents.system import System
from autoinfra.core.errors import ConfigError
from autoinfra.core.registry import Registry

__all__ = [
    "AGENTS_ID",
    "SYSTEMS",
    "SystemFactory",
    "list_systems",
    "make_system",
    "register_system",
]

AGENTS_ID = "system.agents-v1"


class SystemFactory(Protocol):
    def __call__(
        self, sim: Any, *, seed: int, params: Mapping[str, Any] | None = None
    ) -> System: ...


def _builtin() -> Registry[System]:
    registry: Registry[System] = Registry("system")
    registry.register(
        AGENTS_ID,
        "autoinfra.agents.presets:build_autonomous",
        description="four autonomous agents, a priority arbiter, a risk gate, a keyed audit log",
        aliases=("agents", "agents-v1"),
    )
    return registry


SYSTEMS = _builtin()


def register_system(
    system_id: str,
    entry: str | SystemFactory,
    *,
    aliases: tuple[str, ...] = (),
    description: str = "",
    replace: bool = False,
) -> None:
    """Register a system factory (or a lazy ``"module:function"`` string) under ``system_id``."""
    SYSTEMS.register(system_id, entry, aliases=aliases, description=description, replace=replace)


def make_system(
    name: str, sim: Any, *, seed: int, params: Mapping[str, Any] | None = None
) -> System:
    """Build the system ``name`` (an id or an alias) on ``sim``; the result carries its id."""
    system = SYSTEMS.make(name, sim=sim, seed=seed, params=params)
    if not isinstance(system, System):
        raise ConfigError(
            f"system {SYSTEMS.resolve(name)!r}: factory returned {type(system).__name__}, "
            "not a System"
        )
    return system


def list_systems() -> list[str]:
    """Registered ids and the aliases that stand for them, sorted."""
    return sorted([*SYSTEMS.ids(), *SYSTEMS.aliases()])
