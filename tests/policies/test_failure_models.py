"""SVM and MLP failure predictors: same features, threshold rule and scoring as the boosted one;
they learn a separable signal, are seeded, and plug into the drain policy's interface."""

from __future__ import annotations

import numpy as np
import pytest

from autoinfra.core.errors import ConfigError
from autoinfra.policies.failure import FEATURES, machine_history
from autoinfra.policies.failure_models import FailureModelSettings, ModelFailurePredictor

DAY = 86400.0


def _synthetic(seed: int, n: int = 1500) -> tuple[np.ndarray, np.ndarray]:
    """Rows shaped like the real features (>= 0, very different scales); machines with many past
    removals and a recent one fail, with some label noise."""
    rng = np.random.default_rng(seed)
    x = np.column_stack(
        [
            rng.poisson(1.0, n),  # removals
            rng.poisson(1.0, n),
            rng.poisson(2.0, n),
            rng.exponential(0.1, n),
            rng.uniform(0, 172_800, n),  # since_removal_s
            rng.uniform(0, 172_800, n),
            rng.choice([0.25, 0.5, 1.0], n),
            rng.choice([0.25, 0.5, 1.0], n),
            rng.integers(0, 3, n),
        ]
    ).astype(np.float64)
    y = (x[:, 0] >= 3) & (x[:, 4] < 40_000)
    y ^= rng.random(n) < 0.01
    return x, y


@pytest.mark.parametrize("model", ["gbm", "svm", "mlp"])
def test_each_learner_ranks_a_learnable_signal(model: str) -> None:
    from sklearn.metrics import average_precision_score

    x, y = _synthetic(0)
    xt, yt = _synthetic(1)
    assert len(FEATURES) == x.shape[1]
    p = ModelFailurePredictor(FailureModelSettings(model=model), flag_share=0.05, seed=0)  # type: ignore[arg-type]
    p.fit_rows(x, y, np.random.default_rng(0))
    risk = p.risk(xt)
    assert risk.shape == (xt.shape[0],) and np.all((risk >= 0) & (risk <= 1))
    base = float(yt.mean())
    assert average_precision_score(yt, risk) > 5 * base  # far better than a random ranking
    # the threshold flags about flag_share of the training negatives, as the default's rule
    flagged = float((p.risk(x[~y]) >= float(p.threshold or 0)).mean())
    assert flagged == pytest.approx(0.05, abs=0.02)


def test_seeded_and_a_given_threshold_is_kept() -> None:
    x, y = _synthetic(2)
    a = ModelFailurePredictor(FailureModelSettings(model="mlp"), seed=3)
    b = ModelFailurePredictor(FailureModelSettings(model="mlp"), seed=3)
    a.fit_rows(x, y, np.random.default_rng(3))
    b.fit_rows(x, y, np.random.default_rng(3))
    np.testing.assert_array_equal(a.risk(x[:50]), b.risk(x[:50]))
    fixed = ModelFailurePredictor(FailureModelSettings(model="svm"), threshold=0.7)
    fixed.fit_rows(x, y, np.random.default_rng(0))
    assert fixed.threshold == 0.7


def test_on_the_trace_with_the_default_split_guard() -> None:
    history = machine_history()
    p = ModelFailurePredictor(FailureModelSettings(model="mlp", mlp_max_iter=50), seed=0)
    p.fit(history, 600.0, 6 * DAY, step_s=24 * 3600.0, negative_share=0.02)
    score = p.evaluate(history, 20 * DAY, 21 * DAY, step_s=12 * 3600.0)
    print("mlp failure predictor, trained days 0-6, scored day 20:", score.as_dict())
    assert score.samples > 10_000 and 0.0 <= score.precision <= 1.0
    with pytest.raises(ConfigError, match="inside the training window"):
        p.evaluate(history, 3 * DAY, 5 * DAY)


def test_bad_settings() -> None:
    with pytest.raises(ConfigError, match="model"):
        FailureModelSettings(model="forest")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="mlp_hidden"):
        FailureModelSettings(mlp_hidden=())
    with pytest.raises(ConfigError, match="not trained"):
        ModelFailurePredictor().risk(np.zeros((1, len(FEATURES))))
