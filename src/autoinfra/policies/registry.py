"""Policies and forecasters by versioned id, with lazy ``"module:Class"`` entries.

Ids are ``family.name-vN`` (``forecast.holt-v1``, ``healing.rules-v1``): a changed behaviour gets
a new version so reports and stored feedback always say which decider produced them. Entries name
their class (or a constructor such as ``QTablePolicy.default``) as a string and are imported only
when made, so listing the registry never loads scikit-learn or torch.

Each entry has a ``kind``: ``"policy"`` (``decide(observation, findings) -> list[Proposal]``) or
``"detector"`` (``analyze(observation) -> list[Finding]``, e.g. forecasters). ``make_policy(id)``
with no arguments must work for every registered entry: the contract tests rely on it.

``PolicyRegistry`` is an ordinary class; the module functions use one shared instance so plugins
have one place to register into. It holds names and entry points only, never run state.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from autoinfra.core.errors import ConfigError

__all__ = [
    "PolicyRegistry",
    "PolicySpec",
    "list_policies",
    "make_policy",
    "policy_spec",
    "register_policy",
    "resolve_entry",
]

Kind = Literal["policy", "detector"]
_ID = re.compile(r"^[a-z0-9_]+\.[a-z0-9_.-]+-v[0-9]+$")


def resolve_entry(entry: str | Callable[..., Any], *, what: str) -> Callable[..., Any]:
    """Import ``"package.module:attr[.attr]"`` (or return a callable as is), naming it in errors."""
    if callable(entry):
        return entry
    module_name, sep, path = entry.partition(":")
    if not sep or not module_name or not path:
        raise ConfigError(f"{what}: entry {entry!r} is not of the form 'package.module:attr'")
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"{what}: cannot import {module_name!r} ({exc})") from exc
    for attr in path.split("."):
        try:
            target = getattr(target, attr)
        except AttributeError as exc:
            raise ConfigError(f"{what}: {entry!r} has no attribute {attr!r}") from exc
    if not callable(target):
        raise ConfigError(f"{what}: {entry!r} is not callable")
    return target


@dataclass(frozen=True, slots=True)
class PolicySpec:
    id: str
    entry: str | Callable[..., Any]
    kind: Kind
    description: str = ""


class PolicyRegistry:
    def __init__(self) -> None:
        self._specs: dict[str, PolicySpec] = {}

    def register(
        self,
        policy_id: str,
        entry: str | Callable[..., Any],
        *,
        kind: Kind = "policy",
        description: str = "",
        replace: bool = False,
    ) -> None:
        if not _ID.match(policy_id):
            raise ConfigError(
                f"policy id {policy_id!r} must look like 'family.name-v1' (lower case, versioned)",
                field="id",
            )
        if kind not in ("policy", "detector"):
            raise ConfigError(f"kind must be 'policy' or 'detector', got {kind!r}", field="kind")
        spec = PolicySpec(policy_id, entry, kind, description)
        old = self._specs.get(policy_id)
        if old is not None and not replace and old.entry != entry:
            raise ConfigError(f"policy {policy_id!r} is already registered as {old.entry!r}")
        self._specs[policy_id] = spec

    def spec(self, policy_id: str) -> PolicySpec:
        spec = self._specs.get(policy_id)
        if spec is None:
            raise ConfigError(
                f"unknown policy {policy_id!r}; registered: {', '.join(self.ids())}", field="policy"
            )
        return spec

    def make(self, policy_id: str, **kwargs: Any) -> Any:
        spec = self.spec(policy_id)
        factory = resolve_entry(spec.entry, what=f"policy {policy_id!r}")
        return factory(**kwargs)

    def ids(self, kind: Kind | None = None) -> list[str]:
        return sorted(i for i, s in self._specs.items() if kind is None or s.kind == kind)


def _builtin() -> PolicyRegistry:
    r = PolicyRegistry()
    r.register(
        "forecast.holt-v1",
        "autoinfra.policies.forecast:HoltForecaster",
        kind="detector",
        description="Holt's linear trend per service and cluster-wide, with a residual std",
    )
    r.register(
        "forecast.kalman-v1",
        "autoinfra.policies.kalman:KalmanForecaster",
        kind="detector",
        description="Kalman filter over a local linear trend; Holt's findings, adaptive gain",
    )
    r.register(
        "healing.rules-v1",
        "autoinfra.policies.healing:HealingPolicy",
        description="findings to repairs: evict, kill, drain, reroute",
    )
    r.register(
        "security.isolate-v1",
        "autoinfra.policies.healing:SecurityPolicy",
        description="intrusion findings to isolation",
    )
    r.register(
        "healing.astar-v1",
        "autoinfra.policies.routing:AStarReroutePolicy",
        description="healing with A*-planned reroutes over rack uplinks, costs from telemetry",
    )
    r.register(
        "consolidation.ffd-v1",
        "autoinfra.policies.consolidation:ConsolidationPolicy",
        description="first-fit-decreasing packing, power off idle machines with hysteresis",
    )
    r.register(
        "consolidation.genetic-v1",
        "autoinfra.policies.genetic:GeneticConsolidationPolicy",
        description="consolidation with the drain set chosen by a seeded genetic search",
    )
    r.register(
        "failure.drain-v1",
        "autoinfra.policies.failure:FailureDrainPolicy",
        description="drain machines a supervised failure predictor puts at risk",
    )
    r.register(
        "scaling.target-v1",
        "autoinfra.policies.scaling:TargetTrackingPolicy",
        description="forecast-driven target tracking of replica utilisation (fallback)",
    )
    # written by other engineers; listed here so the registry knows them without importing them
    r.register(
        "scaling.qtable-v1",
        "autoinfra.policies.qlearning:QTablePolicy.default",
        description="tabular Q-learning over replica utilisation and forecast trend",
    )
    r.register(
        "kubernetes.defaults-v1",
        "autoinfra.policies.kubernetes.policy:KubernetesPolicy",
        description="node lifecycle, HPA and Cluster Autoscaler with documented defaults",
    )
    return r


_REGISTRY = _builtin()


def register_policy(
    policy_id: str,
    entry: str | Callable[..., Any],
    *,
    kind: Kind = "policy",
    description: str = "",
    replace: bool = False,
) -> None:
    _REGISTRY.register(policy_id, entry, kind=kind, description=description, replace=replace)


def make_policy(policy_id: str, **kwargs: Any) -> Any:
    return _REGISTRY.make(policy_id, **kwargs)


def policy_spec(policy_id: str) -> PolicySpec:
    return _REGISTRY.spec(policy_id)


def list_policies(kind: Kind | None = None) -> list[str]:
    return _REGISTRY.ids(kind)
