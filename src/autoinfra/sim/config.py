"""Settings of one simulated run, as one frozen dataclass with units in the field names.

Every modelling assumption the simulator makes that is not read from the workload lives here, with
the figure or reason behind its default, so a report can print the whole configuration and a
sweep can change any of it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

from autoinfra.core.errors import ConfigError


@dataclass(frozen=True, slots=True, kw_only=True)
class SimConfig:
    """How the simulated cluster behaves. Times in seconds, power in watts, bandwidth in Mbit/s
    (or Gbit/s where named), CPU and memory in the trace's normalised units."""

    # --- time ---
    tick_s: float = 5.0
    """Simulated seconds per step. Per-tick work is vectorised, so shorter ticks cost wall time
    roughly in proportion; 5 s resolves Kubernetes' 10-15 s control loops."""
    until_s: float | None = None
    """Stop the run at this many seconds after the start (None: at the workload's end)."""
    record_every_s: float | None = None
    """Write a row to ``SimResults.ticks`` every this many seconds (None: every tick)."""

    # --- machines ---
    boot_delay_s: float = 180.0
    """OFF -> ON takes this long (BOOTING in between). An assumption, configurable: the Cluster
    Autoscaler FAQ says a new public-cloud node takes about 3-4 min to be ready."""
    auto_evict_failed_after_s: float | None = None
    """If set, tasks stranded on a FAILED machine are resubmitted by the simulator itself this long
    after the failure (the world has no controller of its own otherwise). None in experiments, so
    the system under test has to notice and act; ``autoinfra simulate`` sets 0 (nobody acts)."""

    # --- placement (Borg-like: Verma et al., "Large-scale cluster management at Google with
    # Borg", EuroSys 2015, section 3.2: feasibility checking, then scoring a random sample) ---
    fit: Literal["first", "best"] = "best"
    """``first``: the first feasible machine of the scan; ``best``: of the scored candidates, the
    one left with the least free CPU+memory share (tight packing leaves whole machines free)."""
    candidates: int = 32
    """Feasible machines scored per task, scanned in a random order from a random start (Borg
    scores a random sample rather than the whole cell, for speed). 0: scan every machine in slot
    order (exact first/best fit; fine for small clusters)."""
    scan_limit: int = 1024
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
    reservation_margin: float = 0.15
    """A reservation tends to usage x (1 + margin), capped at the request. Borg publishes no
    margin; 15 % is the margin the Kubernetes Vertical Pod Autoscaler's recommender documents
    on top of its usage estimate."""
    reservation_delay_s: float = 300.0
    """A placed task's reservation stays at its request this long (Borg, section 5.5: "after 300 s,
    to allow for startup transients, it decays slowly towards the actual usage plus a safety
    margin")."""
    reservation_decay_s: float = 600.0
    """Time constant of that decay: each usage step (300 s) closes 1 - exp(-300 / 600), about 39 %,
    of the gap between a reservation and usage x (1 + margin); a rise above it is followed at once
    (Borg: "rapidly increased if the usage exceeds it"). Borg says only "slowly": an assumption."""

    # --- usage and service levels ---
    service_cpu_limit_ratio: float = 1.0
    """A service replica uses at most this times its CPU request (its limit). 1.0 = limit equals
    request, as with Kubernetes' Guaranteed class; demand beyond the replicas' limits is unserved,
    which is what makes the replica count matter."""
    slo_served_share: float = 0.99
    """A service violates its SLO in a tick when the CPU served to it is below this share of its
    demand (see ``Simulator`` docs for what counts as served)."""

    # --- power (figures in ``autoinfra.sim.power``) ---
    power_model: Literal["specpower", "linear"] = "specpower"
    """``specpower``: piecewise-linear 11-point SPECpower_ssj2008 curves; ``linear``: Fan, Weber,
    Barroso (ISCA 2007) P(u) = P_idle + (P_peak - P_idle) u with the same curves' end points."""
    pue: float = 1.1
    """Facility power / IT power. 1.1 is Google's reported fleet-wide trailing PUE; the industry
    survey average (Uptime Institute) is about 1.5-1.6."""

    # --- network ---
    rack_size: int = 40
    """Machines per rack (consecutive slots), each rack under one top-of-rack switch."""
    uplinks_per_rack: int = 2
    """ToR-to-spine links per rack; a rack splits its traffic over them by weights (equal at
    start)."""
    link_capacity_gbps: float = 10.0
    """Capacity of each uplink (10 GbE uplinks are a common ToR configuration; an assumption)."""
    egress_mbps_per_cpu: float = 1000.0
    """Traffic a task sends per unit of CPU it is served: 1 Gbit/s for a fully busy largest machine
    of the cell (normalised CPU 1.0). An assumption, stated: the trace has no network data."""

    def __post_init__(self) -> None:
        checks: list[tuple[str, bool, str]] = [
            ("tick_s", self.tick_s > 0, "a positive number of seconds"),
            ("boot_delay_s", self.boot_delay_s >= 0, "seconds >= 0"),
            ("fit", self.fit in ("first", "best"), "'first' or 'best'"),
            ("candidates", self.candidates >= 0, "an integer >= 0 (0 = scan every machine)"),
            ("scan_limit", self.scan_limit >= 1, "an integer >= 1"),
            ("pue", self.pue >= 1.0, "a PUE >= 1.0"),
            ("power_model", self.power_model in ("specpower", "linear"), "'specpower' or 'linear'"),
            ("rack_size", self.rack_size >= 1, "an integer >= 1"),
            ("uplinks_per_rack", self.uplinks_per_rack >= 1, "an integer >= 1"),
            ("link_capacity_gbps", self.link_capacity_gbps > 0, "a positive bandwidth"),
            ("egress_mbps_per_cpu", self.egress_mbps_per_cpu >= 0, "a bandwidth >= 0"),
            ("service_cpu_limit_ratio", self.service_cpu_limit_ratio > 0, "a ratio above 0"),
            ("slo_served_share", 0 < self.slo_served_share <= 1, "a share in (0, 1]"),
            (
                "placement",
                self.placement in ("requests", "reservations"),
                "'requests' or 'reservations'",
            ),
            ("reclaim", self.reclaim in ("cpu", "cpu+memory"), "'cpu' or 'cpu+memory'"),
            ("reservation_margin", self.reservation_margin >= 0, "a margin >= 0"),
            ("reservation_delay_s", self.reservation_delay_s >= 0, "seconds >= 0"),
            ("reservation_decay_s", self.reservation_decay_s > 0, "a positive number of seconds"),
        ]
        if self.until_s is not None:
            checks.append(("until_s", self.until_s >= 0, "seconds >= 0 or None"))
        if self.record_every_s is not None:
            checks.append(("record_every_s", self.record_every_s > 0, "seconds > 0 or None"))
        if self.auto_evict_failed_after_s is not None:
            checks.append(
                ("auto_evict_failed_after_s", self.auto_evict_failed_after_s >= 0, "seconds >= 0")
            )
        for name, ok, expected in checks:
            if not ok:
                raise ConfigError(
                    f"expected {expected}, got {getattr(self, name)!r}",
                    source="SimConfig",
                    field=name,
                )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
