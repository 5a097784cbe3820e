"""The Horizontal Pod Autoscaler with its documented defaults, as rules and a controller.

Source of every rule and constant: kubernetes.io,
docs/tasks/run-application/horizontal-pod-autoscale ("algorithm details", "default behavior").
The rules are free functions over plain numbers so the tests can check them against the
documentation's worked examples; the controller keeps only what the real one keeps: per-service
recommendations of the stabilisation window and recent changes for the rate-limiting policies.

The initial recommendation, as kube-controller-manager does it
(pkg/controller/podautoscaler/horizontal.go, ``recordInitialRecommendation``, called from
``reconcileAutoscaler`` before anything is computed): the first time the controller sees an HPA
it records the target's current replica count as a recommendation, stamped then. The
scale-down stabilisation (``--horizontal-pod-autoscaler-downscale-stabilization``, 300 s, or
``behavior.scaleDown.stabilizationWindowSeconds``) takes the highest recommendation of its
window, so for the first 300 s after the controller starts no service goes below the replicas it
started with. Scale-up is not held by it: the up window (0 s by default) only counts
recommendations strictly newer than its cutoff, and the initial one is older than the first
computed one.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from autoinfra.core.actions import ScaleService
from autoinfra.core.documents import UNKNOWN_KEYS_REFUSED
from autoinfra.core.errors import ConfigError
from autoinfra.core.observation import Observation
from autoinfra.core.proposal import Finding, Justification, Proposal


@dataclass(frozen=True, slots=True)
class HPASettings:
    """HPA defaults (kubernetes.io, docs/tasks/run-application/horizontal-pod-autoscale)."""

    __pydantic_config__ = UNKNOWN_KEYS_REFUSED  # a misspelt key in params is an error

    # HPA has no default target. 0.5 is the value of the documentation's own walkthrough
    # (`kubectl autoscale deployment php-apache --cpu-percent=50`); override it per experiment.
    target_cpu_utilization: float = 0.5
    tolerance: float = 0.1  # no change while |ratio - 1| <= 0.1
    sync_period_s: float = 15.0  # --horizontal-pod-autoscaler-sync-period
    downscale_stabilization_s: float = 300.0  # behavior.scaleDown.stabilizationWindowSeconds
    upscale_stabilization_s: float = 0.0  # behavior.scaleUp.stabilizationWindowSeconds
    scale_up_percent: float = 100.0  # default scaleUp policies: 100 % or 4 pods per 15 s, max
    scale_up_pods: int = 4
    scale_down_percent: float = 100.0  # default scaleDown policy: 100 % per 15 s
    policy_period_s: float = 15.0

    def __post_init__(self) -> None:
        if not 0.0 < self.target_cpu_utilization <= 1.0:
            raise ConfigError(
                f"expected a share in (0, 1], got {self.target_cpu_utilization!r}",
                field="hpa.target_cpu_utilization",
            )


def hpa_desired_replicas(
    current_replicas: int, current_metric: float, target_metric: float, tolerance: float = 0.1
) -> int:
    """The documented rule: ``ceil(current x metric / target)``, unchanged within tolerance."""
    if target_metric <= 0:
        raise ValueError(f"target_metric must be > 0, got {target_metric}")
    ratio = current_metric / target_metric
    if abs(ratio - 1.0) <= tolerance:
        return current_replicas
    return math.ceil(current_replicas * ratio)


IntArray = npt.NDArray[np.int64]


def hpa_recommendations(
    ready: npt.ArrayLike,
    utilization: npt.ArrayLike,
    unready: npt.ArrayLike,
    target_utilization: float,
    tolerance: float = 0.1,
) -> IntArray:
    """Replicas the HPA recommends per service from its ready pods' mean utilisation.

    Not-ready pods are set aside; if the ready pods alone call for a scale-up, the not-ready pods
    are counted as using 0 % and the ratio recomputed; when that reverses the direction or falls
    within the tolerance, nothing changes (the documentation's "algorithm details"). Scale-down
    uses the ready pods only. With no ready pod there is no metric, and no change.
    """
    ready_a = np.asarray(ready, dtype=np.int64)
    unready_a = np.asarray(unready, dtype=np.int64)
    util = np.asarray(utilization, dtype=np.float64)
    current = ready_a + unready_a
    ratio = util / target_utilization
    with np.errstate(divide="ignore", invalid="ignore"):
        conservative = np.where(current > 0, util * ready_a / current / target_utilization, 0.0)
    up_plain = np.ceil(ratio * ready_a)
    up_cons = np.where(conservative <= 1.0 + tolerance, current, np.ceil(conservative * current))
    up = np.where(unready_a == 0, up_plain, up_cons)
    down = np.ceil(ratio * ready_a)
    rec = np.where(ratio > 1.0, up, down)
    keep = (ready_a <= 0) | (np.abs(ratio - 1.0) <= tolerance)
    return np.where(keep, current, rec).astype(np.int64)


def hpa_recommendation(
    ready_replicas: int,
    ready_utilization: float,
    unready_replicas: int,
    target_utilization: float,
    tolerance: float = 0.1,
) -> int:
    """:func:`hpa_recommendations` for one service."""
    return int(
        hpa_recommendations(
            [ready_replicas], [ready_utilization], [unready_replicas], target_utilization, tolerance
        )[0]
    )


def stabilized(
    current: npt.ArrayLike,
    recommendations: Sequence[tuple[float, npt.ArrayLike]],
    now_s: float,
    settings: HPASettings,
    initial: tuple[float, npt.ArrayLike] | None = None,
) -> IntArray:
    """Apply the stabilisation windows to the recommendations of the recent past (incl. now).

    Scale-up uses the lowest recommendation of the up-window (0 s by default: the newest), and
    scale-down the highest of the down-window (300 s), so a brief dip does not remove pods.
    ``initial`` is the controller's initial recommendation (the replicas when it first saw the
    service, and when): it counts in the down-window only (see the module's docstring).
    """
    cur = np.asarray(current, dtype=np.int64)
    up = [
        np.asarray(r) for t, r in recommendations if now_s - t <= settings.upscale_stabilization_s
    ]
    down = [
        np.asarray(r) for t, r in recommendations if now_s - t <= settings.downscale_stabilization_s
    ]
    if initial is not None and now_s - initial[0] <= settings.downscale_stabilization_s:
        down.append(np.asarray(initial[1]))
    up_rec = np.min(up, axis=0) if up else cur
    down_rec = np.max(down, axis=0) if down else cur
    return np.where(cur < up_rec, up_rec, np.where(cur > down_rec, down_rec, cur)).astype(np.int64)


def hpa_stabilized(
    current_replicas: int,
    recommendations: Sequence[tuple[float, int]],
    now_s: float,
    settings: HPASettings,
    initial: tuple[float, int] | None = None,
) -> int:
    """:func:`stabilized` for one service."""
    recs = [(t, [r]) for t, r in recommendations]
    first = None if initial is None else (initial[0], [initial[1]])
    return int(stabilized([current_replicas], recs, now_s, settings, first)[0])


def rate_limited(
    current: npt.ArrayLike,
    desired: npt.ArrayLike,
    at_period_start: npt.ArrayLike,
    settings: HPASettings,
) -> IntArray:
    """Clamp changes to the default scaling policies (per ``policy_period_s``, the larger wins)."""
    cur = np.asarray(current, dtype=np.int64)
    want = np.asarray(desired, dtype=np.int64)
    base = np.asarray(at_period_start, dtype=np.int64)
    up_limit = np.maximum(
        np.ceil(base * (1.0 + settings.scale_up_percent / 100.0)), base + settings.scale_up_pods
    )
    down_limit = np.ceil(base * (1.0 - settings.scale_down_percent / 100.0))
    up = np.maximum(cur, np.minimum(want, up_limit))
    down = np.minimum(cur, np.maximum(want, down_limit))
    return np.where(want > cur, up, np.where(want < cur, down, want)).astype(np.int64)


def hpa_rate_limited(
    current_replicas: int, desired: int, replicas_at_period_start: int, settings: HPASettings
) -> int:
    """:func:`rate_limited` for one service."""
    return int(rate_limited([current_replicas], [desired], [replicas_at_period_start], settings)[0])


class HorizontalPodAutoscaler:
    """One HPA per service, on CPU utilisation of requests, run every ``sync_period_s``.

    Vectorised over services: the recommendation history is one array per sync, so the cost per
    sync is a few array operations even for the thousands of services of a whole cell.
    """

    def __init__(
        self,
        settings: HPASettings,
        *,
        agent_id: str,
        max_replicas: npt.NDArray[np.int32] | None = None,
        priority: int = 50,
    ) -> None:
        self.settings = settings
        self.agent_id = agent_id
        self.priority = priority
        self._max_replicas = max_replicas
        self._history: deque[tuple[float, IntArray]] = deque()
        self._changes: deque[tuple[float, IntArray, npt.NDArray[np.bool_]]] = deque()
        self._last_sync_s = -math.inf
        self._initial: tuple[float, IntArray] | None = None  # recordInitialRecommendation

    def decide(self, observation: Observation, findings: Sequence[Finding]) -> list[Proposal]:
        now = observation.time_s
        s = self.settings
        if now - self._last_sync_s < s.sync_period_s - 1e-9:
            return []
        self._last_sync_s = now
        current = observation.service_replicas.astype(np.int64)
        if self._initial is None or self._initial[1].shape != current.shape:
            # the replicas when the controller first saw the services (a new set: seen anew)
            self._initial = (now, current.copy())
        ready = np.minimum(observation.service_running, current).astype(np.int64)
        request = observation.service_cpu_request.astype(np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            util = np.where(
                (ready > 0) & (request > 0),
                observation.service_cpu_used / (ready * request),
                0.0,
            )
        rec = self._clamp(
            hpa_recommendations(
                ready, util, current - ready, s.target_cpu_utilization, s.tolerance
            ),
            observation,
        )
        horizon = max(s.downscale_stabilization_s, s.upscale_stabilization_s)
        self._history.append((now, rec))
        while self._history and now - self._history[0][0] > horizon:
            self._history.popleft()
        history = [(t, r) for t, r in self._history if r.shape == current.shape]
        target = stabilized(current, history, now, s, self._initial)
        while self._changes and now - self._changes[0][0] >= s.policy_period_s:
            self._changes.popleft()
        start = current.copy()
        for _t, before, changed in reversed(self._changes):  # the oldest change of the period wins
            if before.shape == start.shape:
                start = np.where(changed, before, start)
        target = self._clamp(rate_limited(current, target, start, s), observation)
        changed = target != current
        if changed.any():
            self._changes.append((now, current, changed))
        proposals: list[Proposal] = []
        for i in np.flatnonzero(changed).tolist():
            proposals.append(
                Proposal(
                    action=ScaleService(service=i, delta_replicas=int(target[i] - current[i])),
                    agent=self.agent_id,
                    priority=self.priority,
                    justification=Justification(
                        reason=(
                            f"HPA: utilisation {util[i]:.2f} of requests vs target "
                            f"{s.target_cpu_utilization:.2f} on {ready[i]} ready pods"
                        ),
                        inputs={
                            "current": int(current[i]),
                            "ready": int(ready[i]),
                            "recommendation": int(rec[i]),
                        },
                        expected_effect=f"{current[i]} -> {target[i]} replicas",
                    ),
                )
            )
        return proposals

    def _clamp(self, replicas: IntArray, observation: Observation) -> IntArray:
        low = observation.service_min_replicas.astype(np.int64)
        if self._max_replicas is not None and self._max_replicas.shape == replicas.shape:
            high = np.maximum(self._max_replicas.astype(np.int64), low)
            return np.clip(replicas, low, high)
        return np.maximum(replicas, low)
