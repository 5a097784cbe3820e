"""The local fleet's mutators (``core.cluster.ClusterWriter``): real fixes, idempotent by request.

=====================  =========================================================================
operation              what happens on the machine
=====================  =========================================================================
set_service_replicas   start replica processes (placed by the fleet's scheduler) or stop them
power_on               OFF -> a new supervisor boots (BOOTING until its first heartbeat)
power_off              an empty machine's supervisor exits cleanly
cordon                 the scheduler skips (or again uses) the machine; uncordon ends a drain
drain                  cordon, start each replica elsewhere, then stop it here
evict_stranded         a lost machine (supervisor dead): its replicas restart on healthy machines
kill_rogue             SIGKILL of every process of the group no replica accounts for (hog,
                       intruder); refused when there is none
throttle_rogue         (extra) cap those processes at a share of the machine in a child cgroup
isolate                kill the rogue processes, move the replicas away, SIGSTOP whatever is left
                       in the group except the supervisor (the workload is frozen, the node agent
                       still reports), cordoned
reroute                the network lab moves the rack's traffic off the uplink
restore_routes         the network lab splits the rack's traffic equally again
=====================  =========================================================================

Idempotency: each ``(by, op)`` pair is applied once. A second call with the same request id and
operation returns the first call's result and changes nothing (``by`` is the actuator's request
id, and one action may make several calls, e.g. evict then cordon). With ``journal_path`` the
applied pairs are appended (fsync'd) to a JSON-lines file and read back by a new writer, so an
id applied before a restart stays applied. Every call also tells the fault ledger which operation
hit which target (that is how a fault's ``mitigated_by`` is known).
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

from autoinfra.backends.ledger import FaultLedger
from autoinfra.backends.local.fleet import Fleet
from autoinfra.backends.local.machine import Machine
from autoinfra.backends.local.netlab import NetLab
from autoinfra.core.errors import ActionError
from autoinfra.core.observation import MachineState

__all__ = ["LocalWriter"]


class LocalWriter:
    def __init__(
        self,
        fleet: Fleet,
        net: NetLab | None,
        ledger: FaultLedger,
        now_s: Callable[[], float],
        journal_path: Path | None = None,
    ) -> None:
        self.fleet = fleet
        self.net = net
        self.ledger = ledger
        self.now_s = now_s
        self.journal_path = journal_path
        self.lock = threading.RLock()  # one mutation at a time (the runner and tests may race)
        self._done: dict[tuple[str, str], str] = {}
        self.calls: list[tuple[float, str, str, str]] = []  # (monotonic, by, op, target)
        if journal_path is not None and journal_path.exists():
            for line in journal_path.read_text().splitlines():
                try:
                    row = json.loads(line)
                    self._done[(str(row["by"]), str(row["op"]))] = str(row.get("result", ""))
                except (ValueError, KeyError):
                    continue  # a torn last line: that call never completed

    # -- the idempotent frame -------------------------------------------------------------------
    def _once(self, by: str, op: str, target: str, do: Callable[[], str]) -> str:
        with self.lock:
            key = (str(by), op)
            if key in self._done:
                return self._done[key]
            result = do()
            self._done[key] = result
            self.calls.append((time.monotonic(), by, op, target))
            self.ledger.mitigate(op, target, by, self.now_s())
            if self.journal_path is not None:
                line = json.dumps({"by": by, "op": op, "target": target, "result": result})
                fd = os.open(self.journal_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
                try:
                    os.write(fd, (line + "\n").encode())
                    os.fsync(fd)
                finally:
                    os.close(fd)
            return result

    def _machine(self, machine: int) -> Machine:
        if not 0 <= int(machine) < len(self.fleet.machines):
            raise ActionError(f"no machine {machine}: slots are 0..{len(self.fleet.machines) - 1}")
        return self.fleet.machines[int(machine)]

    # -- ClusterWriter ---------------------------------------------------------------------------
    def set_service_replicas(self, service: int, replicas: int, by: str) -> str:
        return self._once(by, "set_service_replicas", f"service:{service}",
                          lambda: self.fleet.set_desired(int(service), int(replicas)))  # fmt: skip

    def power_on(self, machine: int, by: str) -> str:
        m = self._machine(machine)

        def do() -> str:
            if m.powered:
                raise ActionError(f"machine {m.slot} is {self.machine_state(m.slot).name}, not OFF")
            m.boot()
            return "booting"

        return self._once(by, "power_on", f"machine:{m.slot}", do)

    def power_off(self, machine: int, by: str) -> str:
        m = self._machine(machine)

        def do() -> str:
            state = self.machine_state(m.slot)
            if state not in (MachineState.ON, MachineState.DRAINING):
                raise ActionError(f"machine {m.slot} is {state.name}, not ON")
            if m.replicas:
                raise ActionError(
                    f"machine {m.slot} still runs {len(m.replicas)} replicas; drain it first"
                )
            m.shutdown()
            return "off"

        return self._once(by, "power_off", f"machine:{m.slot}", do)

    def cordon(self, machine: int, schedulable: bool, by: str) -> str:
        m = self._machine(machine)

        def do() -> str:
            if schedulable:
                m.cordoned = m.isolated = m.draining = False
                if m.alive:
                    m.signal_members(signal.SIGCONT)  # lifting an isolation thaws the workload
                self.fleet.reconcile()
                return "schedulable"
            m.cordoned = True
            return "cordoned"

        return self._once(by, "cordon", f"machine:{m.slot}", do)

    def drain(self, machine: int, by: str) -> str:
        m = self._machine(machine)

        def do() -> str:
            if not m.powered:
                raise ActionError(f"machine {m.slot} is OFF: nothing to drain")
            m.cordoned, m.draining = True, m.alive
            return f"{self.fleet.move_off(m)} replicas moved"

        return self._once(by, "drain", f"machine:{m.slot}", do)

    def evict_stranded(self, machine: int, by: str) -> str:
        m = self._machine(machine)

        def do() -> str:
            if self.machine_state(m.slot) != MachineState.FAILED:
                raise ActionError(
                    f"machine {m.slot} is {self.machine_state(m.slot).name}, not FAILED: "
                    "nothing is stranded"
                )
            return f"{self.fleet.move_off(m)} replicas restarted elsewhere"

        return self._once(by, "evict_stranded", f"machine:{m.slot}", do)

    def _kill_unaccounted(self, m: Machine) -> int:
        victims = m.unaccounted()
        for p in victims:
            try:
                p.kill()
            except psutil.Error:
                continue
        _wait_gone(victims, timeout_s=2.0)
        return len(victims)

    def kill_rogue(self, machine: int, by: str) -> str:
        m = self._machine(machine)

        def do() -> str:
            if not m.alive or not self.fleet.reachable(m):
                raise ActionError(f"machine {m.slot} is unreachable")
            n = self._kill_unaccounted(m)
            if n == 0:
                raise ActionError(f"no rogue process runs on machine {m.slot}")
            return f"{n} rogue process(es) killed"

        return self._once(by, "kill_rogue", f"machine:{m.slot}", do)

    def throttle_rogue(self, machine: int, by: str, cpu_share: float = 0.05) -> str:
        """The gentler fix for a hog: cap the processes no replica accounts for at
        ``cpu_share`` of the machine instead of killing them (not in ``ClusterWriter``: no
        action maps to it yet; an operator or a custom policy calls it)."""
        m = self._machine(machine)

        def do() -> str:
            if not m.alive or not self.fleet.reachable(m):
                raise ActionError(f"machine {m.slot} is unreachable")
            pids = [p.pid for p in m.unaccounted()]
            if not pids:
                raise ActionError(f"no rogue process runs on machine {m.slot}")
            return m.group.throttle(pids, cpu_share)

        return self._once(by, "throttle_rogue", f"machine:{m.slot}", do)

    def isolate(self, machine: int, by: str) -> str:
        m = self._machine(machine)

        def do() -> str:
            if not m.powered:
                raise ActionError(f"machine {m.slot} is OFF: nothing to isolate")
            m.cordoned = m.isolated = True
            m.draining = m.alive
            killed = self._kill_unaccounted(m) if m.alive else 0
            moved = self.fleet.move_off(m)
            frozen = m.signal_members(signal.SIGSTOP) if m.alive else 0
            return f"{moved} replicas moved, {killed} rogue killed, {frozen} frozen"

        return self._once(by, "isolate", f"machine:{m.slot}", do)

    def reroute(self, rack: int, away_from_link: int, by: str) -> str:
        def do() -> str:
            if self.net is None:
                raise ActionError(
                    "the local backend runs without a network lab: nothing to reroute"
                )
            return self.net.reroute(int(rack), int(away_from_link))

        result = self._once(by, "reroute", f"rack:{rack}", do)
        # the ledger names congestion by link: say which link the traffic left
        self.ledger.mitigate("reroute", f"link:{away_from_link}", by, self.now_s())
        return result

    def restore_routes(self, rack: int, by: str) -> str:
        def do() -> str:
            if self.net is None:
                raise ActionError(
                    "the local backend runs without a network lab: no routes to restore"
                )
            return self.net.restore_routes(int(rack))

        # mitigates nothing: the ledger is not told
        return self._once(by, "restore_routes", f"rack:{rack}", do)

    # -- read-backs (the truth) ------------------------------------------------------------------
    def machine_state(self, machine: int) -> MachineState:
        m = self._machine(machine)
        if not m.powered:
            return MachineState.OFF
        if not m.alive:
            return MachineState.FAILED
        if m.booting:
            return MachineState.BOOTING
        if m.draining:
            return MachineState.DRAINING
        return MachineState.ON

    def machine_task_count(self, machine: int) -> int:
        return len(self._machine(machine).replicas)

    def applied(self, by: str, op: str) -> bool:
        return (by, op) in self._done

    def info(self) -> dict[str, Any]:
        return {"calls": len(self.calls)}


def _wait_gone(procs: list[psutil.Process], timeout_s: float) -> None:
    """Until each process is gone or a zombie (its parent, the supervisor, reaps it)."""
    end = time.monotonic() + timeout_s
    left = list(procs)
    while left and time.monotonic() < end:
        still = []
        for p in left:
            try:
                if p.status() != psutil.STATUS_ZOMBIE:
                    still.append(p)
            except psutil.Error:
                continue
        left = still
        if left:
            time.sleep(0.01)
