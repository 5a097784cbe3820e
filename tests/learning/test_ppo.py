"""PPO behind the ``rl`` extra: a smoke test of training, saving, loading and deciding."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from autoinfra.core.errors import ConfigError
from autoinfra.learning.env import ClusterEnv
from autoinfra.learning.scaling_env import ScalingEnvSettings
from autoinfra.policies.scaling.encoding import FEATURE_HIGH, service_features
from autoinfra.policies.scaling.ppo import PPOPolicy
from autoinfra.policies.scaling.space import ReplicaBounds, service_view
from tests.learning.factories import observation, small_workload

pytestmark = pytest.mark.rl


def test_train_save_load_decide(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("stable_baselines3")
    import tempfile

    from autoinfra.learning.ppo import PPOSettings, train_ppo

    scratch = tmp_path / "tmpdir"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))  # SB3's default logger writes here

    env = ClusterEnv(small_workload(), ScalingEnvSettings(episode_s=600.0))
    config = PPOSettings(total_timesteps=128, n_steps=64, batch_size=32, n_epochs=2)
    seen: list[int] = []
    path = train_ppo(env, tmp_path / "ppo", seed=1, config=config, on_progress=seen.append,
                     provenance={"command": "test"})  # fmt: skip
    assert path.suffix == ".zip" and path.exists()
    meta = json.loads(path.with_suffix(".json").read_text())
    assert meta["reward"] == "slo-energy-v1" and meta["provenance"] == {"command": "test"}
    assert seen and seen[-1] >= 128
    assert not list(scratch.glob("SB3-*"))  # training leaves no empty log folders behind
    policy = PPOPolicy.load(path)
    obs = observation(replicas=[2, 8, 1], cpu_used=[0.2, 0.1, 0.1], max_replicas=[8, 8, 4])
    for p in policy.decide(obs, []):
        s = p.action.service
        after = int(obs.service_replicas[s]) + p.action.delta_replicas
        assert 1 <= after <= [8, 8, 4][s]
        assert p.justification.inputs["features_id"] == "scale-features-v1"


def test_load_refuses_models_without_the_right_sidecar(tmp_path: Path) -> None:
    pytest.importorskip("stable_baselines3")
    (tmp_path / "m.zip").write_bytes(b"not a model")
    with pytest.raises(ConfigError, match=r"missing metadata file m\.json"):
        PPOPolicy.load(tmp_path / "m.zip")
    (tmp_path / "m.json").write_text(json.dumps({"features": "other-v9"}))
    with pytest.raises(ConfigError, match="scale-features-v1"):
        PPOPolicy.load(tmp_path / "m.zip")


def test_features_stay_inside_the_observation_box() -> None:
    obs = observation(replicas=[2, 8, 1], running=[0, 8, 1], cpu_used=[0.0, 5.0, 0.1],
                      max_replicas=[8, 8, 4])  # fmt: skip
    view = service_view(obs, [], ReplicaBounds()(obs))
    f = service_features(obs, view)
    assert f.shape == (3, 8) and f.dtype == np.float32
    assert np.all(f >= 0) and np.all(f <= FEATURE_HIGH)
    assert f[1, 6] == 1.0 and f[0, 7] == 0.0  # service 1 at max; service 0 has nothing running
