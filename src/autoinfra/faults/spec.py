"""Faults as data: what a scenario file says, after validation.

A ``FaultSpec`` is one fault to inject (its kind, when, where, for how long, how strong); a
``FaultScenario`` is a named list of them with the file it came from. Both are frozen so a scenario
can be shared by every run of an experiment grid. How a fault acts on the world is the simulator's
business (``autoinfra.sim``); this module only says what was asked for.

Per-kind defaults live here (``DEFAULTS``) so that a scenario file may leave out a field and every
reader of the spec sees the same resolved value.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from autoinfra.core.incidents import IncidentKind

# The fault kinds are the incident kinds (``core.incidents``): faults, findings and metrics share
# one vocabulary. ``FaultKind`` stays as the name this package has always used.
FaultKind = IncidentKind


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
    """One fault to inject, or ``count`` of them at times drawn in ``window_s``: one entry of a
    scenario file (``Spec``: a spec file's schema, not tunables, which are named ``...Settings``).

    ``target`` is ``"random"`` (drawn with the run's seed alone, before the run starts, among the
    machines the trace has in the cell at the fault's time or the uplinks of their racks; see
    ``faults.schedule``), ``"machine:<slot>"`` or ``"link:<idx>"``. ``duration_s`` None means the
    fault lasts until someone mitigates it (a node failure stays failed); a number makes it clear
    by itself. With ``window_s = (start_s, end_s)`` the injection times are drawn uniformly in it
    with the run's seed; ``end_s`` None means the run's end less the time the fault needs to play
    out (``faults.schedule.hold_s``), and ``at_s`` is then the window's start.
    """

    kind: FaultKind
    at_s: float
    target: str = "random"
    duration_s: float | None = None
    cpu_share: float = 0.0  # cpu_hog, intrusion: extra CPU demand, share of the machine's capacity
    egress_mbps: float = 0.0  # intrusion: unusual egress, Mbit/s
    load: float = 0.0  # network_congestion: background load, share of the link's capacity
    count: int = 1  # how many faults of this kind and strength
    window_s: tuple[float, float | None] | None = None  # draw each one's time in it; None: at_s

    @property
    def drawn_time(self) -> bool:
        """True when the injection times are drawn in ``window_s`` rather than fixed."""
        return self.window_s is not None

    def describe(self) -> str:
        """One phrase for reports: what, when, where, for how long."""
        dur = "until mitigated" if self.duration_s is None else f"for {self.duration_s:.0f} s"
        many = f"{self.count} x " if self.count != 1 else ""
        if self.window_s is None:
            when = f"at {self.at_s:.0f} s"
        else:
            lo, hi = self.window_s
            end = "the run's end" if hi is None else f"{hi:.0f} s"
            when = f"at seeded random times in [{lo:.0f} s, {end}]"
        return f"{many}{self.kind} {when} on {self.target}, {dur}"

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
        if self.count != 1:
            out["count"] = self.count
        if self.window_s is not None:
            del out["at_s"]
            out["window_s"] = list(self.window_s)
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
    registry_id: str = ""  # ``fault.<name>-v<N>`` when built by ``faults.registry.SCENARIOS``

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "faults": [f.to_dict() for f in self.faults],
        }
