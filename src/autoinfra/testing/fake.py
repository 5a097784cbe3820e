"""A fake cluster: in memory, tiny, deterministic, with the simulator's rules in a few lines.

``FakeCluster`` is a ``core.cluster.Backend`` for tests of anything above the seam (agents, the
runtime, the live runner, sensors, exporters) that should not pay for the simulator, and for
checking that the conformance suite asks only for what the seam promises. It is what httpx's
``MockTransport`` is to a server: the same surface, none of the machinery.

The world: ``machines`` machines of capacity 1.0 CPU in racks of ``rack_size`` (two uplinks a
rack), ``services`` services with ``replicas`` replicas each and one replica a task, spread round
robin. Each ``advance()`` moves the clock by ``tick_s``, injects the scenario's faults that are
due, places pending tasks on schedulable machines (fewest tasks first), finishes boots and judges
recovery. Rules follow the simulator's mutators (refusals with the same meaning), so an action
that the simulator refuses is refused here too:

- node failure: the machine stops heartbeating, its tasks are stranded until evicted, drained or
  isolated; recovered when no task is stranded and nothing is pending;
- CPU hog / intrusion: a rogue process adds CPU (and, for an intrusion, egress); recovered when
  the process is gone (``kill_rogue``, ``isolate``; for a hog also a drain, moving the work away);
- network congestion: background load on a link; recovered when its rack's traffic left it
  (``reroute``) or the load cleared.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from autoinfra.backends.ledger import FaultLedger
from autoinfra.core.clock import Clock, SimClock
from autoinfra.core.cluster import ClusterReader, ClusterWriter, FaultLike
from autoinfra.core.errors import ActionError
from autoinfra.core.observation import MachineState, Observation

__all__ = ["FakeCluster", "build"]

S = MachineState
_RUNNING = (S.ON, S.DRAINING)


class FakeCluster:
    """Reader, writer and backend in one small object (see the module docstring)."""

    name = "fake"

    def __init__(
        self,
        *,
        machines: int = 8,
        rack_size: int = 4,
        services: int = 2,
        replicas: int = 3,
        tick_s: float = 5.0,
        faults: Sequence[FaultLike] = (),
        seed: int = 0,
    ) -> None:
        if machines < 2 or rack_size < 1 or services < 0 or replicas < 0 or tick_s <= 0:
            raise ActionError("fake cluster: machines >= 2, rack_size >= 1, tick_s > 0 expected")
        self._clock = SimClock(0.0)
        self.tick_s = float(tick_s)
        self.rng = np.random.default_rng(seed)
        n = machines
        self.state = np.full(n, S.ON, np.int8)
        self.failed = np.zeros(n, bool)
        self.cordoned = np.zeros(n, bool)
        self.isolated = np.zeros(n, bool)
        self.boot_done_s = np.zeros(n)
        self.last_beat_s = np.zeros(n)
        self.rogue_cpu = np.zeros(n, np.float32)
        self.rogue_egress = np.zeros(n, np.float32)
        self.rack = (np.arange(n) // rack_size).astype(np.int32)
        n_racks = int(self.rack.max()) + 1
        self.link_rack = np.repeat(np.arange(n_racks, dtype=np.int32), 2)
        self.link_weight = np.tile(np.array([0.5, 0.5]), n_racks)
        self.link_load = np.zeros(self.link_rack.shape[0])  # background load (faults)
        self.replicas = np.full(services, replicas, np.int32)
        # tasks: (service, machine or -1 pending, stranded); one replica a task, 0.1 CPU each
        self.tasks: list[list[int]] = []
        for s in range(services):
            for _ in range(replicas):
                self.tasks.append([s, -1, 0])
        self.task_cpu = 0.1
        self.ledger = FaultLedger()
        self._faults = sorted(faults, key=lambda f: float(f.at_s))
        self._next_fault = 0
        self._by_entry: dict[int, int] = {}  # ledger fault id -> machine or link index
        self.calls: list[tuple[float, str, str, str]] = []  # (at_s, op, target, by)
        self.started = False
        self._place()

    # -- Backend --------------------------------------------------------------------------------
    @property
    def clock(self) -> Clock:
        return self._clock

    @property
    def reader(self) -> ClusterReader:
        return self

    @property
    def writer(self) -> ClusterWriter:
        return self

    @property
    def done(self) -> bool:
        return False

    @property
    def now_s(self) -> float:
        return self._clock.now_s()

    def start(self) -> None:
        self.started = True

    def stop(self) -> None:
        self.started = False

    def advance(self) -> None:
        self._clock.advance(self.tick_s)
        now = self.now_s
        alive = ~self.failed
        self.last_beat_s[alive] = now
        booted = (self.state == S.BOOTING) & (self.boot_done_s <= now + 1e-9)
        self.state[booted] = S.ON
        while (
            self._next_fault < len(self._faults)
            and float(self._faults[self._next_fault].at_s) <= now + 1e-9
        ):
            self.inject(self._faults[self._next_fault])
            self._next_fault += 1
        self._place()
        self._judge()

    def inject(self, fault: FaultLike) -> str:
        kind = str(getattr(fault.kind, "value", fault.kind))
        now = self.now_s
        explicit = None if fault.target == "random" else int(fault.target.split(":", 1)[1])
        if kind == "network_congestion":
            idx = explicit if explicit is not None else int(self.rng.integers(len(self.link_rack)))
            if not 0 <= idx < len(self.link_rack):
                raise ActionError(f"no link {idx}: links are 0..{len(self.link_rack) - 1}")
            self.link_load[idx] += float(getattr(fault, "load", 1.5) or 1.5)
            target = f"link:{idx}"
        else:
            eligible = np.flatnonzero((self.state == S.ON) & ~self.failed)
            if explicit is None and eligible.size == 0:
                return ""
            idx = explicit if explicit is not None else int(self.rng.choice(eligible))
            self._machine(idx)
            if kind == "node_failure":
                self.failed[idx] = True
                for t in self.tasks:
                    if t[1] == idx:
                        t[2] = 1
            elif kind == "cpu_hog":
                self.rogue_cpu[idx] += float(getattr(fault, "cpu_share", 1.0) or 1.0)
            elif kind == "intrusion":
                self.rogue_cpu[idx] += float(getattr(fault, "cpu_share", 0.25) or 0.25)
                self.rogue_egress[idx] += float(getattr(fault, "egress_mbps", 800.0) or 800.0)
            else:
                raise ActionError(f"the fake cluster cannot inject {kind!r}")
            target = f"machine:{idx}"
        entry = self.ledger.open(kind, target, now)
        self._by_entry[entry.fault_id] = idx
        return target

    def record_detection(self, target: str, by: str, kind: str | None = None) -> bool:
        return self.ledger.detect(target, by, kind, self.now_s)

    def fault_rows(self) -> Sequence[dict[str, Any]]:
        return self.ledger.rows()

    # -- ClusterReader --------------------------------------------------------------------------
    def observe(self) -> Observation:
        n = self.state.shape[0]
        on = self.tasks_on()
        cpu_req = (on * self.task_cpu).astype(np.float32)
        # a failed machine is reported as last known (ON); its heartbeat age grows
        cpu_used = np.where(self.failed, 0.0, np.minimum(cpu_req + self.rogue_cpu, 1.0))
        running = np.zeros(self.replicas.shape[0], np.int32)
        for s, m, stranded in self.tasks:
            if m >= 0 and not stranded:
                running[s] += 1
        util = np.zeros(self.link_rack.shape[0], np.float32)
        for link, r in enumerate(self.link_rack):
            traffic = 0.2 * float((self.rack == r).sum()) / 4.0  # 20 % of a link per full rack
            util[link] = self.link_weight[link] * traffic * 2 + self.link_load[link]
        sched = self._schedulable()
        return Observation(
            time_s=self.now_s,
            machine_ids=np.arange(1000, 1000 + n, dtype=np.int64),
            machine_state=self.state.copy(),
            schedulable=sched,
            cpu_capacity=np.ones(n, np.float32),
            mem_capacity=np.ones(n, np.float32),
            cpu_requested=cpu_req,
            mem_requested=cpu_req.copy(),
            cpu_used=cpu_used.astype(np.float32),
            mem_used=(cpu_req * 0.5).astype(np.float32),
            cpu_throttled_share=np.clip(cpu_req + self.rogue_cpu - 1.0, 0, 1).astype(np.float32),
            tasks_running=on.astype(np.int32),
            heartbeat_age_s=(self.now_s - self.last_beat_s).astype(np.float32),
            egress_mbps=np.where(self.isolated, 0.0, 10.0 * on + self.rogue_egress).astype(
                np.float32
            ),
            rack=self.rack.copy(),
            link_rack=self.link_rack.copy(),
            link_utilization=util,
            service_ids=np.arange(self.replicas.shape[0], dtype=np.int64),
            service_replicas=self.replicas.copy(),
            service_running=running,
            service_cpu_request=np.full(self.replicas.shape[0], self.task_cpu, np.float32),
            service_cpu_used=(running * self.task_cpu * 0.6).astype(np.float32),
            service_min_replicas=np.ones(self.replicas.shape[0], np.int32),
            pending_tasks=sum(1 for t in self.tasks if t[1] < 0),
            pending_cpu=self.task_cpu * sum(1 for t in self.tasks if t[1] < 0),
            pending_mem=0.0,
            power_w=float(
                np.where(np.isin(self.state, (S.ON, S.DRAINING, S.BOOTING)), 150, 0).sum()
            ),
            extra={"backend": "fake"},
        )

    # -- ClusterWriter --------------------------------------------------------------------------
    def set_service_replicas(self, service: int, replicas: int, by: str) -> None:
        if not 0 <= service < self.replicas.shape[0]:
            raise ActionError(f"no service {service}: indices are 0..{self.replicas.shape[0] - 1}")
        if replicas < 0:
            raise ActionError(f"service {service}: replicas must be >= 0, got {replicas}")
        self._call("set_service_replicas", f"service:{service}", by)
        have = [t for t in self.tasks if t[0] == service]
        for _ in range(replicas - len(have)):
            self.tasks.append([service, -1, 0])
        for t in have[replicas:]:
            self.tasks.remove(t)
        self.replicas[service] = replicas
        self._place()

    def power_on(self, machine: int, by: str) -> None:
        m = self._machine(machine)
        if self.state[m] != S.OFF:
            raise ActionError(f"machine {m} is {S(self.state[m]).name}, not OFF")
        self._call("power_on", f"machine:{m}", by)
        self.state[m] = S.BOOTING
        self.boot_done_s[m] = self.now_s + self.tick_s

    def power_off(self, machine: int, by: str) -> None:
        m = self._machine(machine)
        if self.state[m] not in _RUNNING or self.failed[m]:
            raise ActionError(f"machine {m} is {self._state_name(m)}, not ON")
        if self.tasks_on()[m]:
            raise ActionError(f"machine {m} still runs {self.tasks_on()[m]} tasks; drain it first")
        self._call("power_off", f"machine:{m}", by)
        self.state[m] = S.OFF

    def cordon(self, machine: int, schedulable: bool, by: str) -> None:
        m = self._machine(machine)
        self._call("cordon", f"machine:{m}", by)
        self.cordoned[m] = not schedulable
        if schedulable:
            self.isolated[m] = False
            if self.state[m] == S.DRAINING:
                self.state[m] = S.ON

    def drain(self, machine: int, by: str) -> int:
        m = self._machine(machine)
        if self.state[m] not in _RUNNING:
            raise ActionError(f"machine {m} is {self._state_name(m)}: nothing to drain")
        self._call("drain", f"machine:{m}", by)
        self.cordoned[m] = True
        if not self.failed[m]:
            self.state[m] = S.DRAINING
        return self._evict(m)

    def evict_stranded(self, machine: int, by: str) -> int:
        m = self._machine(machine)
        if not self.failed[m]:
            raise ActionError(f"machine {m} is {self._state_name(m)}, not FAILED: nothing stranded")
        self._call("evict_stranded", f"machine:{m}", by)
        return self._evict(m)

    def kill_rogue(self, machine: int, by: str) -> None:
        m = self._machine(machine)
        if self.state[m] not in _RUNNING or self.failed[m]:
            raise ActionError(f"machine {m} is {self._state_name(m)}: unreachable")
        if self.rogue_cpu[m] <= 0 and self.rogue_egress[m] <= 0:
            raise ActionError(f"no rogue process runs on machine {m}")
        self._call("kill_rogue", f"machine:{m}", by)
        self.rogue_cpu[m] = self.rogue_egress[m] = 0.0

    def isolate(self, machine: int, by: str) -> int:
        m = self._machine(machine)
        if self.state[m] == S.OFF:
            raise ActionError(f"machine {m} is OFF: nothing to isolate")
        self._call("isolate", f"machine:{m}", by)
        self.isolated[m] = self.cordoned[m] = True
        self.rogue_cpu[m] = self.rogue_egress[m] = 0.0
        if not self.failed[m]:
            self.state[m] = S.DRAINING
        return self._evict(m)

    def reroute(self, rack: int, away_from_link: int, by: str) -> None:
        n_racks = int(self.rack.max()) + 1
        if not 0 <= rack < n_racks:
            raise ActionError(f"no rack {rack}: indices are 0..{n_racks - 1}")
        link = int(away_from_link)
        if not 0 <= link < self.link_rack.shape[0] or int(self.link_rack[link]) != rack:
            raise ActionError(f"link {away_from_link} is not an uplink of rack {rack}")
        self._call("reroute", f"link:{link}", by)
        other = np.flatnonzero(self.link_rack == rack)
        other = other[other != link]
        self.link_weight[other] += self.link_weight[link] / other.size
        self.link_weight[link] = 0.0

    def restore_routes(self, rack: int, by: str) -> None:
        n_racks = int(self.rack.max()) + 1
        if not 0 <= rack < n_racks:
            raise ActionError(f"no rack {rack}: indices are 0..{n_racks - 1}")
        self._call("restore_routes", f"rack:{rack}", by)
        links = np.flatnonzero(self.link_rack == rack)
        self.link_weight[links] = 1.0 / links.size

    def machine_state(self, machine: int) -> MachineState:
        m = self._machine(machine)
        return S.FAILED if self.failed[m] else S(int(self.state[m]))

    def machine_task_count(self, machine: int) -> int:
        return int(self.tasks_on()[self._machine(machine)])

    # -- mechanics ------------------------------------------------------------------------------
    def tasks_on(self) -> np.ndarray:
        out = np.zeros(self.state.shape[0], np.int64)
        for _, m, _ in self.tasks:
            if m >= 0:
                out[m] += 1
        return out

    def _schedulable(self) -> np.ndarray:
        return (self.state == S.ON) & ~self.cordoned & ~self.isolated & ~self.failed

    def _place(self) -> None:
        sched = np.flatnonzero(self._schedulable())
        if sched.size == 0:
            return
        on = self.tasks_on()
        for t in self.tasks:
            if t[1] < 0:
                m = int(sched[np.argmin(on[sched])])  # fewest tasks first, lowest slot on ties
                t[1], t[2] = m, 0
                on[m] += 1

    def _evict(self, m: int) -> int:
        moved = 0
        for t in self.tasks:
            if t[1] == m:
                t[1], t[2] = -1, 0
                moved += 1
        self._place()
        return moved

    def _judge(self) -> None:
        now = self.now_s
        pending = any(t[1] < 0 for t in self.tasks)
        for e in self.ledger.active():
            if now <= e.injected_s:
                continue  # a fault is not over in the instant it began
            idx = self._by_entry[e.fault_id]
            if e.kind == "node_failure":
                ok = not any(t[1] == idx for t in self.tasks) and not pending
            elif e.kind == "cpu_hog":  # the hog is gone, or the work moved away from it
                moved = bool(self.cordoned[idx]) and self.tasks_on()[idx] == 0 and not pending
                ok = bool(self.rogue_cpu[idx] <= 0) or moved
            elif e.kind == "intrusion":
                ok = bool(self.rogue_cpu[idx] <= 0 and self.rogue_egress[idx] <= 0)
            else:
                ok = self.link_weight[idx] == 0.0 or self.link_load[idx] <= 0
            if ok:
                self.ledger.recover(e, now)

    def _call(self, op: str, target: str, by: str) -> None:
        self.calls.append((self.now_s, op, target, by))
        self.ledger.mitigate(op, target, by, self.now_s)

    def _machine(self, machine: int) -> int:
        m = int(machine)
        if not 0 <= m < self.state.shape[0]:
            raise ActionError(f"no machine {machine}: slots are 0..{self.state.shape[0] - 1}")
        return m

    def _state_name(self, m: int) -> str:
        return "FAILED" if self.failed[m] else S(int(self.state[m])).name


def build(*, seed: int, scenario: Any, options: Mapping[str, Any]) -> FakeCluster:
    """Factory with the backends' signature (``scenario``: a FaultScenario, a name or None)."""
    if isinstance(scenario, str):
        from autoinfra.faults.registry import load_scenario

        scenario = load_scenario(scenario)
    faults = tuple(scenario.faults) if scenario is not None else ()
    known = {"machines", "rack_size", "services", "replicas", "tick_s"}
    bad = sorted(set(options) - known)
    if bad:
        raise ActionError(f"unknown fake cluster option(s) {bad}; known: {sorted(known)}")
    return FakeCluster(faults=faults, seed=seed, **dict(options))
