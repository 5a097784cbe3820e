"""Power: SPECpower curves and their mapping, per-state draw, PUE, energy integration."""

from __future__ import annotations

import numpy as np
import pytest

from autoinfra.core.observation import MachineState
from autoinfra.sim import SimSettings, Simulator
from autoinfra.sim.power import (
    SPECPOWER_CURVES_W,
    curve_for_capacity,
    curve_points,
    platform_curves,
    watts,
)
from tests.sim.builders import T, make_workload


def test_curve_points_and_interpolation() -> None:
    curves = curve_points("specpower")
    x3550 = np.array([2, 2, 2, 2])
    got = watts(curves, x3550, np.array([0.0, 1.0, 0.5, 0.55]))
    assert got.tolist() == pytest.approx([66.0, 247.0, 156.0, 164.5])
    # the published idle/peak pairs of the three servers
    assert SPECPOWER_CURVES_W[:, 0].tolist() == [86.0, 93.7, 66.0]
    assert SPECPOWER_CURVES_W[:, -1].tolist() == [117.0, 135.0, 247.0]
    assert watts(curves, np.array([0]), np.array([2.0]))[0] == 117.0  # load is clipped


def test_linear_model_keeps_the_curves_end_points() -> None:
    lin = curve_points("linear")
    assert lin[:, 0].tolist() == SPECPOWER_CURVES_W[:, 0].tolist()
    assert lin[:, -1].tolist() == SPECPOWER_CURVES_W[:, -1].tolist()
    assert lin[2, 5] == pytest.approx((66.0 + 247.0) / 2)


def test_platforms_map_by_median_capacity() -> None:
    assert [curve_for_capacity(c) for c in (0.25, 0.5, 1.0)] == [0, 1, 2]
    platform = np.array([0, 0, 1, 1, 2], dtype=np.int16)
    cpu = np.array([0.25, 0.25, 0.5, 0.5, 1.0], dtype=np.float32)
    assert platform_curves(platform, cpu, 4).tolist() == [0, 1, 2, 1]  # unseen -> middle


def test_off_draws_nothing_booting_and_failed_draw_idle() -> None:
    # three idle 1.0-CPU machines (IBM x3550 curve, 66 W idle)
    wl = make_workload([(1.0, 1.0)] * 3, [], end_s=600)
    sim = Simulator(wl, SimSettings(boot_delay_s=60))
    assert sim.observe().power_w == pytest.approx(3 * 66.0)
    sim.writer.power_off(0, by="test")
    assert sim.observe().power_w == pytest.approx(2 * 66.0)
    sim.writer.power_on(0, by="test")
    assert sim.machine_state(0) == MachineState.BOOTING
    assert sim.observe().power_w == pytest.approx(3 * 66.0)
    sim.run(until_s=60)
    assert sim.machine_state(0) == MachineState.ON


def test_energy_is_power_times_time_and_facility_adds_pue() -> None:
    wl = make_workload([(1.0, 1.0)], [T(0, 10_000, cpu=0.5, cpu_ratio=1.0)], end_s=3600)
    sim = Simulator(wl, SimSettings(pue=1.5))
    sim.run()
    ticks = sim.results().ticks
    assert ticks["power_w"].iloc[-1] == pytest.approx(156.0)  # 50 % load on the x3550 curve
    assert ticks["facility_power_w"].iloc[-1] == pytest.approx(1.5 * 156.0)
    summary = sim.results().summary
    assert summary["energy_kwh"] == pytest.approx(156.0 * 3600 / 3.6e6)
    assert summary["facility_energy_kwh"] == pytest.approx(1.5 * summary["energy_kwh"])
    assert np.all(np.diff(ticks["energy_kwh"]) >= 0)


def test_a_failed_machine_keeps_drawing_idle_power() -> None:
    from autoinfra.faults import scenario_from_dict

    scenario = scenario_from_dict(
        {"faults": [{"kind": "node_failure", "at_s": 10, "target": "machine:0"}]}
    )
    wl = make_workload([(1.0, 1.0)], [T(0, 10_000, cpu=0.5)], end_s=100)
    sim = Simulator(wl, scenario=scenario)
    sim.run(until_s=20)
    assert sim.machine_state(0) == MachineState.FAILED
    assert sim.results().ticks["power_w"].iloc[-1] == pytest.approx(66.0)
