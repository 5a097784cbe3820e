"""Who an agent is and what it may touch: identities, roles and scopes.

The paper (section 5.7) asks that agents "operate within predefined limits". Here that limit is a
``Scope``: the action kinds an identity may ask for and the targets (``machine:*``, ``service:3``,
``rack:*``) it may ask them on. The runtime checks every proposal against its agent's scope before
anything else happens to it and records refusals in the audit log, so a buggy or compromised policy
cannot reach outside its lane.

Targets are matched with shell-style patterns (``fnmatch``) because scopes are written by people
(``machine:1*`` for a group of slots) and are few; checks are cached per target string.
"""

from __future__ import annotations

import enum
import fnmatch
from dataclasses import dataclass, field

from autoinfra.core.actions import Action
from autoinfra.core.errors import ConfigError, PermissionDenied

__all__ = ["Identity", "Role", "Scope", "scope_for"]


class Role(enum.StrEnum):
    """What an identity is for. Each role has a default scope (see :func:`scope_for`)."""

    SCALER = "scaler"  # changes replica counts of services
    HEALER = "healer"  # repairs: evicts stranded tasks, kills hogs, drains, reroutes
    ENERGY = "energy"  # powers machines on and off, drains them to consolidate
    SECURITY = "security"  # isolates machines, kills intruding processes
    OPERATOR = "operator"  # a human or a baseline rule system: may do anything
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

    def __post_init__(self) -> None:
        if isinstance(self.targets, str):
            raise ConfigError(
                f"scope targets must be a tuple of patterns, got the string {self.targets!r}",
                field="targets",
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
        return self.allows_kind(action.kind) and self.allows_target(action.target)


_ROLE_KINDS: dict[Role, tuple[frozenset[str], tuple[str, ...]]] = {
    Role.SCALER: (frozenset({"scale_service"}), ("service:*",)),
    Role.HEALER: (
        frozenset({"evict_tasks", "kill_process", "drain_machine", "reroute"}),
        ("machine:*", "rack:*"),
    ),
    Role.ENERGY: (frozenset({"set_machine_power", "drain_machine"}), ("machine:*",)),
    Role.SECURITY: (frozenset({"isolate_machine", "kill_process"}), ("machine:*",)),
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

    @classmethod
    def for_role(cls, name: str, role: Role | str) -> Identity:
        return cls(name, Role(role), scope_for(role))

    def check(self, action: Action) -> None:
        if not self.scope.allows_kind(action.kind):
            raise PermissionDenied(
                f"identity {self.name!r} (role {self.role.value}) may not {action.kind}; "
                f"its scope allows {sorted(self.scope.action_kinds) or 'nothing'}"
            )
        if not self.scope.allows_target(action.target):
            raise PermissionDenied(
                f"identity {self.name!r} (role {self.role.value}) may not act on "
                f"{action.target}; its scope covers {list(self.scope.targets)}"
            )
