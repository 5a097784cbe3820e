"""The scaling environment registered with Gymnasium: ``gymnasium.make("autoinfra/Scaling-v0")``.

``register_envs`` runs on ``import autoinfra.learning``. Gymnasium 1.x no longer loads plugins
from a ``gymnasium.envs`` entry point (the loader went with gym 0.26), so without importing us
first, name the module in the id: ``gymnasium.make("autoinfra.learning:autoinfra/Scaling-v0")``
imports it, which registers the environment. Registering only records an entry point string;
the simulator and the trace load on ``make``.

Defaults (each a keyword of ``make``): the training window of the shipped Google 2011 slice, a
20-machine slice of the cell drawn with ``seed`` 0, 30-minute episodes of 15 s decisions (the
scaling agent's period) and its Holt forecaster: the environment ``autoinfra train --algo ppo``
trains in (``learning.pipeline``), on the slice size the learning benchmark measures. The
evaluation window of the trace is never loaded.
"""

from __future__ import annotations

from typing import Any

ENV_ID = "autoinfra/Scaling-v0"
ENTRY_POINT = "autoinfra.learning.registration:make_scaling_env"


def register_envs() -> None:
    """Register every autoinfra environment with Gymnasium (idempotent)."""
    import gymnasium

    if ENV_ID not in gymnasium.registry:
        gymnasium.register(id=ENV_ID, entry_point=ENTRY_POINT)


def make_scaling_env(
    *,
    machines: int = 20,
    seed: int = 0,
    episode_s: float = 1800.0,
    decision_period_s: float = 15.0,
    train_fraction: float = 0.5,
    trace_dir: str | None = None,
    forecast: bool = True,
    service: int | None = None,
    render_mode: str | None = None,
) -> Any:
    """A ``ClusterEnv`` (``env.cluster-scaling-v1``) over the training window of a trace."""
    from autoinfra.core.errors import ConfigError
    from autoinfra.learning.pipeline import TrainSettings, training_windows
    from autoinfra.learning.registry import CLUSTER_ENV_ID, ENVIRONMENTS
    from autoinfra.learning.scaling_env import default_forecaster

    if render_mode is not None:
        raise ConfigError(f"render_mode {render_mode!r}: this environment does not render",
                          field="render_mode")  # fmt: skip
    spec = TrainSettings(
        algo="ppo",
        machines=machines,
        seed=seed,
        episode_s=episode_s,
        decision_period_s=decision_period_s,
        train_fraction=train_fraction,
        trace_dir=trace_dir,
    )
    pieces, _, _ = training_windows(spec)
    # through the project's registry, so the environment carries its id (env.cluster-scaling-v1)
    return ENVIRONMENTS.make(
        CLUSTER_ENV_ID,
        workloads=pieces,
        config=spec.world_config(),
        service=service,
        forecaster=default_forecaster if forecast else None,
    )
