"""The shipped fault scenarios, by versioned id, in one ``core.registry.Registry``.

Each file in ``faults/scenarios/`` is registered as ``fault.<file name>-v<N>`` with the file name
(``node-failure``, what ``--faults`` takes) as its alias. ``load_scenario`` resolves names here
after checking for a file of that name, so a scenario in a report always carries the id it was
built under (``FaultScenario.registry_id``). A changed built-in file needs a new version.
"""

from __future__ import annotations

from pathlib import Path

from autoinfra.core.documents import echo, load_document
from autoinfra.core.errors import ConfigError
from autoinfra.core.registry import Registry
from autoinfra.faults.loading import builtin_scenarios, scenario_from_dict
from autoinfra.faults.spec import FaultScenario

__all__ = ["SCENARIOS", "VERSIONS", "load_scenario", "scenario_id"]


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


def load_scenario(path_or_name: str | Path) -> FaultScenario:
    """Load a scenario from a YAML/JSON file, or a registered one by id or name.

    A path that exists wins over a built-in of the same name; built-ins are registered in
    ``faults.registry.SCENARIOS`` as ``fault.<name>-v1`` with their file name as alias.
    """
    path = Path(path_or_name)
    if path.is_file():
        if path.suffix.lower() not in {".yaml", ".yml", ".json"}:
            raise ConfigError(
                f"unsupported scenario format {path.suffix.lower()!r}; expected .yaml, .yml or "
                ".json",
                source=str(path),
            )
        return scenario_from_dict(load_document(path), source=str(path), default_name=path.stem)
    name = str(path_or_name)
    if name in SCENARIOS:
        return SCENARIOS.make(name)
    near = SCENARIOS.near(name)
    raise ConfigError(
        f"no scenario file {echo(name)} and no built-in of that name"
        + (f" (did you mean {', '.join(near)}?)" if near else "")
        + f"; built-ins are {', '.join(builtin_scenarios())}",
        source=echo(name)[1:-1],
    )
