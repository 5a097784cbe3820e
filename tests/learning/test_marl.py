"""Independent learners: the energy state and actions, the energy learner, joint training."""

from __future__ import annotations

import numpy as np
import pytest

from autoinfra.core.errors import ConfigError
from autoinfra.core.observation import MachineState
from autoinfra.learning.marl import (
    ENERGY_ACTIONS,
    N_ENERGY_STATES,
    EnergyQLearner,
    EnergySettings,
    MultiAgentEnv,
    apply_energy_action,
    energy_state,
    train_independent,
)
from autoinfra.learning.scaling_env import ScalingEnvSettings
from autoinfra.sim import SimSettings, Simulator
from tests.experiments.observations import make_observation
from tests.learning.factories import small_workload

CONFIG = ScalingEnvSettings(episode_s=300.0, decision_period_s=30.0, tick_s=30.0)


def test_energy_state_bins_free_share_pending_and_empty_machines() -> None:
    # 4 machines of 0.5 CPU, 0.3 requested each: free share 0.4 -> bin 3; none empty
    busy = make_observation()
    assert energy_state(busy) == (3 * 2 + 0) * 2 + 0
    empty = make_observation(tasks_running=[0, 3, 3, 3], pending_tasks=2, pending_cpu=0.1)
    assert energy_state(empty) == (3 * 2 + 1) * 2 + 1
    full = make_observation(cpu_requested=[0.5] * 4)
    assert energy_state(full) == 0
    states = {
        energy_state(make_observation(cpu_requested=[r] * 4)) for r in np.linspace(0, 0.5, 11)
    }
    assert states <= set(range(N_ENERGY_STATES)) and len(states) >= 4


def test_energy_actions_change_the_simulated_cell() -> None:
    sim = Simulator(small_workload(machines=8), SimSettings(tick_s=30.0, until_s=600.0), seed=0)
    for _ in range(4):
        sim.step()
    obs = sim.observe()
    s = EnergySettings(machines_per_action_share=0.25)  # k = 2 of 8
    assert apply_energy_action(sim, obs, ENERGY_ACTIONS.index("nothing"), s) == 0
    drained = apply_energy_action(sim, obs, ENERGY_ACTIONS.index("drain_lightest"), s)
    light = (obs.cpu_requested / obs.cpu_capacity < 0.5) & (obs.tasks_running > 0)
    assert drained == int(light.any())
    sim.step()
    obs = sim.observe()
    empty = int(((obs.machine_state == MachineState.ON) & (obs.tasks_running == 0)).sum())
    off = apply_energy_action(sim, obs, ENERGY_ACTIONS.index("power_off_empty"), s)
    assert off == min(2, empty)
    sim.step()
    obs = sim.observe()
    n_off = int((obs.machine_state == MachineState.OFF).sum())
    on = apply_energy_action(sim, obs, ENERGY_ACTIONS.index("power_on"), s)
    assert on == min(2, n_off)
    assert drained and off and on  # this seeded cell exercises all three


def test_energy_learner_acts_only_on_what_it_tried_and_learns_toward_the_reward() -> None:
    learner = EnergyQLearner()
    assert learner.greedy(5) == 0  # nothing tried: do nothing
    learner.update(5, 2, -1.0, 6)
    assert learner.greedy(5) == 2  # the only estimate there, even if negative
    for _ in range(50):
        learner.update(5, 1, -0.1, 6)
    assert learner.greedy(5) == 1
    assert learner.q[5, 1] == pytest.approx(-0.1, abs=0.01)  # state 6 holds 0: target -0.1
    with pytest.raises(ConfigError):
        EnergySettings(machines_per_action_share=0.0)


def test_joint_training_is_deterministic_for_a_seed_and_learns_both_tables() -> None:
    def run(seed: int) -> tuple[np.ndarray, np.ndarray]:
        world = MultiAgentEnv(small_workload(), CONFIG)
        scaling, energy, report = train_independent(world, episodes=2, seed=seed)
        assert len(report.energy_reward) == 2 and all(r <= 0 for r in report.energy_reward)
        return scaling.q.copy(), energy.q.copy()

    a, b = run(3), run(3)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert np.any(a[0] != 0) and np.any(a[1] != 0)
    with pytest.raises(ConfigError):
        train_independent(MultiAgentEnv(small_workload(), CONFIG), episodes=0, seed=0)
