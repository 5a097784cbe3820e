"""ClusterEnv: the Gymnasium contract, determinism, and agreement with the Q-table's encoding."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from autoinfra.core.errors import ConfigError
from autoinfra.learning.env import ClusterEnv
from autoinfra.learning.scaling_env import ScalingEnvSettings, SimScalingEnv, default_forecaster
from autoinfra.policies.forecast import HoltForecaster, HoltSettings
from autoinfra.policies.scaling.space import ACTIONS, NOOP
from tests.learning.factories import small_workload

CONFIG = ScalingEnvSettings(decision_period_s=30.0, tick_s=30.0, episode_s=600.0)


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


def _lockstep(env: ClusterEnv, world: SimScalingEnv, seed: int, actions: list[int]) -> int:
    """Step the environment and the all-services world side by side with the same draws and
    the focal service's actions; assert the same features, state and reward every step."""
    from gymnasium.utils import seeding

    from autoinfra.policies.scaling.encoding import encode, service_features

    obs, info = env.reset(seed=seed)
    draws, _ = seeding.np_random(seed)  # ClusterEnv.reset's own generator
    world.reset(seed=int(draws.integers(2**31)))
    s = world.workload.services
    focal = int(draws.choice(np.flatnonzero((s.max_replicas > s.min_replicas)
                                            & (s.initial_replicas > 0))))  # fmt: skip
    assert info["service"] == focal

    def check(obs: np.ndarray, info: dict[str, object]) -> None:
        view = world.view
        assert view is not None and world.observation is not None
        k = int(np.searchsorted(view.index, focal))
        want = service_features(world.observation, view)[k]
        # float32 sums over machines in another order: one unit in the last place at most
        np.testing.assert_allclose(obs, want, rtol=1e-6, atol=1e-6)
        assert info["state"] == int(encode(view, world.encoding)[k])

    check(obs, info)
    steps = 0
    for a in actions:
        obs, reward, _, truncated, info = env.step(a)
        full = np.full(world.n_services, NOOP, dtype=np.int64)
        full[focal] = a
        ref = world.step(full)
        check(obs, info)
        assert reward == float(ref.rewards[focal])  # the same arithmetic: exactly equal
        assert truncated == ref.done
        steps += 1
        if truncated:
            break
    return steps


@pytest.mark.parametrize("forecast", [False, True])
def test_steps_like_the_all_services_world(forecast: bool) -> None:
    # the fast path (probe + scalar formulas) must model exactly what the array code models
    fcst = default_forecaster if forecast else None
    env = ClusterEnv(small_workload(), CONFIG, forecaster=fcst)
    world = SimScalingEnv(small_workload(), CONFIG, forecaster=fcst)
    rng = np.random.default_rng(4)
    for seed in (0, 1, 2):
        actions = rng.integers(0, len(ACTIONS), 40).tolist()
        assert _lockstep(env, world, seed, actions) == CONFIG.steps_per_episode


def test_steps_like_the_world_on_a_trace_slice() -> None:
    from autoinfra.learning.pipeline import TrainSettings, training_windows

    spec = TrainSettings(machines=20, seed=0, episode_s=600.0)
    pieces, _, _ = training_windows(spec)
    config = spec.world_config()
    env = ClusterEnv(pieces, config, forecaster=default_forecaster)
    world = SimScalingEnv(pieces, config, forecaster=default_forecaster)
    actions = np.random.default_rng(7).integers(0, len(ACTIONS), 40).tolist()
    assert _lockstep(env, world, 3, actions) == config.steps_per_episode


class _CustomHolt(HoltForecaster):
    """A subclass: the environment must not take it for its own forecaster's fast twin."""


def test_another_detector_goes_through_a_full_observation() -> None:
    settings = HoltSettings(alpha=0.5)
    env = ClusterEnv(small_workload(), CONFIG, forecaster=lambda: _CustomHolt(settings))
    assert env.reset(seed=0) and env._detector is not None and env._holt is None
    world = SimScalingEnv(small_workload(), CONFIG, forecaster=lambda: HoltForecaster(settings))
    assert _lockstep(env, world, 0, [3, 3, 1, 2, 0, 4, 2, 2]) == 8


def test_registered_with_gymnasium() -> None:
    import gymnasium

    import autoinfra.learning  # noqa: F401  (registers the environment)

    env = gymnasium.make("autoinfra/Scaling-v0", machines=20, episode_s=300.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(env.unwrapped, skip_render_check=True)
    assert env.unwrapped.registry_id == "env.cluster-scaling-v1"  # built by the project's registry
    obs, _ = env.reset(seed=0)
    assert env.observation_space.contains(obs)
    steps = 0
    while not env.step(env.action_space.sample())[3]:
        steps += 1
    assert steps + 1 == 20  # 300 s of 15 s decisions
    with pytest.raises(ConfigError, match="render_mode"):
        gymnasium.make("autoinfra/Scaling-v0", render_mode="human")


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


def test_gymnasium_make_imports_the_package_from_the_id() -> None:
    # without importing autoinfra first: "module:id" makes gymnasium import the registering module
    import subprocess
    import sys

    code = (
        "import gymnasium, sys\n"
        "assert 'autoinfra.learning' not in sys.modules\n"
        "env = gymnasium.make('autoinfra.learning:autoinfra/Scaling-v0', machines=20,"
        " episode_s=60.0)\n"
        "obs, _ = env.reset(seed=1)\n"
        "print(env.unwrapped.registry_id, obs.shape)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, check=False)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["env.cluster-scaling-v1", "(8,)"]
