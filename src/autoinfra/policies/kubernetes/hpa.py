"""The Horizontal Pod Autoscaler with its documented defaults, as rules and a controller.

Source of every rule and constant: kubernetes.io,
docs/tasks/run-application/horizontal-pod-autoscale ("algorithm details", "default behavior").
The rules are free functions over plain numbers so the tests can check them against the
documentation's worked examples; the controller keeps only what the real one keeps: per-service
recommendations of the stabilisation window and recent changes for the rate-limiting policies.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from autoinfra.core.actions import ScaleService
from autoinfra.core.observation import Observation
from autoinfra.core.proposal import Finding, Justification, Proposal


@dataclass(frozen=True, slots=True)
class HPASettings:
    """HPA defaults (kubernetes.io, docs/tasks/run-application/horizontal-pod-autoscale)."""

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


def hpa_recommendation(
    ready_replicas: int,
    ready_utilization: float,
    unready_replicas: int,
    target_utilization: float,
    tolerance: float = 0.1,
) -> int:
    """Replicas the HPA recommends from the ready pods' mean utilisation.

    Not-ready pods are set aside; if the ready pods alone call for a scale-up, the not-ready pods
    are counted as using 0 % and the ratio recomputed; when that reverses the direction or falls
    within the tolerance, nothing changes (the documentation's "algorithm details"). Scale-down
    uses the ready pods only. With no ready pod there is no metric, and no change.
    """
    current = ready_replicas + unready_replicas
    if ready_replicas <= 0:
        return current
    ratio = ready_utilization / target_utilization
    if abs(ratio - 1.0) <= tolerance:
        return current
    if ratio > 1.0:
        if unready_replicas == 0:
            return math.ceil(ratio * ready_replicas)
        conservative = ready_utilization * ready_replicas / current / target_utilization
        if conservative <= 1.0 + tolerance:
            return current
        return math.ceil(conservative * current)
    return math.ceil(ratio * ready_replicas)


def hpa_stabilized(
    current_replicas: int,
    recommendations: Sequence[tuple[float, int]],
    now_s: float,
    settings: HPASettings,
) -> int:
    """Apply the stabilisation windows to the recommendations of the recent past (incl. now).

    Scale-up uses the lowest recommendation of the up-window (0 s by default: the newest), and
    scale-down the highest of the down-window (300 s), so a brief dip does not remove pods.
    """
    up = [r for t, r in recommendations if now_s - t <= settings.upscale_stabilization_s]
    down = [r for t, r in recommendations if now_s - t <= settings.downscale_stabilization_s]
    up_rec = min(up) if up else current_replicas
    down_rec = max(down) if down else current_replicas
    if current_replicas < up_rec:
        return up_rec
    if current_replicas > down_rec:
        return down_rec
    return current_replicas


def hpa_rate_limited(
    current_replicas: int, desired: int, replicas_at_period_start: int, settings: HPASettings
) -> int:
    """Clamp a change to the default scaling policies (per ``policy_period_s``, the larger wins)."""
    base = replicas_at_period_start
    up_limit = max(
        math.ceil(base * (1.0 + settings.scale_up_percent / 100.0)), base + settings.scale_up_pods
    )
    down_limit = math.ceil(base * (1.0 - settings.scale_down_percent / 100.0))
    if desired > current_replicas:
        return max(current_replicas, min(desired, up_limit))
    if desired < current_replicas:
        return min(current_replicas, max(desired, down_limit))
    return desired


class HorizontalPodAutoscaler:
    """One HPA per service, on CPU utilisation of requests, run every ``sync_period_s``."""

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
        self._history: dict[int, deque[tuple[float, int]]] = {}
        self._changes: dict[int, deque[tuple[float, int]]] = {}  # (time, replicas before)
        self._last_sync_s = -math.inf

    def decide(self, observation: Observation, findings: Sequence[Finding]) -> list[Proposal]:
        now = observation.time_s
        s = self.settings
        if now - self._last_sync_s < s.sync_period_s - 1e-9:
            return []
        self._last_sync_s = now
        proposals: list[Proposal] = []
        replicas = observation.service_replicas
        running = observation.service_running
        for i in range(int(replicas.shape[0])):
            current = int(replicas[i])
            ready = int(min(running[i], current))
            request = float(observation.service_cpu_request[i])
            util = (
                float(observation.service_cpu_used[i]) / (ready * request)
                if ready > 0 and request > 0
                else 0.0
            )
            rec = hpa_recommendation(
                ready, util, current - ready, s.target_cpu_utilization, s.tolerance
            )
            rec = self._clamp(i, rec, observation)
            hist = self._history.setdefault(i, deque())
            hist.append((now, rec))
            while hist and now - hist[0][0] > max(
                s.downscale_stabilization_s, s.upscale_stabilization_s
            ):
                hist.popleft()
            target = hpa_stabilized(current, list(hist), now, s)
            changes = self._changes.setdefault(i, deque())
            while changes and now - changes[0][0] >= s.policy_period_s:
                changes.popleft()
            start = changes[0][1] if changes else current
            target = self._clamp(i, hpa_rate_limited(current, target, start, s), observation)
            if target == current:
                continue
            changes.append((now, current))
            proposals.append(
                Proposal(
                    action=ScaleService(service=i, delta_replicas=target - current),
                    agent=self.agent_id,
                    priority=self.priority,
                    justification=Justification(
                        reason=(
                            f"HPA: utilisation {util:.2f} of requests vs target "
                            f"{s.target_cpu_utilization:.2f} on {ready} ready pods"
                        ),
                        inputs={"current": current, "ready": ready, "recommendation": rec},
                        expected_effect=f"{current} -> {target} replicas",
                    ),
                )
            )
        return proposals

    def _clamp(self, service: int, replicas: int, observation: Observation) -> int:
        low = int(observation.service_min_replicas[service])
        high = int(self._max_replicas[service]) if self._max_replicas is not None else replicas
        return max(low, min(max(high, low), replicas))
