"""The simulator as a live backend: paced on the wall clock, N times real time, like a real cluster.

``SimClusterBackend`` wraps an unchanged ``autoinfra.sim.Simulator``. The simulator is its own
reader, and its ``writer`` (the ``Mutations`` it owns) is the writer; the adapter adds what a live
run needs:

- **pacing**: ``advance()`` steps the simulator until its time has caught up with ``speed`` x the
  wall seconds since ``start()`` (``speed=None``: one tick per call, as fast as the caller calls,
  which the conformance suite and tests use). Steps happen only inside ``advance`` on the caller's
  thread, so the runtime and the simulator never race.
- **faults**: the scenario is the simulator's own (it injects each fault at its ``at_s``);
  ``inject`` applies one more now, through the simulator's fault book, and the timeline rows are
  the simulator's (``fault_rows``).
- the clock is the simulator's ``SimClock``: every time in the report is in simulated seconds,
  which are wall seconds x ``speed``.

The workload is a synthetic cell (``traces.synthetic.generate_cell``) of ``machines`` machines, or
one given by the caller.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from autoinfra.core.clock import Clock
from autoinfra.core.cluster import FAULT_COLUMNS, ClusterReader, ClusterWriter, FaultLike
from autoinfra.core.errors import ConfigError
from autoinfra.faults.registry import load_scenario
from autoinfra.faults.spec import FaultScenario, FaultSpec
from autoinfra.sim import SimSettings, Simulator
from autoinfra.traces.tables import Workload

__all__ = ["OPTIONS", "SimClusterBackend", "build"]

OPTIONS: dict[str, Any] = {
    "speed": 1.0,  # simulated seconds per wall second; None: one tick per advance()
    "machines": 40,  # size of the synthetic cell
    "hours": 2.0,  # length of the synthetic cell's workload
    "tick_s": 5.0,
    "dry_run": False,  # the simulator has no server-side dry run; the runner's dry run covers it
}


class SimClusterBackend:
    """``core.cluster.Backend`` over a simulator."""

    name = "sim"

    def __init__(
        self,
        sim: Simulator,
        *,
        speed: float | None = 1.0,
        wall: Callable[[], float] = time.monotonic,
    ) -> None:
        if speed is not None and not (speed > 0 and math.isfinite(speed)):
            raise ConfigError(f"expected a speed > 0, got {speed!r}", field="speed")
        self.sim = sim
        self.speed = speed
        self._wall = wall
        self._t0: float | None = None

    # -- the seam --------------------------------------------------------------------------------
    @property
    def clock(self) -> Clock:
        return self.sim.clock

    @property
    def reader(self) -> ClusterReader:
        return self.sim

    @property
    def writer(self) -> ClusterWriter:
        return self.sim.writer

    @property
    def done(self) -> bool:
        return bool(self.sim.done)

    @property
    def tick_s(self) -> float:
        return float(self.sim.config.tick_s)

    @property
    def workload(self) -> Workload:
        return self.sim.workload  # the Kubernetes baseline reads services' max replicas here

    def start(self) -> None:
        if self._t0 is None:
            self._t0 = self._wall() - self.sim.now_s / (self.speed or 1.0)

    def stop(self) -> None:
        self._t0 = None  # nothing runs outside the caller's thread

    def advance(self) -> None:
        if self.sim.done:
            return
        if self.speed is None or self._t0 is None:
            self.sim.step()
            return
        target_s = (self._wall() - self._t0) * self.speed
        tick_s = self.sim.config.tick_s
        while not self.sim.done and self.sim.now_s + tick_s <= target_s + 1e-9:
            self.sim.step()

    def inject(self, fault: FaultLike) -> str:
        spec = fault if isinstance(fault, FaultSpec) else _as_spec(fault)
        return self.sim.inject(spec)

    def record_detection(self, target: str, by: str, kind: str | None = None) -> bool:
        return self.sim.record_detection(target, by=by, kind=kind)

    def fault_rows(self) -> Sequence[dict[str, Any]]:
        # the columns every backend writes (the simulator's frame has a few more of its own)
        frame = self.sim.fault_frame()[list(FAULT_COLUMNS)]
        return [{str(k): v for k, v in row.items()} for row in frame.to_dict("records")]


def _as_spec(fault: FaultLike) -> FaultSpec:
    from autoinfra.faults.spec import DEFAULTS, FaultKind

    kind = FaultKind(str(fault.kind))
    strengths = {k: float(getattr(fault, k, v)) for k, v in DEFAULTS[kind].items()}
    return FaultSpec(
        kind=kind,
        at_s=float(fault.at_s),
        target=fault.target,
        duration_s=fault.duration_s,
        cpu_share=strengths.get("cpu_share", 0.0),
        egress_mbps=strengths.get("egress_mbps", 0.0),
        load=strengths.get("load", 0.0),
    )


def build(
    *, seed: int, scenario: FaultScenario | str | None, options: Mapping[str, Any]
) -> SimClusterBackend:
    """The ``sim`` backend: a synthetic cell of ``options['machines']`` replayed at ``speed``."""
    unknown = sorted(set(options) - set(OPTIONS) - {"workload", "until_s"})
    if unknown:
        raise ConfigError(
            f"unknown sim backend option(s) {unknown}; known: {sorted(OPTIONS)}",
            field=f"backend_options.{unknown[0]}",
        )
    o = OPTIONS | dict(options)
    workload = o.get("workload")
    if workload is None:
        from autoinfra.traces.synthetic import generate_cell

        workload = generate_cell(int(o["machines"]), float(o["hours"]), seed=seed)
    if isinstance(scenario, str):
        scenario = load_scenario(scenario)
    config = SimSettings(tick_s=float(o["tick_s"]), until_s=o.get("until_s"))
    sim = Simulator(workload, config=config, scenario=scenario, seed=seed)
    speed = o["speed"]
    return SimClusterBackend(sim, speed=None if speed is None else float(speed))
