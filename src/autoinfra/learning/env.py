"""``ClusterEnv``: the scaling problem as a Gymnasium environment, for PPO and any other learner.

One episode scales one service (the *focal* service, drawn with the reset seed among those whose
bounds allow scaling, or fixed by the caller) of a small slice of the cell, while the simulator
replays everything else; the other services keep their replicas. A step is one decision period
of simulated time (``ScalingEnvSettings.decision_period_s``). The observation is the compact feature
vector the deployed PPO policy computes (``scaling.encoding.service_features``: cluster
utilisation, pending work, the service's utilisation, forecast and headroom); the action space is
the Q-table's ``ACTIONS`` (Discrete(5): -2..+2 replicas, clamped to the service's bounds); the
reward is the per-service reward of ``learning.rewards`` (id in ``reward_id``), sampled on every
tick of the period, as ``SimScalingEnv`` does for all services at once.

An episode ends by truncation only (a time limit, ``ScalingEnvSettings.episode_s``): scaling has no
terminal state. ``reset(seed=s)`` is deterministic: the same seed gives the same focal service,
the same simulator seed and so the same trajectory for the same actions. ``info["state"]`` gives
the Q-table's discrete state, so tabular learners can run in this environment too.

Speed: a step reads the ten figures it needs through ``sim.probe.FocalProbe`` instead of building
an ``Observation``, and computes features, state, reward and the Holt forecast for the focal
service alone (``learning.focal``, the same formulas in scalar arithmetic). The forecaster is the
scaling agent's own (``forecast.holt-v1``, or any ``HoltForecaster`` with its settings); another
``Detector`` still works, through a full observation each step, only slower. Each step returns a
fresh observation array (the caller may keep or change it). Under a step, the simulator's own
paths for a few tasks (a scale-up's replicas, a scale-down, a tick's finished or evicted tasks)
work element by element rather than through whole-array NumPy calls, each of which costs about
a microsecond whatever its size; ``tests/learning/test_env_exact.py`` replays trajectories
recorded before that work, bit for bit (``python bench/env_steps.py``: steps/s).
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
from autoinfra.learning import focal as fc
from autoinfra.learning.rewards import combine, get_reward
from autoinfra.learning.scaling_env import LEARNER_ID, ScalingEnvSettings
from autoinfra.policies.forecast import HoltForecaster
from autoinfra.policies.scaling.encoding import ENCODINGS, FEATURE_HIGH, FEATURE_NAMES, FEATURES_ID
from autoinfra.policies.scaling.space import ACTIONS, forecasts_by_service
from autoinfra.sim import SimSettings, Simulator
from autoinfra.sim import probe as P
from autoinfra.traces.tables import Workload

F32 = npt.NDArray[np.float32]


class ClusterEnv(gym.Env[F32, np.int64]):
    """Scale one service of a simulated cluster slice; see the module docstring."""

    metadata: dict[str, Any] = {"render_modes": []}  # noqa: RUF012 (Gymnasium's own convention)

    def __init__(
        self,
        workloads: Workload | Sequence[Workload],
        config: ScalingEnvSettings | None = None,
        *,
        service: int | None = None,
        forecaster: Callable[[], Detector] | None = None,
    ) -> None:
        self.workloads = [workloads] if isinstance(workloads, Workload) else list(workloads)
        if not self.workloads:
            raise ConfigError("no workload to learn in", source="ClusterEnv", field="workloads")
        self.config = config or ScalingEnvSettings()
        self.reward_id = self.config.reward
        self.reward_spec = get_reward(self.config.reward)
        self.encoding = ENCODINGS[self.config.encoding]
        self.features_id = FEATURES_ID
        # the same simulator settings as SimScalingEnv: one per-tick row an episode only
        self.sim_config = SimSettings(
            tick_s=self.config.tick_s,
            until_s=self.config.episode_s,
            record_every_s=self.config.episode_s,
        )
        for k, w in enumerate(self.workloads):
            ok = _scalable(w)
            if ok.shape[0] == 0 or (service is not None and service not in set(ok.tolist())):
                what = "no service" if service is None else f"service {service} cannot be"
                raise ConfigError(
                    f"workload {k} ({w.source!r}) has {what} scaled (absent, or min = max "
                    "replicas)",
                    field="service" if service is not None else "workloads",
                )
        self.forecaster = forecaster
        self.fixed_service = service
        self.workload = self.workloads[0]
        self.focal = int(_scalable(self.workload)[0]) if service is None else service
        self.action_space = spaces.Discrete(len(ACTIONS))
        self.observation_space = spaces.Box(
            low=np.zeros(len(FEATURE_NAMES), dtype=np.float32), high=FEATURE_HIGH, dtype=np.float32
        )
        self.sim: Simulator | None = None
        self._probe: P.FocalProbe | None = None
        self._holt: fc.FocalHolt | None = None
        self._detector: Detector | None = None
        self._view: fc.FocalView | None = None
        self._features = np.zeros(len(FEATURE_NAMES), dtype=np.float32)
        self._max_replicas = 0
        self._steps = 0
        # read once: properties of a frozen dataclass cost a call each, every step
        self._ticks_per_step = self.config.ticks_per_step
        self._steps_per_episode = self.config.steps_per_episode

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[F32, dict[str, Any]]:
        super().reset(seed=seed)
        # the draws of SimScalingEnv.reset, in its order, so both replay the same episode
        rng = np.random.default_rng(int(self.np_random.integers(2**31)))
        self.workload = self.workloads[int(rng.integers(len(self.workloads)))]
        self.sim = Simulator(self.workload, config=self.sim_config, seed=int(rng.integers(2**31)))
        if self.fixed_service is None:
            self.focal = int(self.np_random.choice(_scalable(self.workload)))
        self._probe = P.FocalProbe(self.sim, self.focal)
        self._max_replicas = int(self.workload.services.max_replicas[self.focal])
        self._holt, self._detector = None, None
        if self.forecaster is not None:
            detector = self.forecaster()
            # exactly the Holt forecaster (a subclass may analyse differently): its scalar twin
            if type(detector) is HoltForecaster and detector.settings.per_service:
                self._holt = fc.FocalHolt(detector.settings)
            elif type(detector) is not HoltForecaster:
                self._detector = detector
            # (HoltForecaster without per-service forecasts: the trend stays "steady")
        self._steps = 0
        self._look(self._probe.read())
        return self._features, self._info(0)

    def step(self, action: np.int64 | int) -> tuple[F32, float, bool, bool, dict[str, Any]]:
        sim, probe, view = self.sim, self._probe, self._view
        if sim is None or probe is None or view is None:
            raise ConfigError("step() called before reset()", source="ClusterEnv")
        a = int(action)
        if not 0 <= a < len(ACTIONS):
            raise ConfigError(f"action {action!r} is outside 0..{len(ACTIONS) - 1}", field="action")
        delta = fc.clamp_delta(view, a) if view.replicas > 0 else 0
        if delta:
            sim.writer.set_service_replicas(self.focal, view.replicas + delta, by=LEARNER_ID)
        spec, top = self.reward_spec, float(self._max_replicas)
        slo = idle = 0.0
        n = 0
        r: list[float] | None = None
        for _ in range(self._ticks_per_step):
            if sim.done:
                break
            sim.step()
            r = probe.read()
            v, i = fc.sample_terms(
                spec, r[P.USED], r[P.DEMAND], r[P.RUNNING], r[P.REQUEST], top
            )  # fmt: skip
            slo += v
            idle += i
            n += 1
        self._steps += 1
        self._look(r if r is not None else probe.read())
        if n:
            slo, idle = slo / n, idle / n
        # the project's one reward formula (learning.rewards.combine), on this service's terms
        reward = combine(spec, slo, idle, delta)
        done = self._steps >= self._steps_per_episode or sim.done
        # _look made a fresh array: the caller may keep or change it, the env never reads it
        return self._features, float(reward), False, bool(done), self._info(delta)

    def _look(self, r: list[float]) -> None:
        """The next decision's inputs from a probe reading (``SimScalingEnv._look``)."""
        replicas, running = int(r[P.REPLICAS]), int(r[P.RUNNING])
        forecast: tuple[float, float] | None = None
        if self._holt is not None:
            self._holt.update(self.sim.now_s if self.sim else 0.0, r[P.USED])
            forecast = self._holt.finding(float(replicas), r[P.REQUEST], r[P.USED])
        elif self._detector is not None and self.sim is not None:
            detail = forecasts_by_service(self._detector.analyze(self.sim.observe())).get(
                self.focal
            )
            if detail is not None:
                forecast = (
                    float(detail.get("cpu_forecast", r[P.USED])),
                    float(detail.get("cpu_std", 0.0)),
                )
        self._view = view = fc.focal_view(
            replicas, running, int(r[P.MIN_REPLICAS]), self._max_replicas, r[P.REQUEST],
            r[P.USED], forecast,
        )  # fmt: skip
        if replicas <= 0:  # the service has no replicas at all: nothing to observe
            self._features = np.zeros(len(FEATURE_NAMES), dtype=np.float32)
            return
        self._features = fc.features(
            view, r[P.CPU_USED], r[P.CPU_CAP], r[P.MEM_USED], r[P.MEM_CAP], r[P.PENDING_CPU]
        )

    def _info(self, delta: int) -> dict[str, Any]:
        view = self._view
        assert view is not None
        live = view.replicas > 0
        return {
            "service": self.focal,
            "state": fc.state(view, self.encoding) if live else 0,
            "live": live,
            "feasible": fc.feasible(view) if live else _ONLY_NOOP.copy(),
            "delta_replicas": int(delta),
            "time_s": float(self.sim.now_s) if self.sim is not None else 0.0,
        }


_ONLY_NOOP = np.array([d == 0 for d in ACTIONS])


def _scalable(workload: Workload) -> npt.NDArray[np.int64]:
    """Services whose bounds allow a change and that have replicas at the start."""
    s = workload.services
    ok = (s.max_replicas > s.min_replicas) & (s.initial_replicas > 0)
    return np.flatnonzero(ok).astype(np.int64)
