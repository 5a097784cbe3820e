"""PCA / K-means anomaly detection: quiet on normal machines, flags hogs, intruders and silent
machines it never saw in training, confirms before reporting, and rejects bad settings."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autoinfra.core.errors import ConfigError
from autoinfra.telemetry.anomaly import (
    FEATURE_NAMES,
    AnomalyDetector,
    AnomalySettings,
    fit_anomaly_model,
    machine_features,
)
from tests.agents.fakes import FakeSim


def _trained(seed: int = 0, method: str = "both") -> tuple[FakeSim, AnomalyDetector]:
    world = FakeSim(n_machines=32, noise=0.1, churn=True, seed=seed)
    rows = []
    for _ in range(80):
        world.step()
        x, live = machine_features(world.observe())
        rows.append(x[live])
    s = AnomalySettings(method=method, confirm_s=10.0, seed=seed)  # type: ignore[arg-type]
    return world, AnomalyDetector(fit_anomaly_model(rows, s), s)


def _run(world: FakeSim, det: AnomalyDetector, ticks: int) -> set[str]:
    seen: set[str] = set()
    for _ in range(ticks):
        world.step()
        seen |= {f.target for f in det.analyze(world.observe())}
    return seen


@pytest.mark.parametrize("method", ["pca", "kmeans", "both"])
def test_faults_flagged_and_normal_machines_quiet(method: str) -> None:
    world, det = _trained(method=method)
    quiet = _run(world, det, 40)
    assert len(quiet) <= 1  # at the 99.9 % quantile and a 1.5x margin, normal is almost silent
    world.hog[3] = 1.0
    world.egress_extra[7] = 800.0
    world.fail(12)
    flagged = _run(world, det, 10)
    assert {"machine:3", "machine:7", "machine:12"} <= flagged
    assert len(flagged - {"machine:3", "machine:7", "machine:12"} - quiet) <= 1


def test_confirmation_delays_the_finding() -> None:
    world, det = _trained()
    world.hog[5] = 1.0
    world.step()
    assert det.analyze(world.observe()) == []  # suspect once: not confirmed yet (10 s, 5 s ticks)
    world.step()
    world.step()
    out = det.analyze(world.observe())
    world.step()
    out += det.analyze(world.observe())
    hit = [f for f in out if f.target == "machine:5"]
    assert hit and hit[0].kind == "anomaly" and hit[0].detail["method"] == "both"


@settings(max_examples=10, deadline=None)
@given(shift=st.floats(-5.0, 5.0), scale=st.floats(0.5, 4.0), seed=st.integers(0, 2**16))
def test_scores_invariant_to_affine_units(shift: float, scale: float, seed: int) -> None:
    """Standardisation makes the scores independent of each feature's units and offset."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(120, len(FEATURE_NAMES))) * 0.2 + 0.5
    probe = rng.normal(size=(5, len(FEATURE_NAMES)))
    a = fit_anomaly_model([x]).scores(probe)
    b = fit_anomaly_model([x * scale + shift]).scores(probe * scale + shift)
    for sa, sb in zip(a, b, strict=True):
        np.testing.assert_allclose(sa, sb, rtol=1e-5, atol=1e-8)


def test_bad_input() -> None:
    with pytest.raises(ConfigError, match="rows"):
        fit_anomaly_model([np.zeros((3, len(FEATURE_NAMES)))])
    with pytest.raises(ConfigError, match="method"):
        AnomalySettings(method="svm")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="components"):
        AnomalySettings(components=0)
