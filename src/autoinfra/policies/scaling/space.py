"""The scaling problem's shared vocabulary: replica changes, the per-service view, feasibility.

Every scaler (the Q-table, the PPO actor) and every scaling learner (``autoinfra.learning``) reads
the world through the same :class:`ServiceView` and chooses among the same replica deltas
(``ACTIONS``), so training and inference cannot drift apart. Bounds on replicas come from
:class:`ReplicaBounds`, clamping and feasibility from the functions here.

Everything is vectorised over services: at 12.5k machines the cost is a few array operations.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from autoinfra.core.observation import Observation
from autoinfra.core.proposal import Finding

__all__ = [
    "ACTIONS",
    "ACTION_PREFERENCE",
    "NOOP",
    "ReplicaBounds",
    "ServiceView",
    "clamp_deltas",
    "feasible_actions",
    "forecasts_by_service",
    "service_view",
]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
Bool = npt.NDArray[np.bool_]

ACTIONS: tuple[int, ...] = (-2, -1, 0, 1, 2)  # replica deltas; index 2 is "do nothing"
NOOP = ACTIONS.index(0)
# Tie-break order for the greedy choice: doing nothing first, then the smallest change, so an
# untrained or indifferent state never moves replicas.
ACTION_PREFERENCE = np.array([NOOP, 1, 3, 0, 4], dtype=np.int64)


@dataclass(frozen=True, slots=True, eq=False)
class ServiceView:
    """Per-service inputs of the scaling decision, for the services that are live (replicas > 0).

    Shared by the Q-table, the PPO policy and the learning environment so that training and
    inference read the world the same way.
    """

    index: I64  # service indices into the observation's service arrays
    replicas: I64
    running: I64
    min_replicas: I64
    max_replicas: I64
    utilisation: F64  # used / (running x request); 0 when nothing runs
    forecast_utilisation: F64  # forecast / (replicas x request); = current when no forecast
    trend: F64  # (forecast - used) / (replicas x request); 0 when no forecast
    forecast_rel_std: F64  # forecast std / (replicas x request); 0 when no forecast


def forecasts_by_service(findings: Sequence[Finding]) -> dict[int, dict[str, Any]]:
    """``demand_forecast`` findings keyed by service index (the latest one wins)."""
    out: dict[int, dict[str, Any]] = {}
    for f in findings:
        if f.kind == "demand_forecast" and f.target.startswith("service:"):
            try:
                out[int(f.target[8:])] = f.detail
            except ValueError:
                continue  # a malformed target is the emitter's bug; it must not stop scaling
    return out


def service_view(
    observation: Observation, findings: Sequence[Finding], max_replicas: I64
) -> ServiceView:
    """Build the per-service inputs; ``max_replicas`` is aligned with the observation's services."""
    # Kept to few NumPy calls: the learning environment runs this on every step, where each call
    # costs a few microseconds whatever the array size.
    live = np.flatnonzero(observation.service_replicas > 0)
    replicas = observation.service_replicas.take(live).astype(np.int64)
    running = observation.service_running.take(live).astype(np.int64)
    request = observation.service_cpu_request.take(live).astype(np.float64)
    used = observation.service_cpu_used.take(live).astype(np.float64)
    reserved_running = running * request
    util = used / np.where(reserved_running > 0, reserved_running, np.inf)
    forecast = used.copy()
    std = np.zeros_like(used)
    fc = forecasts_by_service(findings) if findings else {}
    if fc:
        pos = {int(s): k for k, s in enumerate(live.tolist())}
        for svc, detail in fc.items():
            k = pos.get(svc)
            if k is None:
                continue
            forecast[k] = float(detail.get("cpu_forecast", used[k]))
            std[k] = float(detail.get("cpu_std", 0.0))
    reserved = np.maximum(replicas * request, 1e-12)
    return ServiceView(
        index=live.astype(np.int64),
        replicas=replicas,
        running=running,
        min_replicas=observation.service_min_replicas.take(live).astype(np.int64),
        max_replicas=np.asarray(max_replicas, dtype=np.int64).take(live),
        utilisation=util,
        forecast_utilisation=forecast / reserved,
        trend=(forecast - used) / reserved,
        forecast_rel_std=std / reserved,
    )


_DELTAS = np.asarray(ACTIONS, dtype=np.int64)


def feasible_actions(view: ServiceView) -> Bool:
    """(n_services, n_actions) mask: actions that move replicas at all within [min, max].

    An action only partly possible (+2 with room for one) stays feasible and is clamped.
    """
    up = (view.max_replicas > view.replicas)[:, None]
    down = (view.replicas > view.min_replicas)[:, None]
    return (_DELTAS == 0) | ((_DELTAS > 0) & up) | ((_DELTAS < 0) & down)


def clamp_deltas(view: ServiceView, action_index: I64) -> I64:
    """Replica deltas of the chosen actions, clamped so replicas stay within [min, max]."""
    target = view.replicas + _DELTAS[action_index]
    hi = np.maximum(view.max_replicas, view.min_replicas)
    return np.minimum(np.maximum(target, view.min_replicas), hi) - view.replicas


class ReplicaBounds:
    """Each service's maximum replicas, from the best source available.

    The observation has no maximum, so: ``observation.extra["service_max_replicas"]`` when the
    backend provides it, else an array given by the caller (the workload's ServiceTable), else
    ``factor`` x the replicas first seen for the service (the trace reader's own rule, 4x initial).
    """

    def __init__(self, max_replicas: Sequence[int] | None = None, factor: float = 4.0) -> None:
        self._given = None if max_replicas is None else np.asarray(max_replicas, dtype=np.int64)
        self._factor = factor
        self._first_seen: I64 = np.zeros(0, dtype=np.int64)

    def __call__(self, observation: Observation) -> I64:
        n = observation.service_replicas.shape[0]
        extra = observation.extra.get("service_max_replicas")
        if extra is not None:
            return np.asarray(extra, dtype=np.int64)
        if self._given is not None and self._given.shape[0] == n:
            return self._given
        if self._first_seen.shape[0] != n:
            grown = np.zeros(n, dtype=np.int64)
            k = min(n, self._first_seen.shape[0])
            grown[:k] = self._first_seen[:k]
            self._first_seen = grown
        now = observation.service_replicas.astype(np.int64)
        fresh = (self._first_seen == 0) & (now > 0)
        self._first_seen[fresh] = now[fresh]
        return np.maximum(
            np.ceil(self._factor * self._first_seen).astype(np.int64),
            observation.service_min_replicas.astype(np.int64),
        )
