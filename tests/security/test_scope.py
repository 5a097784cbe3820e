"""Scopes: kinds and target patterns; default role scopes; clear refusals."""

from __future__ import annotations

import pytest

from autoinfra.core.actions import DrainMachine, IsolateMachine, Reroute, ScaleService
from autoinfra.core.errors import ConfigError, PermissionDenied
from autoinfra.security import Identity, Role, Scope, scope_for


def test_role_scopes() -> None:
    healer = Identity.for_role("h", Role.HEALER)
    healer.check(DrainMachine(machine=3))
    healer.check(Reroute(rack=1, away_from_link=2))
    with pytest.raises(PermissionDenied, match="may not isolate_machine"):
        healer.check(IsolateMachine(machine=3))
    with pytest.raises(PermissionDenied):
        Identity.for_role("o", Role.OBSERVER).check(ScaleService(service=0, delta_replicas=1))
    Identity.for_role("op", "operator").check(IsolateMachine(machine=1))


def test_target_patterns() -> None:
    scope = Scope(frozenset({"drain_machine"}), ("machine:1?",))
    ident = Identity("narrow", Role.ENERGY, scope)
    ident.check(DrainMachine(machine=12))
    with pytest.raises(PermissionDenied, match="machine:3"):
        ident.check(DrainMachine(machine=3))


def test_bad_role_and_bad_targets() -> None:
    with pytest.raises(ConfigError, match="unknown role"):
        scope_for("janitor")
    with pytest.raises(ConfigError, match="tuple of patterns"):
        Scope(frozenset({"*"}), "machine:*")  # type: ignore[arg-type]
