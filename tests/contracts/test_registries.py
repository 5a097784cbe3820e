"""Every registered id, in every registry of the one ``core.registry.Registry`` type, resolves
and builds, carries its id once built, and matches the one id pattern.

Policies are also built (and exercised) by ``test_policies.py``, which trains a tiny PPO model for
``scaling.ppo-v1``; here, entries that need a file are checked to say so.
"""

from __future__ import annotations

from typing import Any

import pytest

from autoinfra.agents.registry import SYSTEMS
from autoinfra.agents.system import System
from autoinfra.core.errors import ConfigError
from autoinfra.core.registry import ID_PATTERN, Registry
from autoinfra.experiments.systems import ensure_registered
from autoinfra.faults.registry import SCENARIOS
from autoinfra.faults.spec import FaultScenario
from autoinfra.learning.registry import ENVIRONMENTS
from autoinfra.policies.registry import POLICIES
from tests.learning.factories import small_workload

ensure_registered()  # the baselines, registered by the experiments layer
REGISTRIES: dict[str, Registry[Any]] = {
    "system": SYSTEMS,
    "policy": POLICIES,
    "scenario": SCENARIOS,
    "environment": ENVIRONMENTS,
}
ALL = [(kind, i) for kind, reg in REGISTRIES.items() for i in reg.ids()]


def test_every_registry_holds_what_the_project_ships() -> None:
    assert {
        "system.agents-v1",
        "system.kubernetes-defaults-v1",
        "system.human-v1",
        "system.noop-v1",
    } <= set(SYSTEMS.ids())
    assert {"scaling.qtable-v1", "scaling.ppo-v1", "scaling.target-v1"} <= set(POLICIES.ids())
    assert "kubernetes.defaults-v1" in POLICIES
    assert {"fault.none-v1", "fault.storm-v2", "fault.node-failure-v2"} <= set(SCENARIOS.ids())
    assert {"env.cluster-scaling-v1", "env.sim-scaling-v1"} <= set(ENVIRONMENTS.ids())
    # what people type stays working, as aliases of one id each
    for typed in ("agents", "agents-v1", "kubernetes-defaults", "human", "noop"):
        assert SYSTEMS.resolve(typed).startswith("system.")
    assert SCENARIOS.resolve("cpu-hog") == "fault.cpu-hog-v2"


@pytest.mark.parametrize(("kind", "entry_id"), ALL)
def test_every_registered_id_resolves_and_builds(kind: str, entry_id: str) -> None:
    registry = REGISTRIES[kind]
    assert ID_PATTERN.match(entry_id), entry_id
    spec = registry.spec(entry_id)
    assert spec.id == entry_id and registry.resolve(entry_id) == entry_id
    if kind == "system":
        from autoinfra.sim import SimSettings, Simulator

        sim = Simulator(small_workload(), SimSettings(tick_s=5.0), seed=0)
        built = registry.make(entry_id, sim=sim, seed=0)
        assert isinstance(built, System)
        built.tick()  # built for real: it runs
    elif kind == "environment":
        pytest.importorskip("gymnasium")
        built = registry.make(entry_id, workloads=small_workload())
    elif spec.requires:
        with pytest.raises(ConfigError, match="needs"):
            registry.make(entry_id)
        return
    else:
        built = registry.make(entry_id)
    if kind == "scenario":
        assert isinstance(built, FaultScenario)
    assert built.registry_id == entry_id


def test_aliases_point_at_registered_ids_only() -> None:
    for registry in REGISTRIES.values():
        for alias, target in registry.aliases().items():
            assert target in registry.ids() and not ID_PATTERN.match(alias), alias
