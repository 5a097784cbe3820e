"""Settings of one simulated run, as one frozen dataclass with units in the field names.

The bounds are declared on the fields and checked by pydantic when the settings are built
(``core.documents.check_fields``): a bad value is a ``ConfigError`` naming the field.

Every modelling assumption the simulator makes that is not read from the workload lives here, with
the figure or reason behind its default, so a report can print the whole configuration and a
sweep can change any of it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Annotated, Any, Literal

from pydantic import Field

from autoinfra.core.documents import check_fields


@dataclass(frozen=True, slots=True, kw_only=True)
class SimSettings:
    """How the simulated cluster behaves. Times in seconds, power in watts, bandwidth in Mbit/s
    (or Gbit/s where named), CPU and memory in the trace's normalised units."""

    # --- time ---
    tick_s: Annotated[float, Field(gt=0)] = 5.0
    """Simulated seconds per step. Per-tick work is vectorised, so shorter ticks cost wall time
    roughly in proportion; 5 s resolves Kubernetes' 10-15 s control loops."""
    until_s: Annotated[float, Field(ge=0)] | None = None
    """Stop the run at this many seconds after the start (None: at the workload's end)."""
    record_every_s: Annotated[float, Field(gt=0)] | None = None
    """Write a row to ``SimResults.ticks`` every this many seconds (None: every tick)."""

    # --- machines ---
    boot_delay_s: Annotated[float, Field(ge=0)] = 180.0
    """OFF -> ON takes this long (BOOTING in between). An assumption, configurable: the Cluster
    Autoscaler FAQ says a new public-cloud node takes about 3-4 min to be ready."""
    auto_evict_failed_after_s: Annotated[float, Field(ge=0)] | None = None
    """If set, tasks stranded on a FAILED machine are resubmitted by the simulator itself this long
    after the failure (the world has no controller of its own otherwise). None in experiments, so
    the system under test has to notice and act; ``autoinfra simulate`` sets 0 (nobody acts)."""

    # --- placement (Borg-like: Verma et al., "Large-scale cluster management at Google with
    # Borg", EuroSys 2015, section 3.2: feasibility checking, then scoring a random sample) ---
    fit: Literal["first", "best"] = "best"
    """``first``: the first feasible machine of the scan; ``best``: of the scored candidates, the
    one left with the least free CPU+memory share (tight packing leaves whole machines free)."""
    candidates: Annotated[int, Field(ge=0)] = 32
    """Feasible machines scored per task, scanned in a random order from a random start (Borg
    scores a random sample rather than the whole cell, for speed). 0: scan every machine in slot
    order (exact first/best fit; fine for small clusters)."""
    scan_limit: Annotated[int, Field(ge=1)] = 1024
    """Machines examined per window of a task's scan: the best machine with room in the first
    window that has one wins; a task preempts only if a whole window had no room for it. A task
    that finds nothing has seen every machine, so "fits nowhere" stays exact. Ignored when
    ``candidates`` is 0 (one window: the whole cell)."""
    preemption: bool = True
    """A task that fits nowhere may evict strictly lower-priority tasks from one machine (lowest
    priority first); the evicted return to the pending queue and their work so far is lost."""
    placement: Literal["requests", "reservations"] = "requests"
    """``requests``: every task is placed against the requests of the tasks already on a machine,
    as Kubernetes' scheduler does. ``reservations``: non-production tasks (priority < 9) are placed
    against those tasks' reservations instead, so they can use resources that are requested but
    not used; production tasks stay placed by requests and never rely on reclaimed resources (Borg:
    Verma et al., EuroSys 2015, section 5.5). The price is contention when usage rises above the
    reservations: CPU throttling (every task on the machine served capacity / demand) and memory
    kills (lowest priority first). A system may switch it with ``Simulator.set_placement``."""
    reclaim: Literal["cpu", "cpu+memory"] = "cpu"
    """What reservations reclaim. Borg reclaims both, but in this simulator a task's memory use
    never moves (``autoinfra.traces.usage``: memory stays at request x ratio), so a memory
    reservation below the request would overcommit memory at no modelled price (no task could
    ever be killed for it). ``cpu``: memory reservations stay at the request, and only CPU, whose
    price (throttling when the usage shape rises) the simulator models, is reclaimed."""
    reservation_margin: Annotated[float, Field(ge=0)] = 0.15
    """A reservation tends to usage x (1 + margin), capped at the request. Borg publishes no
    margin; 15 % is the margin the Kubernetes Vertical Pod Autoscaler's recommender documents
    on top of its usage estimate."""
    reservation_delay_s: Annotated[float, Field(ge=0)] = 300.0
    """A placed task's reservation stays at its request this long (Borg, section 5.5: "after 300 s,
    to allow for startup transients, it decays slowly towards the actual usage plus a safety
    margin")."""
    reservation_decay_s: Annotated[float, Field(gt=0)] = 600.0
    """Time constant of that decay: each usage step (300 s) closes 1 - exp(-300 / 600), about 39 %,
    of the gap between a reservation and usage x (1 + margin); a rise above it is followed at once
    (Borg: "rapidly increased if the usage exceeds it"). Borg says only "slowly": an assumption."""

    # --- usage and service levels ---
    service_cpu_limit_ratio: Annotated[float, Field(gt=0)] = 1.0
    """A service replica uses at most this times its CPU request (its limit). 1.0 = limit equals
    request, as with Kubernetes' Guaranteed class; demand beyond the replicas' limits is unserved,
    which is what makes the replica count matter."""
    slo_served_share: Annotated[float, Field(gt=0, le=1)] = 0.99
    """A service violates its SLO in a tick when the CPU served to it is below this share of its
    demand (see ``Simulator`` docs for what counts as served)."""

    # --- power (figures in ``autoinfra.sim.power``) ---
    power_model: Literal["specpower", "linear"] = "specpower"
    """``specpower``: piecewise-linear 11-point SPECpower_ssj2008 curves; ``linear``: Fan, Weber,
    Barroso (ISCA 2007) P(u) = P_idle + (P_peak - P_idle) u with the same curves' end points."""
    pue: Annotated[float, Field(ge=1)] = 1.1
    """Facility power / IT power. 1.1 is Google's reported fleet-wide trailing PUE; the industry
    survey average (Uptime Institute) is about 1.5-1.6."""

    # --- network ---
    rack_size: Annotated[int, Field(ge=1)] = 40
    """Machines per rack (consecutive slots), each rack under one top-of-rack switch."""
    uplinks_per_rack: Annotated[int, Field(ge=1)] = 2
    """ToR-to-spine links per rack; a rack splits its traffic over them by weights (equal at
    start)."""
    link_capacity_gbps: Annotated[float, Field(gt=0)] = 10.0
    """Capacity of each uplink (10 GbE uplinks are a common ToR configuration; an assumption)."""
    egress_mbps_per_cpu: Annotated[float, Field(ge=0)] = 1000.0
    """Traffic a task sends per unit of CPU it is served: 1 Gbit/s for a fully busy largest machine
    of the cell (normalised CPU 1.0). An assumption, stated: the trace has no network data."""

    def __post_init__(self) -> None:
        check_fields(self)  # the bounds in the annotations above, in pydantic's strict mode

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
