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
          "required": ["kind"], "oneOf": [{"required": ["at_s"]}, {"required": ["window_s"]}],
          "properties": {
            "kind":        {"enum": ["node_failure", "cpu_hog", "network_congestion", "intrusion"],
                            "description": "core.incidents.IncidentKind"},
            "at_s":        {"type": "number", "minimum": 0,
                            "description": "seconds after the run's start"},
            "window_s":    {"type": "array", "items": [{"type": "number", "minimum": 0},
                                                       {"type": ["number", "null"]}],
                            "description": "[start_s, end_s]: each fault's time is drawn
                                            uniformly in it with the run's seed; end_s null: the
                                            run's end less duration_s (600 s without one)"},
            "count":       {"type": "integer", "minimum": 1, "default": 1,
                            "description": "how many such faults; above 1 the target must be
                                            random (distinct targets are drawn)"},
            "target":      {"type": "string", "default": "random",
                            "pattern": "random | machine:<slot> | link:<idx>",
                            "description": "machine targets for node_failure, cpu_hog, intrusion;
                                            link targets for network_congestion; random is drawn
                                            before the run from the seed and the trace alone
                                            (a machine the trace has in the cell then, or an
                                            uplink of its rack): faults.schedule"},
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
failure, high CPU load, network congestion). Each injects two faults of each kind it names, at
times drawn from 900 s on (after a 15-minute burn-in), so they fit a one-hour evaluation window.
"""

from autoinfra.faults.loading import builtin_scenarios, scenario_from_dict
from autoinfra.faults.registry import load_scenario
from autoinfra.faults.schedule import draw_schedule
from autoinfra.faults.spec import DEFAULTS, TARGET_KIND, FaultKind, FaultScenario, FaultSpec

__all__ = [
    "DEFAULTS",
    "TARGET_KIND",
    "FaultKind",
    "FaultScenario",
    "FaultSpec",
    "builtin_scenarios",
    "draw_schedule",
    "load_scenario",
    "scenario_from_dict",
]
