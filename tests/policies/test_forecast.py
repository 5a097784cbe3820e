"""Holt forecaster: follows a trend, widens with the horizon, emits the findings scaling reads."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from autoinfra.core.errors import ConfigError
from autoinfra.policies.forecast import HoltForecaster, HoltSettings
from tests.agents.fakes import FakeSim


def _obs_with_service_use(world: FakeSim, used: list[float]):  # type: ignore[no-untyped-def]
    obs = world.observe()
    return dataclasses.replace(obs, service_cpu_used=np.asarray(used, dtype=np.float32))


def test_linear_trend_is_extrapolated() -> None:
    world = FakeSim()
    fc = HoltForecaster(HoltSettings(alpha=0.5, beta=0.3, horizon_s=60.0))
    findings = []
    for k in range(60):
        findings = fc.analyze(_obs_with_service_use(world, [0.1 + 0.002 * k, 0.2]))
        world.step()
    by_target = {f.target: f.detail for f in findings}
    rising = by_target["service:0"]
    # 0.002 per 5 s = 0.0004/s: 60 s ahead of 0.218 is about 0.242
    assert rising["cpu_forecast"] == pytest.approx(0.1 + 0.002 * 59 + 0.0004 * 60, rel=0.02)
    assert "service:1" not in by_target  # flat: forecast to stay where it is, no finding
    assert rising["horizon_s"] == 60.0 and rising["trend_per_s"] > 0
    assert "cluster" in by_target and by_target["cluster"]["cpu_std"] >= 0


def test_uncertainty_grows_with_noise_and_horizon() -> None:
    rng = np.random.default_rng(0)
    stds = {}
    for h in (30.0, 300.0):
        world = FakeSim()
        fc = HoltForecaster(HoltSettings(horizon_s=h))
        for _ in range(100):
            out = fc.analyze(
                _obs_with_service_use(world, [0.3 + 0.02 * rng.standard_normal(), 0.2])
            )
            world.step()
        stds[h] = {f.target: f.detail["cpu_std"] for f in out}
    assert stds[300.0]["service:0"] > stds[30.0]["service:0"] > 0.0
    assert "service:1" not in stds[30.0]


def test_no_forecast_before_enough_samples_and_bad_settings() -> None:
    world = FakeSim()
    fc = HoltForecaster()
    assert fc.analyze(world.observe()) == []
    with pytest.raises(ConfigError, match="alpha"):
        HoltSettings(alpha=0.0)
