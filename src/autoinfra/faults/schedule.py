"""A scenario made concrete for one run: every fault's time and target, drawn from the seed alone.

The study compares systems on the same faults. If a fault's target were drawn when it strikes,
among the machines that are ON at that moment, each system would see a different fault: that set
is exactly what the systems change (the Cluster Autoscaler and the energy agent power machines
off). So the whole schedule is drawn before the run starts, from the run's seed, the scenario and
the trace alone, and every system of a seed meets the same fault on the same machine at the same
time (``tests/faults/test_schedule.py`` asserts it across the systems and scenarios).

What is drawn, in this order (one generator, so the order is part of the contract):

1. times: a fault with ``window_s`` gets ``count`` times uniform in the window, rounded to whole
   seconds; a fault with ``at_s`` gets ``count`` copies of that time;
2. targets, in time order: ``random`` becomes a machine the *trace* has in the cell at that time
   (never one a system powered off or on: the trace is the same for all), or an uplink of a rack
   holding such a machine; machine faults go to distinct machines while there are enough (then
   repeats), congestion to uplinks of distinct racks (then to an uplink already drawn, never to
   a congested rack's other uplink: rerouting to it is the remedy).

A drawn machine may be off, drained or failed under some system when its fault arrives. The
fault still lands on that machine (the simulator records what it found there): a node failure
or a hog of a machine that is not running is a no-op recorded as ``no_effect`` and left out of
the recovery figures, so a system gains nothing and loses nothing by what it did to that machine
except what the world shows.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace

import numpy as np
import numpy.typing as npt

from autoinfra.core.incidents import IncidentKind
from autoinfra.faults.spec import FaultScenario, FaultSpec

__all__ = ["OPEN_ENDED_HOLD_S", "draw_schedule", "draw_times", "hold_s"]

# How long before the run's end the last fault of an open window may start when it has no
# duration: the slowest baseline must get a chance to act on it. Kubernetes evicts the pods of a
# dead node after the 40 s node-monitor grace period plus the 300 s tolerationSeconds of the
# unreachable taint (policies/kubernetes/node_lifecycle.py), and rescheduling follows; 600 s
# covers both with room for the pods to start again.
OPEN_ENDED_HOLD_S = 600.0

Slots = npt.NDArray[np.int64]


def hold_s(spec: FaultSpec) -> float:
    """Time a fault needs before the run's end: its duration, or ``OPEN_ENDED_HOLD_S``."""
    return spec.duration_s if spec.duration_s is not None else OPEN_ENDED_HOLD_S


def draw_schedule(
    scenario: FaultScenario,
    rng: np.random.Generator,
    *,
    run_end_s: float,
    machines_at: Callable[[float], Slots],
    link_rack: npt.NDArray[np.integer],
    machine_rack: npt.NDArray[np.integer],
    granularity_s: float = 1.0,
) -> tuple[FaultSpec, ...]:
    """Every fault of ``scenario`` with a fixed time and target, sorted by time.

    ``machines_at(t)`` gives the slots the trace has in the cell at ``t`` (system-independent);
    ``link_rack`` and ``machine_rack`` say which rack each uplink serves and each machine is in.
    Drawn times are rounded up to a multiple of ``granularity_s`` (the simulator's tick: a fault
    strikes on the first tick at or after its time, so the schedule says when it really does).
    The returned specs have ``count == 1`` and no window.
    """
    used_machines: set[int] = set()
    used_links: set[int] = set()
    out: list[FaultSpec] = []
    for spec in draw_times(scenario, rng, run_end_s=run_end_s, granularity_s=granularity_s):
        t, target = spec.at_s, spec.target
        if target == "random":
            target = _draw_target(
                spec.kind, t, rng, machines_at, link_rack, machine_rack, used_machines, used_links
            )
        elif spec.kind == IncidentKind.NETWORK_CONGESTION:
            used_links.add(int(target.split(":", 1)[1]))
        else:
            used_machines.add(int(target.split(":", 1)[1]))
        out.append(replace(spec, target=target))
    return tuple(out)


def draw_times(
    scenario: FaultScenario,
    rng: np.random.Generator,
    *,
    run_end_s: float,
    granularity_s: float = 1.0,
) -> tuple[FaultSpec, ...]:
    """Step 1 alone: every fault with its own time (``count`` 1, no window), sorted by time;
    targets are left as the scenario says. The live runner uses it; each backend then fixes the
    targets from the seed and its own layout (``backends.local.targets``)."""
    timed: list[tuple[float, int, int, FaultSpec]] = []
    for i, spec in enumerate(scenario.faults):
        for k, t in enumerate(_times(spec, rng, run_end_s, granularity_s)):
            timed.append((t, i, k, spec))
    timed.sort(key=lambda item: item[:3])
    return tuple(replace(spec, at_s=t, count=1, window_s=None) for t, _i, _k, spec in timed)


def _times(
    spec: FaultSpec, rng: np.random.Generator, run_end_s: float, granularity_s: float
) -> list[float]:
    if spec.window_s is None:
        return [spec.at_s] * spec.count
    lo, hi = spec.window_s
    if hi is None:
        # a run too short for the hold gets its faults at the window's start, not before it
        hi = max(lo, run_end_s - hold_s(spec))
    g = granularity_s if granularity_s > 0 else 1.0
    # on the tick grid: a schedule a person reads in a report; ties keep the file's order
    return [float(math.ceil(t / g - 1e-9) * g) for t in rng.uniform(lo, hi, size=spec.count)]


def _draw_target(
    kind: IncidentKind,
    t: float,
    rng: np.random.Generator,
    machines_at: Callable[[float], Slots],
    link_rack: npt.NDArray[np.integer],
    machine_rack: npt.NDArray[np.integer],
    used_machines: set[int],
    used_links: set[int],
) -> str:
    present = np.asarray(machines_at(t), dtype=np.int64)
    if kind == IncidentKind.NETWORK_CONGESTION:
        racks = np.unique(np.asarray(machine_rack)[present]) if present.size else present
        lr = np.asarray(link_rack)
        pool = np.flatnonzero(np.isin(lr, racks))
        if pool.size == 0:  # no machine in the cell: any link, the fault then touches nothing
            pool = np.arange(len(lr))
        # one congested uplink per rack: with both uplinks of a rack congested at once the
        # remedy (moving the rack's traffic to its other uplink) would not exist, so when the
        # racks run out a further congestion lands on an uplink already drawn (loads add up)
        used = np.fromiter(sorted(used_links), dtype=np.int64, count=len(used_links))
        other_racks = pool[~np.isin(lr[pool], lr[used])]
        link = _pick(
            other_racks if other_racks.size else used if used.size else pool, used_links, rng
        )
        return "none" if link < 0 else f"link:{link}"
    machine = _pick(present, used_machines, rng)
    return "none" if machine < 0 else f"machine:{machine}"


def _pick(pool: Slots, used: set[int], rng: np.random.Generator) -> int:
    if pool.size == 0:
        return -1
    fresh = pool[~np.isin(pool, np.fromiter(used, dtype=np.int64, count=len(used)))]
    choice = int(rng.choice(fresh if fresh.size else pool))
    used.add(choice)
    return choice
