"""Who an agent is and what it may touch: identities, roles and scopes.

The paper (section 5.7) asks that agents "operate within predefined limits". Here that limit is a
``Scope``: the action kinds an identity may ask for and the targets (``machine:*``, ``service:3``,
``rack:*``) it may ask them on. The runtime checks every proposal against its agent's scope before
anything else happens to it and records refusals in the audit log, so a buggy or compromised policy
cannot reach outside its lane.

Targets are matched with shell-style patterns (``fnmatch``) because scopes are written by people
(``machine:1*`` for a group of slots) and are few; checks are cached per target string.

The check reads an action's kind from its exact class (``core.actions.kind_of``), the same mapping
the risk model and the actuators use, so an object cannot pass one scope while doing another
thing. ``Scope`` and ``Identity`` are final for the same reason (a subclass could override
``check``), and the runtime keeps its own :meth:`Identity.snapshot` of each agent's identity, so a
policy that reaches the agent object cannot widen the scope the runtime enforces. There is no
default identity that may do everything: an agent built without one is an ``OBSERVER``.
"""

from __future__ import annotations

import enum
import fnmatch
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from autoinfra.core.actions import ACTION_KINDS, ACTION_TYPES, Action
from autoinfra.core.errors import ConfigError, PermissionDenied

__all__ = ["Identity", "Role", "Scope", "scope_for"]


class Role(enum.StrEnum):
    """What an identity is for. Each role has a default scope (see :func:`scope_for`)."""

    SCALER = "scaler"  # changes replica counts of services
    HEALER = "healer"  # repairs: evicts stranded tasks, kills hogs, drains, reroutes (and back)
    ENERGY = "energy"  # powers machines on and off, drains them to consolidate
    SECURITY = "security"  # isolates machines, kills intruding processes
    RIGHTSIZER = "rightsizer"  # sets services' CPU and memory requests (nothing else)
    OPERATOR = "operator"  # may do anything: never a default; give agents narrow scopes
    OBSERVER = "observer"  # reads only: may propose nothing


@dataclass(frozen=True, slots=True)
class Scope:
    """The action kinds and target patterns an identity may act on.

    ``action_kinds`` holds ``Action.kind`` names (``"*"`` means every kind); ``targets`` holds
    ``fnmatch`` patterns over action targets such as ``"machine:*"`` or ``"service:12"``.
    """

    action_kinds: frozenset[str]
    targets: tuple[str, ...] = ("*",)
    _cache: dict[str, bool] = field(default_factory=dict, compare=False, repr=False)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        raise TypeError("Scope is final: a subclass could widen what it allows")

    def __post_init__(self) -> None:
        if isinstance(self.targets, str):
            raise ConfigError(
                f"scope targets must be a tuple of patterns, got the string {self.targets!r}",
                field="targets",
            )
        unknown = sorted(k for k in self.action_kinds if k != "*" and k not in ACTION_KINDS)
        if unknown:  # a misspelt kind would silently allow nothing
            raise ConfigError(
                f"unknown action kind(s) {unknown} in a scope; expected {sorted(ACTION_KINDS)}",
                field="action_kinds",
            )

    def allows_kind(self, kind: str) -> bool:
        return "*" in self.action_kinds or kind in self.action_kinds

    def allows_target(self, target: str) -> bool:
        hit = self._cache.get(target)
        if hit is None:
            hit = any(fnmatch.fnmatchcase(target, pattern) for pattern in self.targets)
            self._cache[target] = hit
        return hit

    def allows(self, action: Action) -> bool:
        kind = ACTION_TYPES.get(type(action))
        return kind is not None and self.allows_kind(kind) and self.allows_target(action.target)


_ROLE_KINDS: dict[Role, tuple[frozenset[str], tuple[str, ...]]] = {
    Role.SCALER: (frozenset({"scale_service"}), ("service:*",)),
    Role.HEALER: (
        frozenset(
            {"evict_tasks", "kill_process", "drain_machine", "reroute", "restore_routes"}
        ),
        ("machine:*", "rack:*"),
    ),
    Role.ENERGY: (frozenset({"set_machine_power", "drain_machine"}), ("machine:*",)),
    Role.SECURITY: (frozenset({"isolate_machine", "kill_process"}), ("machine:*",)),
    Role.RIGHTSIZER: (frozenset({"resize_requests"}), ("service:*",)),
    Role.OPERATOR: (frozenset({"*"}), ("*",)),
    Role.OBSERVER: (frozenset(), ()),
}


def scope_for(role: Role | str) -> Scope:
    """The default scope of a role (a fresh object: scopes carry a small private cache)."""
    try:
        kinds, targets = _ROLE_KINDS[Role(role)]
    except ValueError as exc:
        raise ConfigError(
            f"unknown role {role!r}; expected one of {[r.value for r in Role]}", field="role"
        ) from exc
    return Scope(kinds, targets)


@dataclass(frozen=True, slots=True)
class Identity:
    """An agent's name, role and scope. ``check`` raises :class:`PermissionDenied` outside it."""

    name: str
    role: Role
    scope: Scope

    def __init_subclass__(cls, **kwargs: Any) -> None:
        raise TypeError("Identity is final: a subclass could override check()")

    @classmethod
    def for_role(cls, name: str, role: Role | str) -> Identity:
        return cls(name, Role(role), scope_for(role))

    @classmethod
    def scoped(
        cls, name: str, role: Role | str, kinds: Iterable[str], targets: Iterable[str]
    ) -> Identity:
        """An identity narrower than its role's default: only ``kinds`` on ``targets``."""
        return cls(name, Role(role), Scope(frozenset(kinds), tuple(targets)))

    def snapshot(self) -> Identity:
        """A copy with a fresh scope (and cache) no one else holds: what the runtime enforces."""
        if type(self) is not Identity or type(self.scope) is not Scope:
            raise ConfigError(f"identity {self.name!r} is not a plain Identity", field="identity")
        return Identity(
            str(self.name),
            Role(self.role),
            Scope(frozenset(self.scope.action_kinds), tuple(self.scope.targets)),
        )

    def check(self, action: Action) -> None:
        kind = ACTION_TYPES.get(type(action))
        if kind is None:
            raise PermissionDenied(
                f"identity {self.name!r}: {type(action).__name__} is not one of the closed "
                "action classes"
            )
        if not self.scope.allows_kind(kind):
            raise PermissionDenied(
                f"identity {self.name!r} (role {self.role.value}) may not {kind}; "
                f"its scope allows {sorted(self.scope.action_kinds) or 'nothing'}"
            )
        if not self.scope.allows_target(action.target):
            raise PermissionDenied(
                f"identity {self.name!r} (role {self.role.value}) may not act on "
                f"{action.target}; its scope covers {list(self.scope.targets)}"
            )
