"""Contract tests run against every registered policy and detector (plugins included).

Each registered id must be constructible through the registry with no arguments (or, for an entry
that ``requires`` a model file, with one made here), carry its id once built, and keep the seam's
promises:
``decide``/``analyze`` return lists of the right type, never touch the world, and every proposed
action names a valid target.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np
import pytest

from autoinfra.core.actions import ACTION_KINDS
from autoinfra.core.errors import ConfigError
from autoinfra.core.proposal import Finding, Proposal
from autoinfra.policies import list_policies, make_policy, policy_spec
from tests.agents.fakes import FakeSim

TARGET = re.compile(r"^(machine|service|rack|link):\d+$|^cluster$")


@pytest.fixture(scope="module")
def ppo_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny trained PPO model: what ``scaling.ppo-v1`` needs to be built."""
    pytest.importorskip("stable_baselines3")
    from autoinfra.learning.env import ClusterEnv
    from autoinfra.learning.ppo import PPOSettings, train_ppo
    from autoinfra.learning.scaling_env import ScalingEnvSettings
    from tests.learning.factories import small_workload

    env = ClusterEnv(small_workload(), ScalingEnvSettings(episode_s=300.0))
    config = PPOSettings(total_timesteps=64, n_steps=32, batch_size=32, n_epochs=1)
    return train_ppo(env, tmp_path_factory.mktemp("ppo") / "ppo", seed=0, config=config)


def _make(policy_id: str, request: pytest.FixtureRequest) -> object:
    needs = policy_spec(policy_id).requires
    overrides = {"path": request.getfixturevalue("ppo_model")} if "path" in needs else {}
    try:
        built = make_policy(policy_id, **overrides)
    except ConfigError as exc:
        if "shipped Q-table is missing" in str(exc):
            pytest.skip(f"{policy_id}: its shipped artifact is not there yet ({exc})")
        raise
    assert built.registry_id == policy_id  # type: ignore[attr-defined]
    declared = getattr(built, "policy_id", policy_id)
    assert declared == policy_id, f"{policy_id} builds something that calls itself {declared}"
    return built


def _findings(world: FakeSim) -> list[Finding]:
    t = world.now_s
    return [
        Finding("node_failure", "machine:1", 0.9, t, {"heartbeat_age_s": 60.0}),
        Finding("cpu_hog", "machine:2", 0.8, t, {}),
        Finding("network_congestion", "link:1", 0.7, t, {"rack": 0}),
        Finding("intrusion", "machine:3", 0.9, t, {}),
        Finding(
            "demand_forecast",
            "service:0",
            0.0,
            t,
            {"cpu_forecast": 0.3, "cpu_std": 0.02, "horizon_s": 60.0},
        ),
        Finding(
            "demand_forecast",
            "cluster",
            0.0,
            t,
            {"cpu_forecast": 2.0, "cpu_std": 0.1, "horizon_s": 60.0},
        ),
    ]


@pytest.mark.parametrize("policy_id", list_policies("policy"))
def test_policy_contract(policy_id: str, request: pytest.FixtureRequest) -> None:
    policy = _make(policy_id, request)
    assert callable(getattr(policy, "decide", None)), f"{policy_id} has no decide()"
    world = FakeSim(n_machines=8, seed=4)
    world.tasks[6:] = 0
    for _ in range(30):
        out = policy.decide(world.observe(), _findings(world))  # type: ignore[attr-defined]
        assert isinstance(out, list)
        for p in out:
            assert isinstance(p, Proposal)
            assert type(p.action) in ACTION_KINDS.values()
            assert TARGET.match(p.action.target)
            assert 0.0 <= p.confidence <= 1.0
            assert p.justification.reason
        world.step()
    assert world.mutations == 0, "deciding must not act"
    spec = policy_spec(policy_id)
    assert re.match(r"^[a-z0-9_]+\.[a-z0-9_.-]+-v\d+$", spec.id)


@pytest.mark.parametrize("policy_id", list_policies("detector"))
def test_detector_contract(policy_id: str, request: pytest.FixtureRequest) -> None:
    detector = _make(policy_id, request)
    world = FakeSim(n_machines=8, seed=5)
    for _ in range(20):
        obs = world.observe()
        out = detector.analyze(obs)  # type: ignore[attr-defined]
        assert isinstance(out, list)
        for f in out:
            assert isinstance(f, Finding) and TARGET.match(f.target)
            assert 0.0 <= f.severity <= 1.0 and f.at_s == obs.time_s
        world.step()
    assert world.mutations == 0


@pytest.mark.parametrize("policy_id", list_policies("policy"))
def test_policy_accepts_a_cluster_without_services(
    policy_id: str, request: pytest.FixtureRequest
) -> None:
    world = FakeSim(n_machines=4, n_services=0)
    obs = dataclasses.replace(world.observe(), service_ids=np.zeros(0, dtype=np.int64))
    policy = _make(policy_id, request)
    assert isinstance(policy.decide(obs, []), list)  # type: ignore[attr-defined]
