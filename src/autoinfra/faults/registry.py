"""The shipped fault scenarios, by versioned id, in one ``core.registry.Registry``.

Each file in ``faults/scenarios/`` is registered as ``fault.<file name>-v<N>`` with the file name
(``node-failure``, what ``--faults`` takes) as its alias. ``load_scenario`` resolves names here
after checking for a file of that name, so a scenario in a report always carries the id it was
built under (``FaultScenario.registry_id``). A changed built-in file needs a new version.
"""

from __future__ import annotations

from autoinfra.core.registry import Registry
from autoinfra.faults.loading import builtin_scenarios
from autoinfra.faults.spec import FaultScenario

__all__ = ["SCENARIOS", "VERSIONS", "scenario_id"]


# Built-ins whose file changed since v1, with their version now. v2: two faults of each kind at
# times drawn with the seed from 900 s (``window_s``, ``count``) instead of one at 600 s.
VERSIONS: dict[str, int] = {
    "cpu-hog": 2,
    "intrusion": 2,
    "network-congestion": 2,
    "node-failure": 2,
    "storm": 2,
}


def scenario_id(name: str) -> str:
    """The registry id of the built-in scenario file ``name``."""
    return f"fault.{name}-v{VERSIONS.get(name, 1)}"


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
