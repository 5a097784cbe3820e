"""The simulator as an environment for scaling learners: every service of a workload at once.

``SimScalingEnv`` is the bridge between the simulator and the learners. A step applies one
replica change per service (clamped to its bounds), advances the simulator by one decision period,
samples every service's SLO and reserved-but-idle CPU on each tick of the period, and returns the
next discrete states and the per-service rewards of ``learning.rewards``. The tabular trainer uses
it directly (all services learn at once); ``ClusterEnv`` wraps it for one service at a time.

The state each service is in is computed by the same code the deployed policy runs
(``policies.scaling.space.service_view`` / ``encoding.encode``) from the same kind of input (an
``Observation`` and forecast findings), so what is learnt here is what is decided with later.
Forecast findings come from a ``Detector`` made fresh for each episode (the scaling agent's
forecaster when given); without one, the trend part of the state is "steady" throughout.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from autoinfra.core.errors import ConfigError
from autoinfra.core.observation import Observation
from autoinfra.core.proposal import Finding
from autoinfra.core.protocols import Detector
from autoinfra.learning.qlearning import ScalingStep
from autoinfra.learning.rewards import (
    DEFAULT_REWARD,
    PeriodMeter,
    get_reward,
    sample_from_observation,
)
from autoinfra.policies.registry import make_policy
from autoinfra.policies.scaling.encoding import ENCODING_ID, ENCODINGS, encode
from autoinfra.policies.scaling.space import (
    ACTIONS,
    ServiceView,
    clamp_deltas,
    feasible_actions,
    service_view,
)
from autoinfra.sim import SimSettings, Simulator
from autoinfra.traces.tables import Workload

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

LEARNER_ID = "learner"  # the actor name the simulator records for the learner's changes


def default_forecaster() -> Detector:
    """The scaling agent's own forecaster (``forecast.holt-v1``), fresh for each episode."""
    detector: Detector = make_policy("forecast.holt-v1")
    return detector


@dataclass(frozen=True, slots=True)
class ScalingEnvSettings:
    """How a learning episode runs. Times in simulated seconds."""

    decision_period_s: float = 15.0
    """Simulated time between two decisions (one step): the scaling agent's period (its default,
    like the Horizontal Pod Autoscaler's 15 s sync period), so the forecaster sees the same
    sampling rate in training as in deployment."""
    tick_s: float = 15.0
    """The simulator's tick while learning. Equal to the period by default: one tick per step keeps
    stepping fast, and scaling effects (replicas placed, utilisation shared) show within a tick."""
    episode_s: float = 3600.0
    """Simulated time per episode (from the start of the workload's window)."""
    reward: str = DEFAULT_REWARD
    encoding: str = ENCODING_ID

    def __post_init__(self) -> None:
        if self.decision_period_s <= 0 or self.tick_s <= 0 or self.episode_s <= 0:
            raise ConfigError(
                "decision_period_s, tick_s and episode_s must be > 0", source="ScalingEnvSettings"
            )
        if self.decision_period_s < self.tick_s:
            raise ConfigError(
                f"decision_period_s {self.decision_period_s} is shorter than tick_s {self.tick_s}",
                source="ScalingEnvSettings",
                field="decision_period_s",
            )
        get_reward(self.reward)
        if self.encoding not in ENCODINGS:
            raise ConfigError(
                f"unknown encoding {self.encoding!r}", source="ScalingEnvSettings", field="encoding"
            )

    @property
    def ticks_per_step(self) -> int:
        return max(1, round(self.decision_period_s / self.tick_s))

    @property
    def steps_per_episode(self) -> int:
        return max(1, int(self.episode_s // self.decision_period_s))


class SimScalingEnv:
    """A ``ScalingEnv`` (see ``learning.qlearning``) over the simulator.

    ``workloads`` is one workload or several episode windows; each reset draws one of them with
    its seed, so the episodes of a training run cover the whole training window.
    """

    def __init__(
        self,
        workloads: Workload | Sequence[Workload],
        config: ScalingEnvSettings | None = None,
        *,
        forecaster: Callable[[], Detector] | None = None,
        sim_config: SimSettings | None = None,
    ) -> None:
        self.workloads = [workloads] if isinstance(workloads, Workload) else list(workloads)
        if not self.workloads:
            raise ConfigError(
                "no workload to learn in", source="SimScalingEnv", field="workloads"
            )
        self.config = config or ScalingEnvSettings()
        self.spec = get_reward(self.config.reward)
        self.encoding = ENCODINGS[self.config.encoding]
        self.forecaster = forecaster
        # learners read observations, never the per-tick table: record it once an episode only
        self.sim_config = sim_config or SimSettings(
            tick_s=self.config.tick_s,
            until_s=self.config.episode_s,
            record_every_s=self.config.episode_s,
        )
        self._use(self.workloads[0])
        self.sim: Simulator | None = None
        self.observation: Observation | None = None
        self.findings: list[Finding] = []
        self.view: ServiceView | None = None
        self._detector: Detector | None = None
        self._steps = 0

    # --- the ScalingEnv protocol ---
    def _use(self, workload: Workload) -> None:
        self.workload = workload
        self.n_services = len(workload.services)
        self.max_replicas = np.asarray(workload.services.max_replicas, dtype=np.int64)

    def reset(self, seed: int) -> ScalingStep:
        rng = np.random.default_rng(seed)
        self._use(self.workloads[int(rng.integers(len(self.workloads)))])
        self.sim = Simulator(self.workload, config=self.sim_config, seed=int(rng.integers(2**31)))
        self._detector = self.forecaster() if self.forecaster is not None else None
        self._steps = 0
        self._look()
        return self._scaling_step(np.zeros(self.n_services))

    def step(self, actions: I64) -> ScalingStep:
        sim, view = self._require()
        full = np.full(self.n_services, ACTIONS.index(0), dtype=np.int64)
        full[view.index] = np.asarray(actions, dtype=np.int64)[view.index]
        deltas = np.zeros(self.n_services, dtype=np.int64)
        deltas[view.index] = clamp_deltas(view, full[view.index])
        for svc in np.flatnonzero(deltas).tolist():
            k = int(np.searchsorted(view.index, svc))
            sim.writer.set_service_replicas(svc, int(view.replicas[k] + deltas[svc]), by=LEARNER_ID)
        meter = PeriodMeter(self.spec)
        observation = None
        for _ in range(self.config.ticks_per_step):
            if sim.done:
                break
            sim.step()
            # one observation per tick serves both the reward sample and, on the period's last
            # tick, the next state: observing is a large share of a step's cost on small slices
            observation = sim.observe()
            meter.add(sample_from_observation(observation, self.max_replicas))
        self._steps += 1
        self._look(observation)
        return self._scaling_step(meter.reward(deltas))

    def _look(self, observation: Observation | None = None) -> None:
        sim = self._require_sim()
        self.observation = observation if observation is not None else sim.observe()
        self.findings = self._detector.analyze(self.observation) if self._detector else []
        self.view = service_view(self.observation, self.findings, self.max_replicas)

    def _scaling_step(self, rewards: F64) -> ScalingStep:
        _, view = self._require()
        n = self.n_services
        states = np.zeros(n, dtype=np.int64)
        feasible = np.zeros((n, len(ACTIONS)), dtype=bool)
        feasible[:, ACTIONS.index(0)] = True
        live = np.zeros(n, dtype=bool)
        states[view.index] = encode(view, self.encoding)
        feasible[view.index] = feasible_actions(view)
        live[view.index] = True
        done = self._steps >= self.config.steps_per_episode or self._require_sim().done
        return ScalingStep(states=states, feasible=feasible, live=live, rewards=rewards, done=done)

    def _require_sim(self) -> Simulator:
        if self.sim is None:
            raise ConfigError("the world was stepped before reset()", source="SimScalingEnv")
        return self.sim

    def _require(self) -> tuple[Simulator, ServiceView]:
        sim = self._require_sim()
        if self.view is None:
            raise ConfigError("the world was stepped before reset()", source="SimScalingEnv")
        return sim, self.view
