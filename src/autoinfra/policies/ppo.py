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

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from autoinfra.core.actions import ScaleService
from autoinfra.core.errors import ConfigError
from autoinfra.core.observation import MachineState, Observation
from autoinfra.core.proposal import Finding, Justification, Proposal
from autoinfra.policies.qlearning import (
    ACTIONS,
    ReplicaBounds,
    ServiceView,
    clamp_deltas,
    feasible_actions,
    service_view,
)

F32 = npt.NDArray[np.float32]

POLICY_ID = "scaling.ppo-v1"
FEATURES_ID = "scale-features-v1"
FEATURE_NAMES: tuple[str, ...] = (
    "cluster_cpu_util",  # CPU used / capacity of powered machines
    "cluster_mem_util",
    "pending_cpu_share",  # CPU requested by pending tasks / powered CPU capacity
    "replica_util",  # service CPU used / (running x request)
    "forecast_util",  # forecast CPU / (replicas x request)
    "forecast_rel_std",  # forecast std / (replicas x request)
    "headroom",  # (replicas - min) / (max - min): 0 at min, 1 at max
    "running_share",  # running / replicas
)
# Upper bounds of the observation box; features are clipped into [0, high] so the space holds.
FEATURE_HIGH = np.array([2.0, 2.0, 2.0, 4.0, 4.0, 4.0, 1.0, 1.0], dtype=np.float32)
# powered = BOOTING, ON or DRAINING (consecutive values); plain ints, as enum attribute lookups
# cost more than the comparison itself on every environment step
_BOOTING, _DRAINING = int(MachineState.BOOTING), int(MachineState.DRAINING)


def service_features(observation: Observation, view: ServiceView) -> F32:
    """(n_services_in_view, 8) float32 features, clipped into the observation box."""
    # one mask and four sums: Observation.cpu_utilization() and mem_utilization() would each
    # rebuild the mask, and this runs on every environment step
    s = observation.machine_state
    powered = (s >= _BOOTING) & (s <= _DRAINING)
    cpu_cap = float(observation.cpu_capacity[powered].sum())
    mem_cap = float(observation.mem_capacity[powered].sum())
    n = view.index.shape[0]
    span = np.maximum(view.max_replicas - view.min_replicas, 1)
    out = np.empty((n, len(FEATURE_NAMES)), dtype=np.float32)
    out[:, 0] = float(observation.cpu_used[powered].sum()) / cpu_cap if cpu_cap > 0 else 0.0
    out[:, 1] = float(observation.mem_used[powered].sum()) / mem_cap if mem_cap > 0 else 0.0
    out[:, 2] = observation.pending_cpu / cpu_cap if cpu_cap > 0 else 0.0
    out[:, 3] = view.utilisation
    out[:, 4] = view.forecast_utilisation
    out[:, 5] = view.forecast_rel_std
    out[:, 6] = (view.replicas - view.min_replicas) / span
    out[:, 7] = view.running / np.maximum(view.replicas, 1)
    np.minimum(np.maximum(out, 0.0, out=out), FEATURE_HIGH, out=out)
    return out


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


def read_sidecar(path: Path) -> dict[str, Any]:
    """The metadata written beside a PPO model; refuses models made for other features."""
    side = path.with_suffix(".json")
    try:
        meta = json.loads(side.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(
            f"missing metadata file {side.name}: {exc.strerror}", source=str(side)
        ) from exc
    except json.JSONDecodeError as exc:
        raise ConfigError(f"not JSON (line {exc.lineno}): {exc.msg}", source=str(side)) from exc
    if not isinstance(meta, dict) or meta.get("features") != FEATURES_ID:
        got = meta.get("features") if isinstance(meta, dict) else None
        raise ConfigError(
            f"features are {got!r}, expected {FEATURES_ID!r}", source=str(side), field="features"
        )
    return meta
