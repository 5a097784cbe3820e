"""Consolidation: FFD packing, power-off of idle machines, power-on under pressure, no flapping."""

from __future__ import annotations

import numpy as np
import pytest

from autoinfra.core.actions import DrainMachine, SetMachinePower
from autoinfra.core.errors import ConfigError
from autoinfra.core.proposal import Finding
from autoinfra.policies.consolidation import (
    ConsolidationPolicy,
    ConsolidationSettings,
    first_fit_decreasing,
)
from tests.agents.fakes import FakeSim


def test_ffd_places_largest_first_and_reports_misfits() -> None:
    where = first_fit_decreasing(
        np.array([0.1, 0.4, 0.3]),
        np.array([0.1, 0.1, 0.1]),
        np.array([0.45, 0.4]),
        np.array([1.0, 1.0]),
    )
    assert where is not None and list(where) == [
        1,
        0,
        1,
    ]  # 0.4 and 0.3 first; 0.1 fits only the second
    assert (
        first_fit_decreasing(np.array([0.5]), np.array([0.1]), np.array([0.4]), np.array([1.0]))
        is None
    )


def _quiet_world() -> FakeSim:
    world = FakeSim(n_machines=10)
    world.tasks[:] = 2  # 0.1 requested of 0.5 per machine: 20 %
    world.tasks[7:] = 0  # three empty machines
    return world


def test_idle_machines_are_powered_off_then_light_ones_drained() -> None:
    world = _quiet_world()
    pol = ConsolidationPolicy(ConsolidationSettings(idle_s=60, max_drains=2))
    assert [p.action for p in pol.decide(world.observe(), [])][:0] == []
    world.clock.advance(60)
    out = [p.action for p in pol.decide(world.observe(), [])]
    offs = [a for a in out if isinstance(a, SetMachinePower)]
    drains = [a for a in out if isinstance(a, DrainMachine)]
    assert {a.machine for a in offs} == {7, 8, 9} and not any(a.on for a in offs)
    assert len(drains) == 2 and all(a.machine < 7 for a in drains)


def test_pressure_powers_machines_on_and_dwell_prevents_flapping() -> None:
    world = _quiet_world()
    world.state[7:] = 1  # OFF
    world.tasks[:7] = 8  # 0.4 of 0.5 requested everywhere: 80 % busy, 20 % free
    pol = ConsolidationPolicy()
    forecast = Finding(
        "demand_forecast", "cluster", 0.0, 0.0, {"cpu_forecast": 3.2, "cpu_std": 0.1}
    )
    out = [p.action for p in pol.decide(world.observe(), [forecast])]
    assert out and all(isinstance(a, SetMachinePower) and a.on for a in out)
    powered = {a.machine for a in out}  # type: ignore[attr-defined]
    for m in powered:
        world.state[m] = 3  # ON, and empty
    world.tasks[:7] = 2
    world.clock.advance(120)
    later = [p.action for p in pol.decide(world.observe(), [])]
    assert not any(getattr(a, "machine", None) in powered for a in later)  # dwell


def test_inside_the_band_nothing_happens_and_settings_are_checked() -> None:
    world = FakeSim(n_machines=10)
    world.tasks[:] = 7  # 70 % requested: 30 % free, exactly inside [10 %, 30 %]
    assert ConsolidationPolicy().decide(world.observe(), []) == []
    with pytest.raises(ConfigError, match="on_free_share"):
        ConsolidationSettings(on_free_share=0.3, off_free_share=0.2)
