"""The shipped fault scenarios, by versioned id, in one ``core.registry.Registry``.

Each file in ``faults/scenarios/`` is registered as ``fault.<file name>-v1`` with the file name
(``node-failure``, what ``--faults`` takes) as its alias. ``load_scenario`` resolves names here
after checking for a file of that name, so a scenario in a report always carries the id it was
built under (``FaultScenario.registry_id``). A changed built-in file needs a new version.
"""

from __future__ import annotations

from autoinfra.core.registry import Registry
from autoinfra.faults.loading import builtin_scenarios
from autoinfra.faults.spec import FaultScenario

__all__ = ["SCENARIOS", "scenario_id"]


def scenario_id(name: str) -> str:
    """The registry id of the built-in scenario file ``name``."""
    return f"fault.{name}-v1"


def _builtin() -> Registry[FaultScenario]:
    registry: Registry[FaultScenario] = Registry("fault scenario")
    for name in builtin_scenarios():
        registry.register(
            scenario_id(name),
            "autoinfra.faults.loading:builtin_scenario",
            description=f"the shipped scenario faults/scenarios/{name}.yaml",
            aliases=(name,),
            name=name,
        )
    return registry


SCENARIOS = _builtin()
