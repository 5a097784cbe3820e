"""PPO training for the scaling policy, behind the ``rl`` extra (stable-baselines3, torch).

Trains Stable-Baselines3's PPO (Schulman et al. 2017) with a small MLP actor-critic in
``ClusterEnv`` and writes the model atomically (``<out>.zip``) with a JSON sidecar
(``<out>.json``: features id, reward id, hyperparameters, provenance) that
``policies.scaling.ppo.PPOPolicy.load`` checks. stable-baselines3 and torch are imported inside
``train_ppo`` only, so the rest of ``autoinfra.learning`` works without the extra.

Determinism: SB3 seeds Python, NumPy and torch from ``seed`` and the environment is deterministic
for its seeds, so on one machine the same command gives the same model; torch does not promise
bit-identical floats across CPUs or versions, so PPO artifacts are reproducible in behaviour, not
byte for byte (the Q-table is the byte-for-byte one).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from autoinfra.core.atomic import atomic_path, write_json
from autoinfra.core.errors import ConfigError
from autoinfra.learning.env import ClusterEnv
from autoinfra.policies.scaling.artifacts import PPO_POLICY_ID
from autoinfra.policies.scaling.encoding import FEATURES_ID
from autoinfra.policies.scaling.space import ACTIONS


@dataclass(frozen=True, slots=True)
class PPOSettings:
    """PPO hyperparameters: SB3's defaults scaled down to a short, small problem."""

    total_timesteps: int = 20_000
    n_steps: int = 512  # rollout length per update (SB3 default 2048; an episode is 120 steps)
    batch_size: int = 64
    n_epochs: int = 10
    learning_rate: float = 3e-4
    gamma: float = 0.95  # same horizon as the Q-learner (learning.qlearning.QLearningSettings)
    ent_coef: float = 0.01  # a little entropy bonus keeps all five actions in play early on
    net_arch: tuple[int, ...] = (32, 32)
    torch_threads: int = 1  # the machines this runs on are small and shared

    def __post_init__(self) -> None:
        if self.total_timesteps < 1 or self.n_steps < 2 or self.batch_size < 2:
            raise ConfigError(
                "total_timesteps >= 1, n_steps >= 2 and batch_size >= 2 expected",
                source="PPOSettings",
            )


def train_ppo(
    env: ClusterEnv,
    out: str | Path,
    *,
    seed: int,
    config: PPOSettings | None = None,
    provenance: Mapping[str, Any] | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> Path:
    """Train PPO in ``env`` and write ``out`` (``.zip``) plus its ``.json`` sidecar."""
    config = config or PPOSettings()
    try:
        import torch
        from stable_baselines3 import PPO
        from stable_baselines3.common.callbacks import BaseCallback
        from stable_baselines3.common.logger import Logger
    except ImportError as exc:
        raise ConfigError(
            "PPO training needs the 'rl' extra (stable-baselines3 and torch): "
            "pip install 'autoinfra[rl]'",
            field="algo",
        ) from exc
    torch.set_num_threads(config.torch_threads)

    class _Progress(BaseCallback):
        def _on_step(self) -> bool:
            if on_progress is not None:
                on_progress(int(self.num_timesteps))
            return True

    model = PPO(
        "MlpPolicy",
        env,
        learning_rate=config.learning_rate,
        n_steps=config.n_steps,
        batch_size=config.batch_size,
        n_epochs=config.n_epochs,
        gamma=config.gamma,
        ent_coef=config.ent_coef,
        policy_kwargs={"net_arch": list(config.net_arch)},
        seed=seed,
        device="cpu",
        verbose=0,
    )
    # A logger with no outputs: SB3's default makes an empty SB3-<time> folder in the temporary
    # directory on every learn() call, and progress reaches the user through on_progress instead.
    model.set_logger(Logger(folder=None, output_formats=[]))
    model.learn(total_timesteps=config.total_timesteps, callback=_Progress())
    out = Path(out).with_suffix(".zip")
    # Stable-Baselines3 adds ".zip" to a name without it, so the temporary name ends in .zip
    with atomic_path(out, suffix=".zip") as tmp:
        model.save(tmp)
    write_json(
        out.with_suffix(".json"),
        {
            "policy": PPO_POLICY_ID,
            "features": FEATURES_ID,
            "reward": env.reward_id,
            "actions": list(ACTIONS),
            "hyperparameters": {**asdict(config), "net_arch": list(config.net_arch)},
            "seed": seed,
            "provenance": dict(provenance or {}),
        },
        indent=1,
        sort_keys=True,
    )
    return out
