"""The local fleet: machines and service replicas, and the scheduler that places them.

``Fleet`` knows the control plane's intent (desired replicas, cordons, which replica was placed
where) and starts or stops replica processes through the machines' supervisors. Placement spreads
a service over the schedulable machines with the fewest replicas that still have room for the
replica's CPU request (Kubernetes' default spreading, in one line). A replica that fits nowhere
stays pending and is retried on every ``reconcile``.

A replica left on a machine that died is *stranded*: its process is gone but the control plane
still counts it there until someone evicts it (``EvictTasks``), as the simulator does.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass

from autoinfra.backends.local.config import LocalSettings
from autoinfra.backends.local.limits import CpuLimiter, MachineGroup
from autoinfra.backends.local.machine import Machine, Replica
from autoinfra.backends.local.procs import ProcessTable, child_argv
from autoinfra.core.errors import ActionError

__all__ = ["Fleet"]


@dataclass(slots=True)
class Service:
    index: int
    desired: int
    pending: int = 0  # replicas wanted but placed nowhere yet
    serial: int = 0  # names replicas s<i>r<serial>, never reused


class Fleet:
    def __init__(
        self, config: LocalSettings, limiter: CpuLimiter, procs: ProcessTable, deadline: float
    ) -> None:
        self.config = config
        self.procs = procs
        self.deadline = deadline
        self.machines = [
            Machine(m, MachineGroup(limiter, m, config.cores_per_machine), procs, deadline,
                    config.heartbeat_s)
            for m in range(config.machines)
        ]  # fmt: skip
        self.services = [Service(s, config.replicas) for s in range(config.services)]

    # -- life ------------------------------------------------------------------------------------
    def boot_all(self, timeout_s: float = 15.0) -> None:
        for m in self.machines:
            m.boot()
        end = time.monotonic() + timeout_s
        while any(m.booting for m in self.machines):
            if time.monotonic() > end or not all(m.alive for m in self.machines):
                bad = [m.slot for m in self.machines if m.booting or not m.alive]
                raise ActionError(f"local machine(s) {bad} did not start within {timeout_s:g} s")
            time.sleep(0.05)
        for svc in self.services:
            svc.pending = svc.desired
        self.reconcile()

    # -- what the scheduler knows ----------------------------------------------------------------
    def reachable(self, m: Machine) -> bool:
        return m.powered and m.heartbeat_age_s() < self.config.heartbeat_lost_s and m.alive

    def schedulable(self, m: Machine) -> bool:
        return self.reachable(m) and not m.cordoned and not m.isolated and not m.booting

    def replicas_of(self, service: int) -> list[Replica]:
        return [r for m in self.machines for r in m.replicas.values() if r.service == service]

    def requested(self, m: Machine) -> float:
        return len(m.replicas) * self.config.replica_cpu_request

    def _pick(self, service: int, avoid: int | None = None) -> Machine | None:
        req = self.config.replica_cpu_request
        best: tuple[int, int, int] | None = None
        choice = None
        for m in self.machines:
            if m.slot == avoid or not self.schedulable(m):
                continue
            if self.requested(m) + req > 1.0 + 1e-9:
                continue
            same = sum(1 for r in m.replicas.values() if r.service == service)
            key = (same, len(m.replicas), m.slot)
            if best is None or key < best:
                best, choice = key, m
        return choice

    # -- moving replicas -------------------------------------------------------------------------
    def _worker_argv(self) -> list[str]:
        cfg = self.config
        return [*child_argv("worker"), "--work-ms", str(cfg.work_ms),
                "--deadline", f"{self.deadline:.3f}"]  # fmt: skip

    def start_replica(self, service: int, avoid: int | None = None) -> Replica | None:
        m = self._pick(service, avoid)
        if m is None:
            return None
        svc = self.services[service]
        svc.serial += 1
        key = f"s{service}r{svc.serial}"
        reply = m.start_child(key, self._worker_argv(), port=True)
        rep = Replica(service, key, m.slot, int(reply["pid"]), int(reply["port"]))
        m.replicas[key] = rep
        return rep

    def stop_replica(self, rep: Replica) -> None:
        m = self.machines[rep.machine]
        m.replicas.pop(rep.key, None)
        if m.alive and self.reachable(m):
            # an error means the supervisor is going away: its children go with it
            with contextlib.suppress(ActionError):
                m.stop_child(rep.key)

    def reconcile(self) -> int:
        """Place pending replicas where they fit now; returns how many were placed."""
        placed = 0
        for svc in self.services:
            while svc.pending > 0:
                if self.start_replica(svc.index) is None:
                    break
                svc.pending -= 1
                placed += 1
        return placed

    def set_desired(self, service: int, replicas: int) -> str:
        if not 0 <= service < len(self.services):
            raise ActionError(f"no service {service}: indices are 0..{len(self.services) - 1}")
        if not 0 <= replicas <= self.config.max_replicas:
            raise ActionError(
                f"service {service}: {replicas} replicas is outside [0, {self.config.max_replicas}]"
            )
        svc = self.services[service]
        live = self.replicas_of(service)
        before = len(live) + svc.pending
        svc.desired = replicas
        diff = replicas - before
        if diff > 0:
            svc.pending += diff
            self.reconcile()
        elif diff < 0:
            take = min(svc.pending, -diff)
            svc.pending -= take
            # then replicas on lost machines, then the newest (as the simulator ranks them)
            ranked = sorted(
                live,
                key=lambda r: (
                    self.reachable(self.machines[r.machine]),
                    -int(r.key.split("r")[-1]),
                ),
            )
            for rep in ranked[: -diff - take]:
                self.stop_replica(rep)
        return f"{before} -> {replicas} replicas"

    def move_off(self, m: Machine) -> int:
        """Start each replica of ``m`` elsewhere (pending if it fits nowhere), then stop it here."""
        moved = 0
        for rep in list(m.replicas.values()):
            new = self.start_replica(rep.service, avoid=m.slot)
            if new is None:
                self.services[rep.service].pending += 1
            self.stop_replica(rep)
            moved += 1
        return moved
