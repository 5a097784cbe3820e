"""Learning, kept apart from inference: rewards, the tabular Q-learner (offline, and online
behind ``core.Learner``), federated averaging, the environments (``learning.registry``), PPO
training, and the pipeline behind ``autoinfra train``. Importing the package registers the
scaling environment with Gymnasium (``gymnasium.make("autoinfra/Scaling-v0")``;
``learning.registration``).

The deciding halves live in ``autoinfra.policies.scaling`` (the Q-table and PPO policies);
this package only makes and improves what they decide with. Names that pull in the simulator,
Gymnasium or the trace readers (``ClusterEnv``, ``SimScalingEnv``, ``train_scaling_policy``,
``train_ppo``) load on first use, so importing the learners stays light.
"""

from __future__ import annotations

import importlib
from typing import Any

from autoinfra.learning.federated import federated_average
from autoinfra.learning.qlearning import (
    EpisodeStats,
    QLearner,
    QLearningSettings,
    ScalingEnv,
    ScalingStep,
    TrainReport,
    train_qlearning,
)
from autoinfra.learning.rewards import DEFAULT_REWARD, REWARDS, RewardSpec, get_reward

_LAZY = {
    "ClusterEnv": "autoinfra.learning.env",
    "SimScalingEnv": "autoinfra.learning.scaling_env",
    "ScalingEnvSettings": "autoinfra.learning.scaling_env",
    "TrainSettings": "autoinfra.learning.pipeline",
    "TrainResult": "autoinfra.learning.pipeline",
    "train_scaling_policy": "autoinfra.learning.pipeline",
    "PPOSettings": "autoinfra.learning.ppo",
    "train_ppo": "autoinfra.learning.ppo",
    "make_scaling_env": "autoinfra.learning.registration",
}

__all__ = [
    "DEFAULT_REWARD",
    "REWARDS",
    "ClusterEnv",
    "EpisodeStats",
    "PPOSettings",
    "QLearner",
    "QLearningSettings",
    "RewardSpec",
    "ScalingEnv",
    "ScalingEnvSettings",
    "ScalingStep",
    "SimScalingEnv",
    "TrainReport",
    "TrainResult",
    "TrainSettings",
    "federated_average",
    "get_reward",
    "make_scaling_env",
    "train_ppo",
    "train_qlearning",
    "train_scaling_policy",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'autoinfra.learning' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def _register() -> None:
    from autoinfra.learning.registration import register_envs

    register_envs()


_register()
