"""``ClusterEnv``: the scaling problem as a Gymnasium environment, for PPO and any other learner.

One episode scales one service (the *focal* service, drawn with the reset seed among those whose
bounds allow scaling, or fixed by the caller) of a small slice of the cell, while the simulator
replays everything else; the other services keep their replicas. A step is one decision period
of simulated time (``WorldConfig.decision_period_s``). The observation is the compact feature
vector the deployed PPO policy computes (``scaling.encoding.service_features``: cluster utilisation,
pending work, the service's utilisation, forecast and headroom); the action space is the Q-table's
``ACTIONS`` (Discrete(5): -2..+2 replicas, clamped to the service's bounds); the reward is the
scaling environment's per-service reward (``learning.rewards``, id in ``reward_id``).

An episode ends by truncation only (a time limit, ``WorldConfig.episode_s``): scaling has no
terminal state. ``reset(seed=s)`` is deterministic: the same seed gives the same focal service,
the same simulator seed and so the same trajectory for the same actions. ``info["state"]`` gives
the Q-table's discrete state, so tabular learners can run in this environment too.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import gymnasium as gym
import numpy as np
import numpy.typing as npt
from gymnasium import spaces

from autoinfra.core.errors import ConfigError
from autoinfra.core.protocols import Detector
from autoinfra.learning.qlearning import ScalingStep
from autoinfra.learning.scaling_env import SimScalingEnv, WorldConfig
from autoinfra.policies.scaling.encoding import (
    FEATURE_HIGH,
    FEATURE_NAMES,
    FEATURES_ID,
    service_features,
)
from autoinfra.policies.scaling.space import ACTIONS, NOOP
from autoinfra.traces.tables import Workload

F32 = npt.NDArray[np.float32]


class ClusterEnv(gym.Env[F32, np.int64]):
    """Scale one service of a simulated cluster slice; see the module docstring."""

    metadata: dict[str, Any] = {"render_modes": []}  # noqa: RUF012 (Gymnasium's own convention)

    def __init__(
        self,
        workloads: Workload | Sequence[Workload],
        config: WorldConfig | None = None,
        *,
        service: int | None = None,
        forecaster: Callable[[], Detector] | None = None,
    ) -> None:
        self.scaling = SimScalingEnv(workloads, config, forecaster=forecaster)
        self.config = self.scaling.config
        self.reward_id = self.config.reward
        self.features_id = FEATURES_ID
        for k, w in enumerate(self.scaling.workloads):
            ok = _scalable(w)
            if ok.shape[0] == 0 or (service is not None and service not in set(ok.tolist())):
                what = "no service" if service is None else f"service {service} cannot be"
                raise ConfigError(
                    f"workload {k} ({w.source!r}) has {what} scaled (absent, or min = max "
                    "replicas)",
                    field="service" if service is not None else "workloads",
                )
        self.fixed_service = service
        self.focal = int(_scalable(self.scaling.workload)[0]) if service is None else service
        self.action_space = spaces.Discrete(len(ACTIONS))
        self.observation_space = spaces.Box(
            low=np.zeros(len(FEATURE_NAMES), dtype=np.float32), high=FEATURE_HIGH, dtype=np.float32
        )
        self._last: ScalingStep | None = None

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[F32, dict[str, Any]]:
        super().reset(seed=seed)
        self._last = self.scaling.reset(seed=int(self.np_random.integers(2**31)))
        if self.fixed_service is None:
            self.focal = int(self.np_random.choice(_scalable(self.scaling.workload)))
        return self._features(), self._info(self._last, 0)

    def step(self, action: np.int64 | int) -> tuple[F32, float, bool, bool, dict[str, Any]]:
        if self._last is None:
            raise ConfigError("step() called before reset()", source="ClusterEnv")
        a = int(action)
        if not 0 <= a < len(ACTIONS):
            raise ConfigError(f"action {action!r} is outside 0..{len(ACTIONS) - 1}", field="action")
        actions = np.full(self.scaling.n_services, NOOP, dtype=np.int64)
        actions[self.focal] = a
        before = self._replicas()
        self._last = self.scaling.step(actions)
        reward = float(self._last.rewards[self.focal])
        info = self._info(self._last, self._replicas() - before)
        return self._features(), reward, False, bool(self._last.done), info

    def _replicas(self) -> int:
        obs = self.scaling.observation
        return int(obs.service_replicas[self.focal]) if obs is not None else 0

    def _features(self) -> F32:
        view, obs = self.scaling.view, self.scaling.observation
        if view is None or obs is None:
            return np.zeros(len(FEATURE_NAMES), dtype=np.float32)
        k = int(np.searchsorted(view.index, self.focal))
        if k >= view.index.shape[0] or view.index[k] != self.focal:
            # the service has no replicas at all (it left the workload): nothing to observe
            return np.zeros(len(FEATURE_NAMES), dtype=np.float32)
        return service_features(obs, view)[k]

    def _info(self, step: ScalingStep, delta: int) -> dict[str, Any]:
        return {
            "service": self.focal,
            "state": int(step.states[self.focal]),
            "live": bool(step.live[self.focal]),
            "feasible": step.feasible[self.focal].copy(),
            "delta_replicas": int(delta),
            "time_s": float(self.scaling.observation.time_s) if self.scaling.observation else 0.0,
        }


def _scalable(workload: Workload) -> npt.NDArray[np.int64]:
    """Services whose bounds allow a change and that have replicas at the start."""
    s = workload.services
    ok = (s.max_replicas > s.min_replicas) & (s.initial_replicas > 0)
    return np.flatnonzero(ok).astype(np.int64)
