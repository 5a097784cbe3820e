"""Real faults on the local fleet, and the judge of when each one is over.

=====================  ===========================================  ==============================
fault                  what is done                                 recovered when (from the world)
=====================  ===========================================  ==============================
node_failure           ``killpg(SIGKILL)`` of the machine's group   every service has as many
                                                                    healthy replicas as it wants
                                                                    and none is left on the machine
cpu_hog                ``stress-ng --cpu 1 --timeout <d>s`` run by  the stress-ng processes are gone
                       the machine's supervisor (so in its group
                       and its cgroup)
network_congestion     ``tbf`` on the rack end of the link, shaping  the link's measured utilisation
                       it to offered / ``load``                     is below 1
intrusion              a process in the machine's group streaming   the intruder process is gone
                       UDP from the machine's address to the
                       egress sink at ``intrusion_mbps``
=====================  ===========================================  ==============================

A fault with ``duration_s`` clears by itself: stress-ng's own timeout, the intruder's deadline, the
tbf removed by ``tick``. ``random`` targets are drawn with the backend's seeded generator among
eligible ones, as the simulator draws them: live machines that run replicas and are not already
faulted; links that carry traffic.
"""

from __future__ import annotations

import math
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import psutil

from autoinfra.backends.ledger import FaultLedger, LedgerEntry
from autoinfra.backends.local.egress import EgressTap, machine_source_addr
from autoinfra.backends.local.fleet import Fleet
from autoinfra.backends.local.netlab import NetLab
from autoinfra.backends.local.procs import child_argv
from autoinfra.core.cluster import FaultLike
from autoinfra.core.errors import ActionError, ConfigError

__all__ = ["Injector"]

_DEFAULT_DURATION_S = 3600.0  # "until mitigated" still ends: every process has a deadline


@dataclass(slots=True)
class _Live:
    entry: LedgerEntry
    pids: list[int]  # the fault's own processes (hog, intruder)
    link: int = -1
    clear_at: float = math.inf  # monotonic time the fault clears by itself


class Injector:
    def __init__(
        self,
        fleet: Fleet,
        net: NetLab | None,
        tap: EgressTap | None,
        ledger: FaultLedger,
        rng: np.random.Generator,
        deadline: float,
        healthy: Callable[[], set[str]],
    ) -> None:
        self.fleet_healthy = healthy  # the prober's view: replicas that answered /health
        self.fleet = fleet
        self.net = net
        self.tap = tap
        self.ledger = ledger
        self.rng = rng
        self.deadline = deadline
        self.live: list[_Live] = []
        self.skipped: list[dict[str, Any]] = []  # faults refused, with the reason

    # -- targets ---------------------------------------------------------------------------------
    def _machine_target(self, target: str) -> int:
        faulted = {int(f.entry.target.split(":")[1]) for f in self.live if f.link < 0}
        if target == "random":
            # as the simulator: a machine fault hits a live machine that runs something
            ok = [m.slot for m in self.fleet.machines
                  if self.fleet.reachable(m) and m.replicas and m.slot not in faulted]  # fmt: skip
            if not ok:
                return -1
            return int(self.rng.choice(ok))
        kind, _, idx = target.partition(":")
        if kind != "machine" or not idx.isdigit() or int(idx) >= len(self.fleet.machines):
            raise ConfigError(
                f"expected machine:0..{len(self.fleet.machines) - 1} or random, got {target!r}",
                field="target",
            )
        return int(idx)

    def _link_target(self, target: str) -> int:
        n = self.net.n_links if self.net is not None else 0
        if target == "random":
            busy = {f.link for f in self.live}
            assert self.net is not None
            # as the simulator: congestion hits a link that carries traffic
            ok = [j for j in range(n) if j not in busy and self.net.weights[j] > 0]
            return int(self.rng.choice(ok)) if ok else -1
        kind, _, idx = target.partition(":")
        if kind != "link" or not idx.isdigit() or int(idx) >= n:
            raise ConfigError(f"expected link:0..{n - 1} or random, got {target!r}", field="target")
        return int(idx)

    # -- injection -------------------------------------------------------------------------------
    def inject(self, fault: FaultLike, now_s: float) -> str:
        kind = str(getattr(fault.kind, "value", fault.kind))
        duration = fault.duration_s
        bound_s = float(duration) if duration is not None else _DEFAULT_DURATION_S
        bound_s = min(bound_s, max(1.0, self.deadline - time.time()))
        if kind == "network_congestion":
            return self._congest(fault, kind, now_s, duration)
        m = self._machine_target(fault.target)
        if m < 0:
            self.skipped.append({"kind": kind, "at_s": now_s, "why": "no eligible machine"})
            return ""
        machine = self.fleet.machines[m]
        target = f"machine:{m}"
        pids: list[int] = []
        if kind == "node_failure":
            detail = f"killpg SIGKILL of group {machine.pgid}"
            machine.kill()
        elif kind == "cpu_hog":
            stress = shutil.which("stress-ng")
            if stress is None:
                raise ActionError("cpu_hog needs stress-ng on PATH (apt-get install stress-ng)")
            key = f"hog{len(self.ledger.entries)}"
            # cpu_share is of the machine; stress-ng's --cpu-load is of one core. A whole
            # machine's worth is a plain busy stressor: the machine's CPU limit caps it there
            share = float(getattr(fault, "cpu_share", 1.0) or 1.0)
            load = max(1, min(100, round(share * self.fleet.config.cores_per_machine * 100)))
            duty = [] if share >= 0.95 else ["--cpu-load", str(load)]
            argv = [stress, "--cpu", "1", *duty, "--timeout", f"{max(1, round(bound_s))}s",
                    "--quiet"]  # fmt: skip
            pids = [int(machine.start_child(key, argv)["pid"])]
            detail = f"stress-ng --cpu 1 {' '.join(duty)} --timeout {bound_s:.0f}s (pid {pids[0]})"
        elif kind == "intrusion":
            if self.tap is None:
                raise ActionError("intrusion needs the egress tap")
            key = f"x{len(self.ledger.entries)}"
            mbps = float(getattr(fault, "egress_mbps", 0.0) or self.fleet.config.intrusion_mbps)
            mbps = min(mbps, 800.0)  # the intruder's own cap
            argv = [*child_argv("intruder"),
                    "--source", machine_source_addr(m), "--sink", str(self.tap.port),
                    "--mbps", f"{mbps:g}",
                    "--deadline", f"{time.time() + bound_s:.3f}"]  # fmt: skip
            pids = [int(machine.start_child(key, argv)["pid"])]
            detail = f"intruder pid {pids[0]} sending {mbps:g} Mbit/s"
        else:
            raise ConfigError(f"unknown fault kind {kind!r}", field="kind")
        entry = self.ledger.open(kind, target, now_s, detail)
        clear = time.monotonic() + float(duration) if duration is not None else math.inf
        self.live.append(_Live(entry, pids, -1, clear))
        return target

    def _congest(self, fault: FaultLike, kind: str, now_s: float, duration: float | None) -> str:
        if self.net is None or not self.net.available:
            why = self.net.why_not if self.net is not None else "the network lab is disabled"
            self.skipped.append({"kind": kind, "at_s": now_s, "why": why})
            return ""
        link = self._link_target(fault.target)
        if link < 0:
            self.skipped.append({"kind": kind, "at_s": now_s, "why": "no eligible link"})
            return ""
        load = float(getattr(fault, "load", 0.0) or 1.5)
        rate = self.net.shape(link, load)
        entry = self.ledger.open(kind, f"link:{link}", now_s, f"tbf rate {rate:.2f} Mbit/s")
        clear = time.monotonic() + float(duration) if duration is not None else math.inf
        self.live.append(_Live(entry, [], link, clear))
        return f"link:{link}"

    # -- clearing and recovery -------------------------------------------------------------------
    def _alive(self, pids: list[int]) -> bool:
        for pid in pids:
            try:
                if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                    return True
            except psutil.Error:
                continue
        return False

    def _healed(self, f: _Live, link_util: np.ndarray) -> bool:
        kind = f.entry.kind
        if kind == "node_failure":
            slot = int(f.entry.target.split(":")[1])
            if self.fleet.machines[slot].replicas:
                return False  # stranded replicas still counted there
            healthy = self.fleet_healthy()
            return all(
                sum(r.key in healthy for r in self.fleet.replicas_of(s.index)) >= s.desired
                for s in self.fleet.services
            )
        if kind in ("cpu_hog", "intrusion"):
            return not self._alive(f.pids)
        if kind == "network_congestion":
            return f.link < link_util.shape[0] and float(link_util[f.link]) < 1.0
        return False

    def tick(self, now_s: float, link_util: np.ndarray) -> None:
        """Clear faults whose duration is over and record the ones the world shows healed."""
        t = time.monotonic()
        for f in list(self.live):
            if t >= f.clear_at and f.link >= 0 and self.net is not None:
                self.net.unshape(f.link)
            if self._healed(f, link_util) or (f.link >= 0 and t >= f.clear_at):
                self.ledger.recover(f.entry, now_s)
                if f.link >= 0 and self.net is not None:
                    self.net.unshape(f.link)
                self.live.remove(f)

    def rogue_pids(self, machine: int) -> list[int]:
        return [p for f in self.live if f.entry.target == f"machine:{machine}" for p in f.pids]
