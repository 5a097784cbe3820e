"""Kalman forecaster: follows a trend at any sampling period, estimates its noise, is scale-free,
and emits the same findings as Holt's so it can replace it by configuration."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autoinfra.core.errors import ConfigError
from autoinfra.policies.forecast import HoltForecaster
from autoinfra.policies.kalman import KalmanForecaster, KalmanSettings, KalmanState
from autoinfra.policies.registry import make_policy
from tests.agents.fakes import FakeSim


def _obs_with_service_use(world: FakeSim, used: list[float]):  # type: ignore[no-untyped-def]
    obs = world.observe()
    return dataclasses.replace(obs, service_cpu_used=np.asarray(used, dtype=np.float32))


def test_ramp_with_irregular_sampling_is_extrapolated() -> None:
    rng = np.random.default_rng(1)
    s = KalmanSettings(q_level=0.01, q_trend=1e-6)
    state = KalmanState(1)
    t = 0.0
    for _ in range(200):
        t += float(rng.uniform(2.0, 40.0))  # an irregular period, as agents' ticks can be
        state.update(t, np.array([3.0 + 0.01 * t]), s)
    mean, std = state.forecast(100.0, s)
    assert state.trend[0] == pytest.approx(0.01, rel=1e-3)
    assert mean[0] == pytest.approx(3.0 + 0.01 * (t + 100.0), rel=1e-4)
    assert std[0] < 1e-3  # a noiseless ramp leaves almost no innovation


def test_noise_estimate_and_spread_grow_with_horizon() -> None:
    rng = np.random.default_rng(0)
    s = KalmanSettings(q_level=0.001, q_trend=1e-9, noise_alpha=0.02)
    state = KalmanState(1)
    for k in range(2000):
        state.update(15.0 * k, np.array([5.0 + 0.3 * rng.standard_normal()]), s)
    # r is estimated from the normalised innovations: about the true variance 0.09
    assert state.noise_var[0] == pytest.approx(0.09, rel=0.25)
    _, near = state.forecast(15.0, s)
    _, far = state.forecast(3600.0, s)
    assert far[0] > near[0] > 0.25


@settings(max_examples=50, deadline=None)
@given(
    scale=st.floats(1e-3, 1e3),
    values=st.lists(st.floats(0.0, 10.0), min_size=4, max_size=30),
)
def test_scale_free(scale: float, values: list[float]) -> None:
    """Scaling a series scales its forecast and spread by the same factor (gain is unit-free)."""
    s = KalmanSettings()
    a, b = KalmanState(1), KalmanState(1)
    for k, v in enumerate(values):
        a.update(10.0 * k, np.array([v]), s)
        b.update(10.0 * k, np.array([v * scale]), s)
    ma, sa = a.forecast(60.0, s)
    mb, sb = b.forecast(60.0, s)
    assert mb[0] == pytest.approx(ma[0] * scale, rel=1e-6, abs=1e-9)
    assert sb[0] == pytest.approx(sa[0] * scale, rel=1e-6, abs=1e-9)


def test_same_findings_as_holt_and_registered() -> None:
    kalman = make_policy("forecast.kalman-v1")
    assert isinstance(kalman, KalmanForecaster) and kalman.policy_id == "forecast.kalman-v1"
    holt = HoltForecaster()
    wk, wh = FakeSim(), FakeSim()
    out_k, out_h = [], []
    for k in range(40):
        use = [0.1 + 0.004 * k, 0.2]
        out_k = kalman.analyze(_obs_with_service_use(wk, use))
        out_h = holt.analyze(_obs_with_service_use(wh, use))
        wk.step()
        wh.step()
    by_k = {f.target: f for f in out_k}
    by_h = {f.target: f for f in out_h}
    assert set(by_k) == set(by_h) == {"cluster", "service:0"}  # the flat service is not reported
    for target in by_k:
        assert by_k[target].kind == by_h[target].kind == "demand_forecast"
        assert set(by_k[target].detail) == set(by_h[target].detail)
    rising = by_k["service:0"].detail
    assert rising["cpu_forecast"] > rising["cpu_now"] and rising["trend_per_s"] > 0


def test_no_forecast_before_enough_samples_and_bad_settings() -> None:
    assert KalmanForecaster().analyze(FakeSim().observe()) == []
    with pytest.raises(ConfigError, match="q_level"):
        KalmanSettings(q_level=-1.0)
    with pytest.raises(ConfigError, match="noise_alpha"):
        KalmanSettings(noise_alpha=0.0)
