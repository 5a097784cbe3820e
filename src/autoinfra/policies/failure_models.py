"""Other learners for failure prediction: an SVM and a small neural network beside boosting.

``FailurePredictor`` (``policies.failure``) learns, with gradient-boosted trees, whether a machine
will be removed within the horizon from its own event history. ``ModelFailurePredictor`` is the
same predictor, the same features, sampling, threshold rule and evaluation, with the learner
chosen by ``FailureModelSettings.model``:

- ``"gbm"``: the default's ``HistGradientBoostingClassifier`` (so one code path scores all three);
- ``"svm"``: ``SVC`` with an RBF kernel and balanced class weights on standardised features. Its
  risk is the logistic of the decision function: only the ordering matters, since the threshold
  is a quantile of the training negatives' risks (Platt scaling would cost a 5-fold refit);
- ``"mlp"``: ``MLPClassifier`` (one or two small hidden layers, Adam, early stopping off for a
  deterministic fit) on standardised features. It takes no class weights, so the positives are
  repeated (a seeded resample) until the classes are about even.

The features are counts and seconds of very different scales (a removal count, 172,800 s), which
trees ignore but kernels and gradient steps do not: the SVM and MLP see ``log1p`` of the
non-negative features, then standardised. ``FailureDrainPolicy`` takes any of them: it reads only
``horizon_s``, ``risk`` and the threshold. bench/catalogue.py --only failure_models compares them.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from autoinfra.core.errors import ConfigError
from autoinfra.policies.failure import FailurePredictor
from autoinfra.traces.tables import MachineTable

__all__ = ["FailureModelSettings", "ModelFailurePredictor", "make_classifier"]

F64 = npt.NDArray[np.float64]
Model = Literal["gbm", "svm", "mlp"]


@dataclass(frozen=True, slots=True)
class FailureModelSettings:
    model: Model = "gbm"
    svm_c: float = 1.0  # SVC regularisation (larger: fewer training errors tolerated)
    svm_gamma: str | float = "scale"
    mlp_hidden: tuple[int, ...] = (32, 16)  # units per hidden layer
    mlp_alpha: float = 1e-3  # L2 penalty
    mlp_max_iter: int = 200  # epochs

    def __post_init__(self) -> None:
        if self.model not in ("gbm", "svm", "mlp"):
            raise ConfigError(f"expected 'gbm', 'svm' or 'mlp', got {self.model!r}", field="model")
        if self.svm_c <= 0 or self.mlp_alpha < 0 or self.mlp_max_iter < 1:
            raise ConfigError(
                "expected svm_c > 0, mlp_alpha >= 0, mlp_max_iter >= 1", field="model"
            )
        if not self.mlp_hidden or min(self.mlp_hidden) < 1:
            raise ConfigError(
                f"expected hidden layer sizes >= 1, got {self.mlp_hidden}", field="mlp_hidden"
            )


def make_classifier(settings: FailureModelSettings, seed: int) -> Any:
    """An unfitted scikit-learn classifier for ``settings.model``."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, StandardScaler
    from sklearn.svm import SVC

    log = FunctionTransformer(np.log1p)  # every feature is >= 0 (counts, capped ages, sizes)
    if settings.model == "gbm":
        return HistGradientBoostingClassifier(
            max_iter=100,
            learning_rate=0.1,
            class_weight="balanced",
            early_stopping=False,
            random_state=seed,
        )
    if settings.model == "svm":
        return make_pipeline(
            log,
            StandardScaler(),
            SVC(
                C=settings.svm_c,
                gamma=settings.svm_gamma,
                class_weight="balanced",
                random_state=seed,
            ),
        )
    return make_pipeline(
        log,
        StandardScaler(),
        MLPClassifier(
            hidden_layer_sizes=settings.mlp_hidden,
            alpha=settings.mlp_alpha,
            max_iter=settings.mlp_max_iter,
            random_state=seed,
        ),
    )


class ModelFailurePredictor(FailurePredictor):
    """``FailurePredictor`` with a chosen learner; features, threshold and scoring unchanged."""

    def __init__(
        self,
        settings: FailureModelSettings | None = None,
        *,
        horizon_s: float = 3600.0,
        threshold: float | None = None,
        flag_share: float = 0.005,
        seed: int = 0,
    ) -> None:
        super().__init__(horizon_s=horizon_s, threshold=threshold, flag_share=flag_share, seed=seed)
        self.settings = settings or FailureModelSettings()
        self._given_threshold = threshold  # None: chosen on the training window, as the default

    def fit(
        self,
        table: MachineTable,
        start_s: float,
        end_s: float,
        *,
        step_s: float = 12 * 3600.0,
        negative_share: float = 0.1,
    ) -> ModelFailurePredictor:
        rng = np.random.default_rng(self.seed)
        xs, ys = [], []
        for _, x, y in self._snapshots(table, start_s, end_s, step_s):
            keep = y | (rng.random(y.shape[0]) < negative_share)
            xs.append(x[keep])
            ys.append(y[keep])
        x_all, y_all = np.concatenate(xs), np.concatenate(ys)
        if y_all.sum() == 0:
            raise ConfigError(
                f"no removals in [{start_s}, {end_s}] s to learn from", field="window"
            )
        self.fit_rows(x_all, y_all, rng)
        self.trained_on = (start_s, end_s)
        return self

    def fit_rows(self, x: F64, y: npt.NDArray[np.bool_], rng: np.random.Generator) -> None:
        """Fit on feature rows (the kept negatives a uniform sample); sets the threshold."""
        from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

        x_fit, y_fit = x, y
        if self.settings.model == "mlp":
            pos = np.flatnonzero(y)
            extra = rng.choice(pos, max(0, int((~y).sum()) - pos.size), replace=True)
            x_fit, y_fit = np.concatenate([x, x[extra]]), np.concatenate([y, y[extra]])
        from sklearn.exceptions import ConvergenceWarning

        model = make_classifier(self.settings, self.seed)
        # the MLP's epochs are a setting (``mlp_max_iter``, chosen on a validation window), so
        # stopping there is the plan, not a failure to report
        with threadpool_limits(limits=1), warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(x_fit, y_fit)
        self.model = model
        if self._given_threshold is None:
            self.threshold = float(np.quantile(self.risk(x[~y]), 1.0 - self.flag_share))

    def risk(self, x: F64) -> F64:
        if self.model is None:
            raise ConfigError("the failure predictor is not trained; call fit() first")
        if x.shape[0] == 0:
            return np.zeros(0)
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=1):
            if self.settings.model == "svm":
                d = np.asarray(self.model.decision_function(x), dtype=np.float64)
                return 1.0 / (1.0 + np.exp(-d))
            return np.asarray(self.model.predict_proba(x)[:, 1], dtype=np.float64)
