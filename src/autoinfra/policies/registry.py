"""The policies and forecasters, by versioned id, in one ``core.registry.Registry``.

Ids are ``family.name-vN`` (``forecast.holt-v1``, ``healing.rules-v1``): a changed behaviour gets
a new version so reports and stored feedback always say which decider produced them. Entries name
their class (or a constructor such as ``QTablePolicy.default``) as a string and are imported only
when made, so listing the registry never loads scikit-learn or torch.

Each entry has a ``kind``: ``"policy"`` (``decide(observation, findings) -> list[Proposal]``) or
``"detector"`` (``analyze(observation) -> list[Finding]``, e.g. forecasters). ``POLICIES.make(id)``
with no arguments works for every entry except those whose ``requires`` names a file to load
(``scaling.ppo-v1`` needs the model's ``path``); the contract tests rely on that.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from autoinfra.core.registry import EntrySpec, Registry

__all__ = [
    "DETECTOR",
    "POLICIES",
    "POLICY",
    "list_policies",
    "make_policy",
    "policy_spec",
    "register_policy",
]

POLICY = "policy"
DETECTOR = "detector"


def _builtin() -> Registry[Any]:
    r: Registry[Any] = Registry("policy")
    r.register(
        "forecast.holt-v1",
        "autoinfra.policies.forecast:HoltForecaster",
        kind=DETECTOR,
        description="Holt's linear trend per service and cluster-wide, with a residual std",
    )
    r.register(
        "forecast.kalman-v1",
        "autoinfra.policies.kalman:KalmanForecaster",
        kind=DETECTOR,
        description="Kalman filter over a local linear trend; Holt's findings, adaptive gain",
    )
    r.register(
        "healing.rules-v1",
        "autoinfra.policies.healing:HealingPolicy",
        kind=POLICY,
        description="findings to repairs: evict, kill, drain, reroute",
    )
    r.register(
        "security.isolate-v1",
        "autoinfra.policies.healing:SecurityPolicy",
        kind=POLICY,
        description="intrusion findings to isolation",
    )
    r.register(
        "healing.astar-v1",
        "autoinfra.policies.routing:AStarReroutePolicy",
        kind=POLICY,
        description="healing with A*-planned reroutes over rack uplinks, costs from telemetry",
    )
    r.register(
        "consolidation.ffd-v1",
        "autoinfra.policies.consolidation:ConsolidationPolicy",
        kind=POLICY,
        description="first-fit-decreasing packing, power off idle machines with hysteresis",
    )
    r.register(
        "consolidation.genetic-v1",
        "autoinfra.policies.genetic:GeneticConsolidationPolicy",
        kind=POLICY,
        description="consolidation with the drain set chosen by a seeded genetic search",
    )
    r.register(
        "failure.drain-v1",
        "autoinfra.policies.failure:FailureDrainPolicy",
        kind=POLICY,
        description="drain machines a supervised failure predictor puts at risk",
    )
    r.register(
        "scaling.target-v1",
        "autoinfra.policies.scaling.target:TargetTrackingPolicy",
        kind=POLICY,
        description="forecast-driven target tracking of replica utilisation (fallback)",
    )
    r.register(
        "scaling.qtable-v1",
        "autoinfra.policies.scaling.qtable:QTablePolicy.from_artifact",
        kind=POLICY,
        description="tabular Q-learning over replica utilisation and forecast trend",
    )
    r.register(
        "kubernetes.defaults-v1",
        "autoinfra.policies.kubernetes.policy:KubernetesPolicy",
        kind=POLICY,
        description="node lifecycle, HPA and Cluster Autoscaler with documented defaults",
    )
    r.register(
        "scaling.ppo-v1",
        "autoinfra.policies.scaling.ppo:PPOPolicy.load",
        kind=POLICY,
        description="a trained PPO actor over the scaling features (rl extra; needs a model path)",
        requires=("path",),
    )
    return r


POLICIES = _builtin()


def register_policy(
    policy_id: str,
    entry: str | Callable[..., Any],
    *,
    kind: str = POLICY,
    description: str = "",
    replace: bool = False,
) -> None:
    POLICIES.register(policy_id, entry, kind=kind, description=description, replace=replace)


def make_policy(policy_id: str, **overrides: Any) -> Any:
    return POLICIES.make(policy_id, **overrides)


def policy_spec(policy_id: str) -> EntrySpec:
    return POLICIES.spec(policy_id)


def list_policies(kind: str | None = None) -> list[str]:
    return POLICIES.ids(kind)
