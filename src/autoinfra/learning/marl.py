"""Multi-agent RL: independent Q-learners for the scaling and energy roles over one simulator.

The paper's agents learn side by side (section 4: multi-agent reinforcement learning). Here two
learners share the world and each learns from its own share of the reward, treating the other as
part of the environment (independent Q-learning, Tan 1993; it has no convergence guarantee with
learners adapting at once, which the comparison with the single-agent table measures rather than
assumes):

- **scaling**: the shipped Q-table's learner, unchanged: one table shared by every service, the
  state of ``policies.scaling.encoding``, per-service rewards of ``learning.rewards``;
- **energy**: one decision per period for the cell, over a small stated state
  (``energy_state``: free CPU share in 5 bins, pending work yes/no, empty machines yes/no) and
  four actions (``ENERGY_ACTIONS``): nothing, power on ``k`` machines, power off up to ``k``
  empty machines, drain the most lightly requested machine. Its reward share is
  ``-(powered share) - w_slo x (share of services violating) - w_pending x (pending CPU share)``:
  energy, with the SLO the scaling agent is also paid for as the cost that keeps it honest.

``MultiAgentEnv`` is ``SimScalingEnv`` with the energy agent's action applied before each
period and its state and reward after; ``train_independent`` trains both (epsilon-greedy, the same
schedule and step sizes as ``QLearningSettings``), deterministic for a seed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from autoinfra.core.errors import ConfigError, SimulationError
from autoinfra.core.observation import MachineState, Observation
from autoinfra.learning.qlearning import QLearningSettings, ScalingStep, explore, q_update
from autoinfra.learning.rewards import sample_from_observation, violation
from autoinfra.learning.scaling_env import LEARNER_ID, SimScalingEnv
from autoinfra.policies.scaling.qtable import QTablePolicy

__all__ = [
    "ENERGY_ACTIONS",
    "EnergyQLearner",
    "EnergySettings",
    "MultiAgentEnv",
    "apply_energy_action",
    "energy_state",
    "train_independent",
]

F64 = npt.NDArray[np.float64]
ENERGY_ACTIONS: tuple[str, ...] = ("nothing", "power_on", "power_off_empty", "drain_lightest")
FREE_BINS = (0.05, 0.15, 0.30, 0.50)  # free CPU share bin edges
N_ENERGY_STATES = (len(FREE_BINS) + 1) * 2 * 2


@dataclass(frozen=True, slots=True)
class EnergySettings:
    machines_per_action_share: float = 0.02  # k = this share of the cell, at least 1
    drain_below_share: float = 0.5  # only machines below this requested share are drained
    w_slo: float = 2.0
    w_pending: float = 2.0

    def __post_init__(self) -> None:
        if not 0 < self.machines_per_action_share <= 1 or self.w_slo < 0 or self.w_pending < 0:
            raise ConfigError(
                "expected 0 < machines_per_action_share <= 1 and non-negative weights",
                field="machines_per_action_share",
            )


def _usable(obs: Observation) -> npt.NDArray[np.bool_]:
    return (obs.machine_state == MachineState.ON) & obs.schedulable


def energy_state(obs: Observation) -> int:
    """(free-share bin x pending x empty-available), 0..N_ENERGY_STATES-1."""
    cap = obs.cpu_capacity.astype(np.float64)
    usable = _usable(obs)
    booting = obs.machine_state == MachineState.BOOTING
    capacity = float(cap[usable].sum() + cap[booting].sum())
    need = float(obs.cpu_requested[usable].sum()) + float(obs.pending_cpu)
    free = (capacity - need) / capacity if capacity > 0 else -1.0
    free_bin = int(np.searchsorted(np.asarray(FREE_BINS), free, side="right"))
    pending = int(obs.pending_tasks > 0)
    empty = int(bool((usable & (obs.tasks_running == 0)).any()))
    return (free_bin * 2 + pending) * 2 + empty


def apply_energy_action(
    sim: object, obs: Observation, action: int, settings: EnergySettings
) -> int:
    """Apply one energy action to a simulator (``power_on``/``power_off``/``drain``); returns the
    number of machine changes made. Refusals by the simulator are skipped, as a backend's are."""
    k = max(1, round(settings.machines_per_action_share * obs.n_machines))
    name = ENERGY_ACTIONS[action]
    state = obs.machine_state
    if name == "power_on":
        chosen = np.flatnonzero(state == MachineState.OFF)[:k]
    elif name == "power_off_empty":
        chosen = np.flatnonzero(_usable(obs) & (obs.tasks_running == 0))[:k]
    elif name == "drain_lightest":
        cap = obs.cpu_capacity.astype(np.float64)
        share = obs.cpu_requested.astype(np.float64) / np.maximum(cap, 1e-9)
        light = np.flatnonzero(_usable(obs) & (obs.tasks_running > 0))
        light = light[share[light] < settings.drain_below_share]
        chosen = light[np.argsort(share[light], kind="stable")][:1]
    else:
        return 0
    done = 0
    for m in chosen.tolist():
        try:
            if name == "power_on":
                sim.writer.power_on(m, LEARNER_ID)  # type: ignore[attr-defined]
            elif name == "power_off_empty":
                sim.writer.power_off(m, LEARNER_ID)  # type: ignore[attr-defined]
            else:
                sim.writer.drain(m, LEARNER_ID)  # type: ignore[attr-defined]
            done += 1
        except SimulationError:
            continue
    return done


def energy_reward(obs: Observation, world: SimScalingEnv, settings: EnergySettings) -> float:
    powered = float(obs.powered.sum()) / max(obs.n_machines, 1)
    sample = sample_from_observation(obs, world.max_replicas)
    v = violation(world.spec, sample)
    violating = float(v.mean()) if v.size else 0.0
    cap = float(obs.cpu_capacity[obs.powered].sum())
    pending = min(1.0, float(obs.pending_cpu) / cap) if cap > 0 else 1.0
    return -(powered + settings.w_slo * violating + settings.w_pending * pending)


@dataclass(slots=True)
class EnergyQLearner:
    """A tabular Q-learner for the energy role (its own table, visits and config)."""

    config: QLearningSettings = field(default_factory=QLearningSettings)
    q: F64 = field(default_factory=lambda: np.zeros((N_ENERGY_STATES, len(ENERGY_ACTIONS))))
    visits: npt.NDArray[np.int64] = field(
        default_factory=lambda: np.zeros((N_ENERGY_STATES, len(ENERGY_ACTIONS)), dtype=np.int64)
    )

    def act(self, state: int, epsilon: float, rng: np.random.Generator) -> int:
        if rng.random() < epsilon:
            return int(rng.integers(len(ENERGY_ACTIONS)))
        return self.greedy(state)

    def greedy(self, state: int) -> int:
        """The best action tried in ``state``; "nothing" where none was (no estimate there)."""
        tried = self.visits[state] > 0
        if not tried.any():
            return 0
        row = np.where(tried, self.q[state], -np.inf)
        return int(np.flatnonzero(row == row.max())[0])  # ties: "nothing" first

    def update(self, s: int, a: int, r: float, s2: int) -> None:
        target = r + self.config.discount * float(self.q[s2].max())
        self.q[s, a] += self.config.alpha(int(self.visits[s, a])) * (target - self.q[s, a])
        self.visits[s, a] += 1


class MultiAgentEnv(SimScalingEnv):
    """``SimScalingEnv`` with an energy agent acting on the same simulator each period."""

    energy_settings: EnergySettings = EnergySettings()

    def joint_step(
        self, scaling_actions: npt.NDArray[np.int64], energy_action: int
    ) -> tuple[ScalingStep, int, float]:
        """Apply the energy action, then the scaling step; (scaling step, energy state, reward)."""
        sim, _ = self._require()
        if self.observation is not None:
            apply_energy_action(sim, self.observation, energy_action, self.energy_settings)
        step = self.step(scaling_actions)
        obs = self.observation
        assert obs is not None  # set by step()
        return step, energy_state(obs), energy_reward(obs, self, self.energy_settings)

    def current_energy_state(self) -> int:
        if self.observation is None:
            raise ConfigError("the world was stepped before reset()", source="MultiAgentEnv")
        return energy_state(self.observation)


@dataclass(slots=True)
class IndependentReport:
    scaling_reward: list[float] = field(default_factory=list)  # mean per service-period
    energy_reward: list[float] = field(default_factory=list)  # mean per period


def train_independent(
    world: MultiAgentEnv,
    *,
    episodes: int,
    seed: int,
    config: QLearningSettings | None = None,
    scaling: QTablePolicy | None = None,
    energy: EnergyQLearner | None = None,
) -> tuple[QTablePolicy, EnergyQLearner, IndependentReport]:
    """Train both learners together for ``episodes`` episodes; deterministic for ``seed``."""
    if episodes < 1:
        raise ConfigError(f"episodes is {episodes}, expected at least 1", field="episodes")
    config = config or QLearningSettings()
    scaling = scaling or QTablePolicy.zeros()
    energy = energy or EnergyQLearner(config)
    rng = np.random.default_rng(seed)
    report = IndependentReport()
    for ep in range(episodes):
        eps = config.epsilon(ep, episodes)
        step = world.reset(seed=int(rng.integers(2**31)))
        es = world.current_energy_state()
        s_sum = e_sum = 0.0
        n_s = n_e = 0
        while not step.done:
            actions = explore(scaling.q, step.states, step.feasible, eps, rng)
            ea = energy.act(es, eps, rng)
            nxt, es2, er = world.joint_step(actions, ea)
            both = step.live & nxt.live
            q_update(
                scaling,
                step.states[both],
                actions[both],
                nxt.rewards[both],
                nxt.states[both],
                nxt.feasible[both],
                config,
            )
            energy.update(es, ea, er, es2)
            s_sum += float(nxt.rewards[both].sum())
            n_s += int(both.sum())
            e_sum += er
            n_e += 1
            step, es = nxt, es2
        report.scaling_reward.append(s_sum / max(n_s, 1))
        report.energy_reward.append(e_sum / max(n_e, 1))
    return scaling, energy, report


def greedy_energy_actions(energy: EnergyQLearner, states: Sequence[int]) -> list[int]:
    """The learnt energy policy's choice for each state (for reports and tests)."""
    return [energy.greedy(int(s)) for s in states]
