"""Learned anomaly detection: PCA and K-means over what a machine's monitoring reports.

The hand-written detectors (``telemetry.detectors``) each look for one kind of trouble with its
own rule. This one learns what *normal* machines look like from a fault-free training window and
flags machines that look like none of them, whatever the cause:

- features (``machine_features``, scale-free so a model carries across cells): CPU used and
  requested as shares of capacity, the CPU the tasks do not explain (used minus requested times
  the cluster's median used/requested, a share of capacity), memory used, throttled share, egress
  (log) and the egress the CPU use does not explain (log of egress over the cluster's median egress
  per CPU), and heartbeat age (capped). Only reporting machines (ON or draining) are scored.
- PCA (Jolliffe 2002, ch. 10; the SPE or Q statistic of process monitoring, Jackson and Mudholkar
  1979): standardised rows are projected on the ``components`` leading principal axes; a row's
  squared reconstruction error (SPE) and its Hotelling T^2 in the kept subspace are compared with
  their ``quantile`` on the training rows.
- K-means (Lloyd; scikit-learn's ``KMeans`` with k-means++ seeding): the training rows are grouped
  into ``clusters`` usage shapes (idle, busy, memory-heavy ...); a row's distance to its nearest
  centre, over that centre's training ``quantile`` radius, above 1 is anomalous.

``method`` chooses "pca", "kmeans" or "both" (either one). A machine flagged for ``confirm_s``
seconds is reported as an ``anomaly`` finding on ``machine:<i>`` with the statistics that fired.
Fitting uses scikit-learn (a core dependency); scoring is a few numpy products with the fitted
arrays, so a detector costs no more per tick than the hand-written ones. ``bench/catalogue.py
--only anomaly`` measures precision and recall on injected faults against those detectors.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from autoinfra.core.errors import ConfigError
from autoinfra.core.observation import MachineState, Observation
from autoinfra.core.proposal import Finding

__all__ = [
    "FEATURE_NAMES",
    "AnomalyDetector",
    "AnomalyModel",
    "AnomalySettings",
    "fit_anomaly_model",
    "machine_features",
]

F64 = npt.NDArray[np.float64]
Bool = npt.NDArray[np.bool_]
Method = Literal["pca", "kmeans", "both"]
FEATURE_NAMES = (
    "cpu_used_share",
    "cpu_requested_share",
    "unexplained_cpu_share",
    "mem_used_share",
    "throttled_share",
    "log_egress",
    "log_unexplained_egress",
    "heartbeat_age",
)
_HEARTBEAT_CAP_S = 120.0
_SCALE_FLOOR = 0.01


@dataclass(frozen=True, slots=True)
class AnomalySettings:
    method: Method = "both"
    components: int = 4  # principal axes kept (of len(FEATURE_NAMES))
    clusters: int = 6  # K-means usage shapes
    quantile: float = 0.999  # of the training rows' statistics: the threshold
    # a statistic must exceed its training quantile by this factor: chosen on faults injected in
    # the training window (bench/catalogue.py --only anomaly, seeds 0 and 1); 1.5 flagged busy
    # normal machines of the later window
    margin: float = 6.0
    confirm_s: float = 30.0  # flagged this long before a finding
    max_train_rows: int = 50_000  # a seeded sample of the training rows is fitted
    seed: int = 0

    def __post_init__(self) -> None:
        if self.method not in ("pca", "kmeans", "both"):
            raise ConfigError(
                f"expected 'pca', 'kmeans' or 'both', got {self.method!r}", field="method"
            )
        if not 1 <= self.components <= len(FEATURE_NAMES):
            raise ConfigError(
                f"expected 1..{len(FEATURE_NAMES)} components, got {self.components}",
                field="components",
            )
        if self.clusters < 1:
            raise ConfigError(f"expected >= 1 clusters, got {self.clusters}", field="clusters")
        if not 0.5 < self.quantile < 1.0:
            raise ConfigError(
                f"expected a quantile in (0.5, 1), got {self.quantile}", field="quantile"
            )
        if self.margin < 1.0 or self.confirm_s < 0:
            raise ConfigError("expected margin >= 1 and confirm_s >= 0", field="margin")


def _median(x: F64) -> float:
    return float(np.median(x)) if x.size else 0.0


def machine_features(obs: Observation) -> tuple[F64, Bool]:
    """One row of ``FEATURE_NAMES`` per machine, and which machines are reporting (scored)."""
    s = obs.machine_state
    live = (s == MachineState.ON) | (s == MachineState.DRAINING)
    cap = np.maximum(obs.cpu_capacity.astype(np.float64), 1e-9)
    mem_cap = np.maximum(obs.mem_capacity.astype(np.float64), 1e-9)
    used = obs.cpu_used.astype(np.float64)
    req = obs.cpu_requested.astype(np.float64)
    egress = obs.egress_mbps.astype(np.float64)
    busy = live & (req > 0)
    ratio = _median(used[busy] / req[busy]) if busy.any() else 1.0
    active = live & (used > 0)
    per_cpu = _median(egress[active] / used[active]) if active.any() else 0.0
    x = np.column_stack(
        [
            used / cap,
            req / cap,
            (used - req * ratio) / cap,
            obs.mem_used.astype(np.float64) / mem_cap,
            obs.cpu_throttled_share.astype(np.float64),
            np.log1p(egress),
            np.log1p(egress) - np.log1p(per_cpu * used),
            np.minimum(obs.heartbeat_age_s.astype(np.float64), _HEARTBEAT_CAP_S) / _HEARTBEAT_CAP_S,
        ]
    )
    return x, live


@dataclass(frozen=True, slots=True)
class AnomalyModel:
    """The fitted arrays: standardisation, principal axes, K-means centres, thresholds."""

    mean: F64
    scale: F64
    axes: F64  # [components, features], orthonormal rows
    axis_var: F64  # variance along each kept axis
    centres: F64  # [clusters, features], in standardised units
    radius: F64  # per centre: the training quantile of distances to it
    spe_limit: float
    t2_limit: float

    def scores(self, x: F64) -> tuple[F64, F64, F64]:
        """(SPE / limit, T^2 / limit, K-means distance / radius) per row: above 1 is unusual."""
        z = (x - self.mean) / self.scale
        proj = z @ self.axes.T
        resid = z - proj @ self.axes
        spe = np.sum(resid * resid, axis=1) / self.spe_limit
        t2 = np.sum(proj * proj / self.axis_var, axis=1) / self.t2_limit
        d2 = np.sum((z[:, None, :] - self.centres[None, :, :]) ** 2, axis=2)
        nearest = np.argmin(d2, axis=1)
        dist = np.sqrt(d2[np.arange(z.shape[0]), nearest]) / self.radius[nearest]
        return spe, t2, dist


def fit_anomaly_model(rows: Iterable[F64], settings: AnomalySettings | None = None) -> AnomalyModel:
    """Fit on rows of ``machine_features`` from a window believed free of faults."""
    from sklearn.cluster import KMeans
    from sklearn.decomposition import PCA

    s = settings or AnomalySettings()
    parts = [np.atleast_2d(np.asarray(r, dtype=np.float64)) for r in rows]
    x = np.concatenate(parts) if parts else np.zeros((0, 0))
    if x.ndim != 2 or x.shape[0] < max(10, s.clusters * 2) or x.shape[1] != len(FEATURE_NAMES):
        raise ConfigError(
            f"need at least {max(10, s.clusters * 2)} rows of {len(FEATURE_NAMES)} features to "
            f"fit, got shape {x.shape}",
            field="rows",
        )
    rng = np.random.default_rng(s.seed)
    if x.shape[0] > s.max_train_rows:
        x = x[rng.choice(x.shape[0], s.max_train_rows, replace=False)]
    mean = x.mean(axis=0)
    # every feature is a share or a log ratio, so 0.01 is a meaningful unit: a feature (nearly)
    # constant in training, such as the heartbeat age on a healthy cell, is not divided by ~0
    # and any later change of it counts in those units
    scale = np.maximum(x.std(axis=0), _SCALE_FLOOR)
    z = (x - mean) / scale
    from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

    # one thread: the fit is small, and OpenMP spinning on a shared 2-core machine costs more
    # than it saves (as in policies.failure)
    with threadpool_limits(limits=1):
        pca = PCA(n_components=s.components, random_state=s.seed).fit(z)
        km = KMeans(n_clusters=s.clusters, n_init=3, random_state=s.seed).fit(z)
    axes = np.asarray(pca.components_, dtype=np.float64)
    axis_var = np.maximum(np.asarray(pca.explained_variance_, dtype=np.float64), 1e-9)
    centres = np.asarray(km.cluster_centers_, dtype=np.float64)
    labels = np.asarray(km.labels_)
    dist = np.linalg.norm(z - centres[labels], axis=1)
    radius = np.array(
        [
            max(1e-3, float(np.quantile(dist[labels == c], s.quantile)))
            if (labels == c).any()
            else 1.0
            for c in range(s.clusters)
        ]
    )
    proj = z @ axes.T
    resid = z - proj @ axes
    spe = np.sum(resid * resid, axis=1)
    t2 = np.sum(proj * proj / axis_var, axis=1)
    return AnomalyModel(
        mean=mean,
        scale=scale,
        axes=axes,
        axis_var=axis_var,
        centres=centres,
        radius=radius,
        spe_limit=max(1e-6, float(np.quantile(spe, s.quantile))),
        t2_limit=max(1e-6, float(np.quantile(t2, s.quantile))),
    )


class AnomalyDetector:
    """``Detector`` emitting ``anomaly`` findings for machines unlike any normal one."""

    policy_id = "telemetry.anomaly-v1"

    def __init__(self, model: AnomalyModel, settings: AnomalySettings | None = None) -> None:
        self.model = model
        self.settings = settings or AnomalySettings()
        self._since: F64 = np.zeros(0)

    def analyze(self, observation: Observation) -> list[Finding]:
        s = self.settings
        x, live = machine_features(observation)
        spe, t2, dist = self.model.scores(x)
        pca_hit = (spe > s.margin) | (t2 > s.margin)
        km_hit = dist > s.margin
        hit = {"pca": pca_hit, "kmeans": km_hit, "both": pca_hit | km_hit}[s.method] & live
        now = observation.time_s
        if self._since.shape != hit.shape:
            self._since = np.full(hit.shape, np.nan)
        self._since[hit & np.isnan(self._since)] = now
        self._since[~hit] = np.nan
        with np.errstate(invalid="ignore"):
            flagged = hit & (now - self._since >= s.confirm_s - 1e-9)
        return [
            Finding(
                "anomaly",
                f"machine:{m}",
                float(min(1.0, max(spe[m], t2[m], dist[m]) / (4 * s.margin))),
                now,
                {
                    "spe_over_limit": float(spe[m]),
                    "t2_over_limit": float(t2[m]),
                    "kmeans_distance_over_radius": float(dist[m]),
                    "method": s.method,
                },
            )
            for m in np.flatnonzero(flagged)
        ]
