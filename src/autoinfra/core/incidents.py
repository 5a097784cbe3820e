"""The kinds of incident, one vocabulary for faults, findings and metrics.

A fault scenario injects a ``node_failure``; a detector that notices it reports a finding of the
same kind; the simulator matches the two and the metrics report recovery under that name. Before
this enum the three spoke different words for the same thing (a ``machine_down`` finding about a
``node_failure`` fault, ``link_congested`` about ``network_congestion``), so a kind-aware match
could never succeed for them. Members are ``StrEnum`` so they compare equal to, hash like and
serialise as their plain values: a scenario file, ``summary.json`` and an audit record keep
showing ``"node_failure"``.

The names are the faults' (the cause) rather than the symptoms a detector sees, because the
scenario files and the study's outputs already used them.
"""

from __future__ import annotations

import enum


class IncidentKind(enum.StrEnum):
    """Something wrong in the cluster now, as injected, detected and measured."""

    NODE_FAILURE = "node_failure"  # the machine crashed (monitoring: it stopped reporting)
    CPU_HOG = "cpu_hog"  # a process no task accounts for eats the machine's CPU
    NETWORK_CONGESTION = "network_congestion"  # a rack uplink carries more than its capacity
    INTRUSION = "intrusion"  # hidden CPU use plus unusual egress on a machine


# the set, for ``kind in INCIDENT_KINDS`` filters of findings (forecasts are not incidents)
INCIDENT_KINDS: frozenset[str] = frozenset(IncidentKind)

# Words older configurations and alert rules used for two of the kinds; readers that take a kind
# from outside (alert webhooks) map them with :func:`incident_kind`.
LEGACY_NAMES: dict[str, IncidentKind] = {
    "machine_down": IncidentKind.NODE_FAILURE,
    "link_congested": IncidentKind.NETWORK_CONGESTION,
}


def incident_kind(name: str) -> IncidentKind | None:
    """The kind ``name`` names (a current value or a legacy word), None if it is no incident."""
    if name in INCIDENT_KINDS:
        return IncidentKind(name)
    return LEGACY_NAMES.get(name)
