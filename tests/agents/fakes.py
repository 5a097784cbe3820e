"""A small fake world with the simulator's surface (observe, mutators, machine_state, clock).

It lets the agent loop be tested without ``autoinfra.sim``: a handful of machines with fixed
requests, faults switched on by hand, and mutators that change the arrays the way the real
simulator's do (and raise ``SimulationError`` when the real one would). It is deliberately crude:
the integration tests run the same agents on the real simulator.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from autoinfra.core.clock import SimClock
from autoinfra.core.errors import SimulationError
from autoinfra.core.observation import MachineState, Observation


@dataclass
class FakeSim:
    n_machines: int = 8
    n_services: int = 2
    rack_size: int = 4
    tick_s: float = 5.0
    boot_delay_s: float = 30.0
    seed: int = 0
    noise: float = 0.0  # relative spread of per-machine CPU use, redrawn every step
    churn: bool = False  # tasks come and go by one per machine per step at random
    clock: SimClock = field(default_factory=SimClock)
    events: list[tuple[float, str, str, int]] = field(default_factory=list)
    detections: list[tuple[float, str, str, str | None]] = field(default_factory=list)

    def __post_init__(self) -> None:
        n = self.n_machines
        self.rng = np.random.default_rng(self.seed)
        self.state = np.full(n, MachineState.ON, dtype=np.int8)
        self.schedulable = np.ones(n, dtype=bool)
        self.cpu_capacity = np.full(n, 0.5, dtype=np.float32)
        self.mem_capacity = np.full(n, 0.5, dtype=np.float32)
        self.tasks = np.full(n, 4, dtype=np.int32)
        self.cpu_per_task = 0.05
        self.hog = np.zeros(n, dtype=np.float32)  # extra CPU demand, share of capacity
        self.egress_extra = np.zeros(n, dtype=np.float32)
        self.failed = np.zeros(n, dtype=bool)
        self.failed_at = np.zeros(n, dtype=np.float64)
        self.boot_done_s = np.zeros(n, dtype=np.float64)
        self.rack = (np.arange(n) // self.rack_size).astype(np.int32)
        n_racks = int(self.rack.max()) + 1
        self.link_rack = np.repeat(np.arange(n_racks, dtype=np.int32), 2)
        self.link_load = np.full(2 * n_racks, 0.3, dtype=np.float32)
        self.replicas = np.full(self.n_services, 3, dtype=np.int32)
        self.service_demand = np.full(self.n_services, 0.1)  # CPU the service wants in total
        self.pending = 0
        self.stranded = np.zeros(n, dtype=np.int32)
        self.mutations = 0
        self.usage_factor = np.ones(n)

    # -- time --------------------------------------------------------------------------------
    @property
    def now_s(self) -> float:
        return self.clock.now_s()

    def step(self) -> None:
        self.clock.advance(self.tick_s)
        now = self.now_s
        if self.noise > 0:
            self.usage_factor = np.clip(
                1.0 + self.noise * self.rng.standard_normal(self.n_machines), 0.2, 2.0
            )
        if self.churn:
            delta = self.rng.integers(-1, 2, self.n_machines)
            live = ~self.failed & (self.state == MachineState.ON) & self.schedulable
            self.tasks = np.where(live, np.clip(self.tasks + delta, 1, 8), self.tasks).astype(
                np.int32
            )
        booted = (self.state == MachineState.BOOTING) & (self.boot_done_s <= now)
        self.state[booted] = MachineState.ON
        # pending work lands on free schedulable machines
        while self.pending > 0:
            ok = np.flatnonzero(
                (self.state == MachineState.ON) & self.schedulable & ~self.failed & (self.tasks < 8)
            )
            if ok.size == 0:
                break
            self.tasks[ok[0]] += 1
            self.pending -= 1

    # -- perception --------------------------------------------------------------------------
    def observe(self) -> Observation:
        n = self.n_machines
        live = ~self.failed & (self.state == MachineState.ON)
        requested = (self.tasks * self.cpu_per_task).astype(np.float32)
        demand = requested * 0.8 * self.usage_factor + self.hog * self.cpu_capacity
        used = np.where(live, np.minimum(demand, self.cpu_capacity), 0.0).astype(np.float32)
        throttled = np.where(demand > 0, 1.0 - used / np.maximum(demand, 1e-9), 0.0)
        heartbeat = np.where(self.failed, self.now_s - self.failed_at, 2.0).astype(np.float32)
        egress = (used * 200.0 + self.egress_extra).astype(np.float32)
        reported = self.state.copy()
        svc_req = np.full(self.n_services, 0.05, dtype=np.float32)
        return Observation(
            time_s=self.now_s,
            machine_ids=np.arange(n, dtype=np.int64) + 1000,
            machine_state=reported,
            schedulable=self.schedulable & (self.state == MachineState.ON),
            cpu_capacity=self.cpu_capacity.copy(),
            mem_capacity=self.mem_capacity.copy(),
            cpu_requested=np.where(self.failed, 0.0, requested).astype(np.float32),
            mem_requested=np.where(self.failed, 0.0, requested).astype(np.float32),
            cpu_used=used,
            mem_used=(used * 0.5).astype(np.float32),
            cpu_throttled_share=np.where(live, throttled, 0.0).astype(np.float32),
            tasks_running=np.where(self.failed, 0, self.tasks).astype(np.int32),
            heartbeat_age_s=heartbeat,
            egress_mbps=egress,
            rack=self.rack,
            link_rack=self.link_rack,
            link_utilization=self.link_load.copy(),
            service_ids=np.arange(self.n_services, dtype=np.int64),
            service_replicas=self.replicas.copy(),
            service_running=self.replicas.copy(),
            service_cpu_request=svc_req,
            service_cpu_used=np.minimum(self.service_demand, self.replicas * svc_req).astype(
                np.float32
            ),
            service_min_replicas=np.ones(self.n_services, dtype=np.int32),
            pending_tasks=int(self.pending),
            pending_cpu=float(self.pending * self.cpu_per_task),
            pending_mem=float(self.pending * self.cpu_per_task),
            power_w=float(100.0 * live.sum() + 200.0 * used.sum()),
        )

    def machine_state(self, machine: int) -> MachineState:
        self._check(machine)
        if self.failed[machine]:
            return MachineState.FAILED
        return MachineState(int(self.state[machine]))

    def machine_task_count(self, machine: int) -> int:
        self._check(machine)
        return int(self.tasks[machine] + self.stranded[machine])

    def record_detection(self, target: str, by: str, kind: str | None = None) -> bool:
        self.detections.append((self.now_s, target, by, kind))
        if target.startswith("machine:"):
            m = int(target.split(":")[1])
            return bool(self.failed[m] or self.hog[m] > 0 or self.egress_extra[m] > 0)
        return target.startswith("link:")

    # -- faults (the tests' hands) -------------------------------------------------------------
    def fail(self, machine: int) -> None:
        self.failed[machine] = True
        self.failed_at[machine] = self.now_s
        self.stranded[machine] = self.tasks[machine]
        self.tasks[machine] = 0

    # -- mutators ----------------------------------------------------------------------------
    def _check(self, machine: int) -> None:
        if not 0 <= machine < self.n_machines:
            raise SimulationError(f"no machine {machine}")

    def _log(self, op: str, by: str, target: int) -> None:
        self.mutations += 1
        self.events.append((self.now_s, by, op, target))

    def set_service_replicas(self, service: int, replicas: int, by: str) -> None:
        if not 0 <= service < self.n_services:
            raise SimulationError(f"no service {service}")
        self.replicas[service] = replicas
        self._log("set_service_replicas", by, service)

    def power_on(self, machine: int, by: str) -> None:
        self._check(machine)
        if self.state[machine] != MachineState.OFF:
            raise SimulationError(f"machine {machine} is not OFF")
        self.state[machine] = MachineState.BOOTING
        self.boot_done_s[machine] = self.now_s + self.boot_delay_s
        self._log("power_on", by, machine)

    def power_off(self, machine: int, by: str) -> None:
        self._check(machine)
        if self.state[machine] != MachineState.ON or self.tasks[machine] > 0:
            raise SimulationError(f"machine {machine} is not ON and empty")
        self.state[machine] = MachineState.OFF
        self._log("power_off", by, machine)

    def cordon(self, machine: int, schedulable: bool, by: str) -> None:
        self._check(machine)
        self.schedulable[machine] = schedulable
        self._log("cordon", by, machine)

    def drain(self, machine: int, by: str) -> None:
        self._check(machine)
        if self.failed[machine]:
            raise SimulationError(f"machine {machine} has failed; evict instead")
        self.schedulable[machine] = False
        self.pending += int(self.tasks[machine])
        self.tasks[machine] = 0
        self._log("drain", by, machine)

    def evict_stranded(self, machine: int, by: str) -> None:
        self._check(machine)
        if not self.failed[machine]:
            raise SimulationError(f"machine {machine} has not failed")
        self.pending += int(self.stranded[machine])
        self.stranded[machine] = 0
        self._log("evict_stranded", by, machine)

    def kill_rogue(self, machine: int, by: str) -> None:
        self._check(machine)
        self.hog[machine] = 0.0
        self.egress_extra[machine] = 0.0
        self._log("kill_rogue", by, machine)

    def isolate(self, machine: int, by: str) -> None:
        self._check(machine)
        self.kill_rogue(machine, by)
        self.drain(machine, by)
        self._log("isolate", by, machine)

    def reroute(self, rack: int, away_from_link: int, by: str) -> None:
        links = np.flatnonzero(self.link_rack == rack)
        if away_from_link not in links:
            raise SimulationError(f"link {away_from_link} does not serve rack {rack}")
        other = next(int(link) for link in links if link != away_from_link)
        moved = max(0.0, float(self.link_load[away_from_link]) - 0.3)
        self.link_load[away_from_link] -= moved
        self.link_load[other] += moved
        self._log("reroute", by, rack)
