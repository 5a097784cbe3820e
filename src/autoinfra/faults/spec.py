"""Faults as data: what a scenario file says, after validation.

A ``FaultSpec`` is one fault to inject (its kind, when, where, for how long, how strong); a
``FaultScenario`` is a named list of them with the file it came from. Both are frozen so a scenario
can be shared by every run of an experiment grid. How a fault acts on the world is the simulator's
business (``autoinfra.sim``); this module only says what was asked for.

Per-kind defaults live here (``DEFAULTS``) so that a scenario file may leave out a field and every
reader of the spec sees the same resolved value.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any


class FaultKind(enum.StrEnum):
    """The fault kinds the simulator knows (the paper's three plus an intrusion)."""

    NODE_FAILURE = "node_failure"  # the machine crashes; its tasks are stranded
    CPU_HOG = "cpu_hog"  # a process no task accounts for eats CPU on a machine
    NETWORK_CONGESTION = "network_congestion"  # background load on a rack uplink
    INTRUSION = "intrusion"  # hidden CPU use plus unusual egress on a machine


# What a target names, per kind: machines for the first three kinds, links for congestion.
TARGET_KIND: dict[FaultKind, str] = {
    FaultKind.NODE_FAILURE: "machine",
    FaultKind.CPU_HOG: "machine",
    FaultKind.NETWORK_CONGESTION: "link",
    FaultKind.INTRUSION: "machine",
}

# The strength fields each kind takes, with the value used when a scenario leaves them out.
# cpu_hog: 1.0 = the hog wants a whole machine's CPU (LitmusChaos node-cpu-hog loads cores at
# 100 %).
# intrusion: a quarter of the machine (a miner that stays below obvious alarms is an assumption,
# stated here) and 800 Mbit/s of unusual egress (the example in docs/architecture.md).
# network_congestion: background load of 1.5 x link capacity, so the link is congested whatever
# the rack sends, and moving the rack's traffic to its other uplink is the remedy.
DEFAULTS: dict[FaultKind, dict[str, float]] = {
    FaultKind.NODE_FAILURE: {},
    FaultKind.CPU_HOG: {"cpu_share": 1.0},
    FaultKind.NETWORK_CONGESTION: {"load": 1.5},
    FaultKind.INTRUSION: {"cpu_share": 0.25, "egress_mbps": 800.0},
}

STRENGTH_FIELDS: tuple[str, ...] = ("cpu_share", "egress_mbps", "load")


@dataclass(frozen=True, slots=True)
class FaultSpec:
    """One fault to inject: one entry of a scenario file (``Spec``: a spec file's schema, not
    tunables, which are named ``...Settings``).

    ``target`` is ``"random"`` (drawn with the run's seed among eligible targets at injection
    time), ``"machine:<slot>"`` or ``"link:<idx>"``. ``duration_s`` None means the fault lasts until
    someone mitigates it (a node failure stays failed); a number makes it clear by itself.
    """

    kind: FaultKind
    at_s: float
    target: str = "random"
    duration_s: float | None = None
    cpu_share: float = 0.0  # cpu_hog, intrusion: extra CPU demand, share of the machine's capacity
    egress_mbps: float = 0.0  # intrusion: unusual egress, Mbit/s
    load: float = 0.0  # network_congestion: background load, share of the link's capacity

    @property
    def target_index(self) -> int | None:
        """The slot or link index of an explicit target, None for ``random``."""
        if self.target == "random":
            return None
        return int(self.target.split(":", 1)[1])

    def to_dict(self) -> dict[str, Any]:
        """The fields a scenario file would carry (only those that apply to the kind)."""
        out: dict[str, Any] = {
            "kind": str(self.kind),
            "at_s": self.at_s,
            "target": self.target,
            "duration_s": self.duration_s,
        }
        for name in DEFAULTS[self.kind]:
            out[name] = getattr(self, name)
        return out


@dataclass(frozen=True, slots=True)
class FaultScenario:
    """A named list of faults, sorted by injection time, and the file (or built-in) it came from."""

    name: str
    faults: tuple[FaultSpec, ...]
    source: str
    description: str = ""
    registry_id: str = ""  # ``fault.<name>-v1`` when built by ``faults.registry.SCENARIOS``

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "faults": [f.to_dict() for f in self.faults],
        }
