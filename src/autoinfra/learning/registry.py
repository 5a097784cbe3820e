"""The learning environments, by versioned id, in one ``core.registry.Registry``.

Two environments pose the scaling problem over the simulator: ``env.sim-scaling-v1`` (every
service of a workload, one decision period a step: the tabular Q-learner's world) and
``env.cluster-scaling-v1`` (one focal service as a Gymnasium environment: PPO's). Both need the
workloads to replay (``requires``), so ``make`` is called with them; entries are lazy strings, so
listing the registry never imports Gymnasium or the simulator.
"""

from __future__ import annotations

from typing import Any

from autoinfra.core.registry import Registry

__all__ = ["CLUSTER_ENV_ID", "ENVIRONMENTS", "SIM_WORLD_ID"]

SIM_WORLD_ID = "env.sim-scaling-v1"
CLUSTER_ENV_ID = "env.cluster-scaling-v1"


def _builtin() -> Registry[Any]:
    registry: Registry[Any] = Registry("environment")
    registry.register(
        SIM_WORLD_ID,
        "autoinfra.learning.scaling_env:SimScalingEnv",
        description="every service of the workloads, one decision period a step (Q-learning)",
        requires=("workloads",),
    )
    registry.register(
        CLUSTER_ENV_ID,
        "autoinfra.learning.env:ClusterEnv",
        description="one focal service as a Gymnasium environment over the features (PPO)",
        requires=("workloads",),
    )
    return registry


ENVIRONMENTS = _builtin()
