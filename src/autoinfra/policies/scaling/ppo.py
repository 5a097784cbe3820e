"""PPO scaling policy: inference only, behind the ``rl`` extra.

A small actor-critic network trained with PPO (Schulman et al., "Proximal Policy Optimization
Algorithms", 2017; Stable-Baselines3's implementation) maps each service's compact feature vector
to one of the Q-table's replica changes. It is the paper's "neural networks ... for nuanced
decision-making" option (section 5.2.1) next to the tabular policy, trained in the same
environment (``autoinfra.learning.ClusterEnv``) on the same reward.

stable-baselines3 (and torch under it) is imported inside ``PPOPolicy.load`` only, so importing
this module, and the feature vector the environment shares with it, costs nothing when the extra
is absent; loading without it raises a ``ConfigError`` naming the extra.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from autoinfra.core.actions import ScaleService
from autoinfra.core.errors import ConfigError
from autoinfra.core.observation import Observation
from autoinfra.core.proposal import Finding, Justification, Proposal
from autoinfra.policies.scaling.artifacts import PPO_POLICY_ID, read_sidecar
from autoinfra.policies.scaling.encoding import FEATURE_NAMES, FEATURES_ID, service_features
from autoinfra.policies.scaling.space import (
    ACTIONS,
    ReplicaBounds,
    clamp_deltas,
    feasible_actions,
    service_view,
)

__all__ = ["POLICY_ID", "PPOPolicy"]

POLICY_ID = PPO_POLICY_ID


class PPOPolicy:
    """Scale services by the deterministic action of a trained PPO actor (a ``core.Policy``)."""

    def __init__(
        self,
        model: Any,
        *,
        meta: Mapping[str, Any] | None = None,
        agent: str = "scaling",
        priority: int = 50,
        bounds: ReplicaBounds | None = None,
    ) -> None:
        self.model = model
        self.meta: dict[str, Any] = dict(meta or {})
        self.agent = agent
        self.priority = priority
        self.bounds = bounds if bounds is not None else ReplicaBounds()

    @classmethod
    def load(cls, path: str | Path, **kwargs: Any) -> PPOPolicy:
        """Load a model saved by ``autoinfra.learning.ppo`` (the zip and its ``.json`` sidecar)."""
        try:
            from stable_baselines3 import PPO
        except ImportError as exc:
            raise ConfigError(
                "the PPO policy needs the 'rl' extra (stable-baselines3 and torch): "
                "pip install 'autoinfra[rl]'",
                source=str(path),
            ) from exc
        path = Path(path)
        meta = read_sidecar(path)
        try:
            model = PPO.load(str(path), device="cpu")
        except (OSError, ValueError, KeyError) as exc:
            raise ConfigError(f"cannot load the PPO model: {exc}", source=str(path)) from exc
        return cls(model, meta=meta, **kwargs)

    def decide(self, observation: Observation, findings: Sequence[Finding]) -> list[Proposal]:
        view = service_view(observation, findings, self.bounds(observation))
        if view.index.shape[0] == 0:
            return []
        features = service_features(observation, view)
        actions, _ = self.model.predict(features, deterministic=True)
        actions = np.asarray(actions, dtype=np.int64).reshape(-1)
        # an infeasible choice (scale up at max) becomes "do nothing"
        ok = feasible_actions(view)[np.arange(actions.shape[0]), actions]
        actions = np.where(ok, actions, ACTIONS.index(0))
        deltas = clamp_deltas(view, actions)
        proposals = []
        for k in np.flatnonzero(deltas).tolist():
            svc, replicas, delta = int(view.index[k]), int(view.replicas[k]), int(deltas[k])
            proposals.append(
                Proposal(
                    action=ScaleService(service=svc, delta_replicas=delta),
                    agent=self.agent,
                    priority=self.priority,
                    justification=Justification(
                        reason=f"PPO actor {POLICY_ID} chose {delta:+d} for service:{svc}",
                        inputs={
                            "policy": POLICY_ID,
                            "features_id": FEATURES_ID,
                            "features": dict(
                                zip(FEATURE_NAMES, features[k].round(4).tolist(), strict=True)
                            ),
                            "reward": self.meta.get("reward"),
                        },
                        expected_effect=f"replicas {replicas} -> {replicas + delta}",
                    ),
                    request_id=f"{self.agent}:{observation.time_s:.0f}:service:{svc}",
                )
            )
        return proposals
