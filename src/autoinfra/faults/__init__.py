"""Fault scenarios as data: which faults to inject into a simulated run, when and where.

A scenario is a YAML or JSON file (or a built-in name) validated into a ``FaultScenario``; the
simulator (``autoinfra.sim``) turns each ``FaultSpec`` into an effect on the world and keeps its
timeline (injected, detected, mitigated, recovered). Faults are data so an experiment grid can
name them, and so a scenario can be read, diffed and reviewed like any other input.

Scenario schema (JSON-schema-like)::

    {
      "type": "object", "additionalProperties": false,
      "properties": {
        "name":        {"type": "string", "default": "<file stem>"},
        "description": {"type": "string", "default": ""},
        "faults": {"type": "array", "default": [], "items": {
          "type": "object", "additionalProperties": false,
          "required": ["kind", "at_s"],
          "properties": {
            "kind":        {"enum": ["node_failure", "cpu_hog", "network_congestion", "intrusion"]},
            "at_s":        {"type": "number", "minimum": 0,
                            "description": "seconds after the run's start"},
            "target":      {"type": "string", "default": "random",
                            "pattern": "random | machine:<slot> | link:<idx>",
                            "description": "machine targets for node_failure, cpu_hog, intrusion;
                                            link targets for network_congestion; random is drawn
                                            with the run's seed among eligible targets (machines
                                            ON with tasks, links carrying traffic) when injected"},
            "duration_s":  {"type": ["number", "null"], "exclusiveMinimum": 0, "default": null,
                            "description": "null: lasts until mitigated; a number: clears itself"},
            "cpu_share":   {"type": "number", "exclusiveMinimum": 0,
                            "description": "cpu_hog (default 1.0), intrusion (default 0.25):
                                            extra CPU demand as a share of the machine's capacity"},
            "egress_mbps": {"type": "number", "minimum": 0,
                            "description": "intrusion only (default 800): unusual egress, Mbit/s"},
            "load":        {"type": "number", "exclusiveMinimum": 0,
                            "description": "network_congestion only (default 1.5): background
                                            load as a share of the link's capacity"}
          }}}
      }
    }

A strength field given for a kind it does not apply to is an error, as is any unknown key. Every
number is also bounded above (times and durations at most 31 days, ``cpu_share`` at most 16,
``load`` at most 100, ``egress_mbps`` at most 1,000,000, target indices below 1,000,000, at most
10,000 faults; NaN and infinities refused); :mod:`autoinfra.faults.loading` says why.
Built-ins (``builtin_scenarios()``): ``none``, ``node-failure``, ``cpu-hog``,
``network-congestion``, ``intrusion`` and ``storm`` (the paper's three faults together: node
failure, high CPU load, network congestion). Their first fault is at 600 s so they fit a one-hour
evaluation window.
"""

from autoinfra.faults.loading import builtin_scenarios, scenario_from_dict
from autoinfra.faults.registry import load_scenario
from autoinfra.faults.spec import DEFAULTS, TARGET_KIND, FaultKind, FaultScenario, FaultSpec

__all__ = [
    "DEFAULTS",
    "TARGET_KIND",
    "FaultKind",
    "FaultScenario",
    "FaultSpec",
    "builtin_scenarios",
    "load_scenario",
    "scenario_from_dict",
]
