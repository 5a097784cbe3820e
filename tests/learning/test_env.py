"""ClusterEnv: the Gymnasium contract, determinism, and agreement with the Q-table's encoding."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from autoinfra.core.errors import ConfigError
from autoinfra.learning.env import ClusterEnv
from autoinfra.learning.scaling_env import SimScalingEnv, WorldConfig, default_forecaster
from autoinfra.policies.scaling.space import ACTIONS, NOOP
from tests.learning.factories import small_workload

CONFIG = WorldConfig(decision_period_s=30.0, tick_s=30.0, episode_s=600.0)


def make_env(**kw: object) -> ClusterEnv:
    return ClusterEnv(small_workload(), CONFIG, forecaster=default_forecaster, **kw)  # type: ignore[arg-type]


def test_passes_gymnasium_check_env() -> None:
    env = make_env()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # check_env reports problems as warnings: make them fail
        check_env(env, skip_render_check=True)
    assert env.action_space.n == len(ACTIONS)


def rollout(env: ClusterEnv, seed: int, actions: list[int]) -> list[tuple[object, ...]]:
    obs, info = env.reset(seed=seed)
    out: list[tuple[object, ...]] = [(obs.tobytes(), info["service"], info["state"])]
    for a in actions:
        obs, reward, terminated, truncated, info = env.step(a)
        out.append((obs.tobytes(), reward, terminated, truncated, info["state"]))
    return out


def test_reset_with_a_seed_is_deterministic() -> None:
    actions = [4, 3, 2, 0, 1, 4, 4, 0]
    a = rollout(make_env(), 5, actions)
    b = rollout(make_env(), 5, actions)
    assert a == b
    # a second reset with the same seed on the same instance repeats the episode too
    env = make_env()
    rollout(env, 9, actions)
    assert rollout(env, 5, actions) == a


def test_an_episode_is_truncated_by_its_time_limit_only() -> None:
    env = make_env()
    env.reset(seed=0)
    steps, truncated, terminated = 0, False, False
    while not truncated:
        _, _, terminated, truncated, _ = env.step(NOOP)
        assert not terminated
        steps += 1
    assert steps == CONFIG.steps_per_episode == 20


def test_actions_scale_the_focal_service_within_its_bounds() -> None:
    env = make_env(service=2)  # 1 replica, bounds [1, 4]
    env.reset(seed=0)
    deltas = [env.step(a)[4]["delta_replicas"] for a in (4, 4, 4, 0, 0, 0)]
    assert deltas == [2, 1, 0, -2, -1, 0]
    _, _, _, _, info = env.step(NOOP)
    assert info["feasible"].tolist() == [False, False, True, True, True]  # at min: no scale-down


def test_info_state_is_the_q_table_state_of_the_focal_service() -> None:
    env = make_env(service=1)
    _, info = env.reset(seed=3)
    world = env.scaling
    assert world.view is not None
    k = int(np.searchsorted(world.view.index, 1))
    from autoinfra.policies.scaling.encoding import encode

    assert info["state"] == int(encode(world.view, world.encoding)[k])


def test_scaling_up_a_saturated_service_pays() -> None:
    # service 2 runs 1 replica for 0.09 of demand at 0.1 request: hot at wave peaks. Adding
    # replicas must earn more than leaving it alone over the episode: the reward can tell.
    def total(action: int) -> float:
        env = make_env(service=2)
        env.reset(seed=1)
        return sum(env.step(action if k == 0 else NOOP)[1] for k in range(20))

    assert total(ACTIONS.index(2)) > total(NOOP)


def test_refuses_a_service_that_cannot_be_scaled() -> None:
    with pytest.raises(ConfigError, match="service 7"):
        make_env(service=7)


def test_world_serves_every_live_service_at_once() -> None:
    world = SimScalingEnv(small_workload(), CONFIG)
    step = world.reset(seed=0)
    assert step.live.tolist() == [True] * 4
    nxt = world.step(np.full(4, ACTIONS.index(1)))
    assert nxt.rewards.shape == (4,) and np.all(nxt.rewards <= 0)
    assert world.observation is not None
    assert world.observation.service_replicas.tolist() == [3, 5, 2, 4]
