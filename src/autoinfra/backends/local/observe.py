"""What monitoring sees of the local fleet: an ``Observation`` from /proc, cgroups and probes.

Sources, one per field group, none of them the control plane's wishful state:

- CPU used: per machine, the CPU seconds its processes (every member of its process group, from
  /proc through psutil, so a hog or an intruder counts) used since the previous observation, over
  the wall time between them, in units of the largest machine's CPU limit (1.0 = one full
  machine, as the trace's normalised units). Memory: the members' resident set size.
- throttled share (CPU demand not served): the larger of the cgroup's ``nr_throttled /
  nr_periods`` (the machine hit its own limit) and the share of its processes' runnable time
  spent waiting for a CPU (``/proc/<pid>/schedstat``: the host is contended, as a shared host
  is). The wait share counts only when the machine wanted at least 20 % of its limit, so a
  nearly idle machine's few wake-ups on a busy host do not read as starvation.
- rates are measured over at least 0.5 s: an observation sooner than that after the last one
  reuses the last measurement (states, replicas and heartbeats are always fresh).
- heartbeats: seconds since the machine's supervisor last reported; a killed machine keeps its
  last known state (ON) and its heartbeat age grows, as the ``Observation`` contract says.
- services: desired replicas (control plane), running = replicas whose ``/health`` answered on
  the last probe, CPU used = their processes' CPU.
- egress: bytes per machine source address at the egress tap; links: the network lab's counters.
- power: a model (60 W idle + 40 W at full CPU per live machine; the fleet has no power meter),
  marked as such in ``extra["meta"]``.
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import psutil

from autoinfra.backends.local.egress import EgressTap
from autoinfra.backends.local.fleet import Fleet
from autoinfra.backends.local.netlab import NetLab
from autoinfra.backends.local.traffic import HealthProber, LoadGenerator
from autoinfra.core.observation import MachineState, Observation

__all__ = ["Observer"]

_IDLE_W, _BUSY_W = 60.0, 40.0
_MIN_WINDOW_S = 0.5  # shortest window a rate is measured over
_WANTED_SHARE = 0.2  # runqueue waits count once a machine wants this share of its limit


@dataclass(slots=True)
class _Rates:
    cpu_used: np.ndarray  # per machine, in machine units
    mem_mb: np.ndarray
    throttled: np.ndarray
    egress_mbps: np.ndarray
    pid_cpu: dict[int, float]  # per process, in machine units


def _groups(pgids: set[int]) -> dict[int, list[int]]:
    """pid lists of the given process groups, from one pass over /proc."""
    out: dict[int, list[int]] = {g: [] for g in pgids}
    for pid in psutil.pids():
        with contextlib.suppress(OSError):
            g = os.getpgid(pid)
            if g in out:
                out[g].append(pid)
    return out


class Observer:
    def __init__(
        self,
        fleet: Fleet,
        prober: HealthProber,
        load: LoadGenerator | None,
        tap: EgressTap | None,
        net: NetLab | None,
        meta: dict[str, Any],
    ) -> None:
        self.fleet = fleet
        self.prober = prober
        self.load = load
        self.tap = tap
        self.net = net
        self.meta = meta
        self._cpu_prev: dict[int, float] = {}
        self._sched_prev: dict[int, tuple[float, float]] = {}
        self._rates: _Rates | None = None
        self._t_prev = time.monotonic()

    def _wait_s(self, pid: int) -> tuple[float, float]:
        """Seconds run and seconds waited on a runqueue, since the process started."""
        try:
            with open(f"/proc/{pid}/schedstat") as fh:
                run_ns, wait_ns, _ = fh.read().split()
            return int(run_ns) / 1e9, int(wait_ns) / 1e9
        except (OSError, ValueError):
            return 0.0, 0.0

    def _cpu_s(self, pid: int) -> tuple[float, float, float]:
        """CPU seconds, RSS (MB) and age (s) of one process; zeros when it is gone."""
        try:
            p = psutil.Process(pid)
            with p.oneshot():
                t = p.cpu_times()
                age = max(time.time() - p.create_time(), 1e-3)
                return t.user + t.system, p.memory_info().rss / 2**20, age
        except psutil.Error:
            return 0.0, 0.0, 1.0

    def _measure(self) -> _Rates:
        """CPU, memory, demand not served and egress per machine since the last measurement."""
        cfg = self.fleet.config
        machines = self.fleet.machines
        n = len(machines)
        t = time.monotonic()
        dt = max(t - self._t_prev, 1e-3)
        self._t_prev = t
        members = _groups({m.pgid for m in machines if m.alive and m.pgid})
        cpu_s = np.zeros(n, np.float32)
        mem_mb = np.zeros(n, np.float32)
        pid_cpu: dict[int, float] = {}
        seen: dict[int, float] = {}
        sched: dict[int, tuple[float, float]] = {}
        run_s = np.zeros(n, np.float64)
        wait_s = np.zeros(n, np.float64)
        for m in machines:
            for pid in members.get(m.pgid, []) if m.alive else []:
                total, rss, age = self._cpu_s(pid)
                prev = self._cpu_prev.get(pid)
                # a process seen for the first time counts at its average rate since it started
                used = max(0.0, total - prev) if prev is not None else total * min(1.0, dt / age)
                seen[pid] = total
                pid_cpu[pid] = used
                run, wait = sched[pid] = self._wait_s(pid)
                r0, w0 = self._sched_prev.get(pid, (run, wait))
                run_s[m.slot] += max(0.0, run - r0)
                wait_s[m.slot] += max(0.0, wait - w0)
                cpu_s[m.slot] += used
                mem_mb[m.slot] += rss
        self._cpu_prev = seen
        self._sched_prev = sched
        norm = float(cfg.cores_per_machine)  # every machine is the largest: capacity 1.0
        throttled = np.array([m.group.throttled_share() for m in machines], np.float32)
        demand = run_s + wait_s
        wanted = demand >= _WANTED_SHARE * dt * norm
        waited = np.where(wanted, wait_s / np.maximum(demand, 1e-9), 0.0)
        egress = self.tap.mbps() if self.tap is not None else np.zeros(n, np.float32)
        return _Rates(
            cpu_used=(cpu_s / dt / norm).astype(np.float32),
            mem_mb=mem_mb,
            throttled=np.maximum(throttled, waited.astype(np.float32)),
            egress_mbps=egress.astype(np.float32),
            pid_cpu={pid: used / dt / norm for pid, used in pid_cpu.items()},
        )

    def observe(self, now_s: float) -> Observation:
        cfg = self.fleet.config
        machines = self.fleet.machines
        n = len(machines)
        # rates need a window: callers observing twice in a row (a sensor, then an actuator
        # reading replicas) get the last measurement instead of a rate over a few milliseconds
        if self._rates is None or time.monotonic() - self._t_prev >= _MIN_WINDOW_S:
            self._rates = self._measure()
        rates = self._rates
        cpu_used, mem_mb = rates.cpu_used, rates.mem_mb
        state = np.empty(n, np.int8)
        for m in machines:
            if not m.powered:
                state[m.slot] = MachineState.OFF
            elif m.booting:
                state[m.slot] = MachineState.BOOTING
            elif m.cordoned or m.isolated:
                state[m.slot] = MachineState.DRAINING if m.draining else MachineState.ON
            else:
                state[m.slot] = MachineState.ON
        schedulable = np.array([self.fleet.schedulable(m) for m in machines], np.bool_)
        throttled, egress = rates.throttled, rates.egress_mbps
        hb = np.array([m.heartbeat_age_s() if m.powered else 0.0 for m in machines], np.float32)
        tasks = np.array([len(m.replicas) for m in machines], np.int32)
        req = (tasks * np.float32(cfg.replica_cpu_request)).astype(np.float32)
        rack = (np.arange(n) // cfg.machines_per_rack).astype(np.int32)
        if self.net is not None and self.net.available:
            link_util, link_meta = self.net.utilization()
            link_rack = self.net.link_rack.copy()
        else:
            link_util, link_meta = np.zeros(0, np.float32), {}
            link_rack = np.zeros(0, np.int32)

        healthy = self.prober.healthy
        n_s = len(self.fleet.services)
        running = np.zeros(n_s, np.int32)
        svc_cpu = np.zeros(n_s, np.float32)
        for m in machines:
            for rep in m.replicas.values():
                if rep.key in healthy:
                    running[rep.service] += 1
                svc_cpu[rep.service] += rates.pid_cpu.get(rep.pid, 0.0)
        pending = sum(s.pending for s in self.fleet.services)
        live = np.array([m.alive for m in machines], np.bool_)  # a dead machine draws nothing
        power = float((live * (_IDLE_W + _BUSY_W * np.clip(cpu_used, 0, 1))).sum())
        extra: dict[str, Any] = {"meta": dict(self.meta), "links": link_meta}
        if self.net is not None and self.net.available:
            # what a reroute plan needs to judge the other uplink's room (policies.routing)
            extra["link_capacity_mbps"] = float(self.net.capacity_mbps)
        if self.load is not None:
            extra["service_latency_p50_ms"] = self.load.latency_ms(0.5).tolist()
            extra["service_latency_p99_ms"] = self.load.latency_ms(0.99).tolist()
            extra["service_error_share"] = self.load.error_share().tolist()
        return Observation(
            time_s=float(now_s),
            machine_ids=np.arange(n, dtype=np.int64),
            machine_state=state,
            schedulable=schedulable,
            cpu_capacity=np.ones(n, np.float32),
            mem_capacity=np.ones(n, np.float32),
            cpu_requested=req,
            mem_requested=(tasks * np.float32(0.05)).astype(np.float32),
            cpu_used=cpu_used,
            mem_used=(mem_mb / np.float32(cfg.mem_per_machine_mb)).astype(np.float32),
            cpu_throttled_share=throttled,
            tasks_running=tasks,
            heartbeat_age_s=hb,
            egress_mbps=egress.astype(np.float32),
            rack=rack,
            link_rack=link_rack.astype(np.int32),
            link_utilization=link_util.astype(np.float32),
            service_ids=np.arange(n_s, dtype=np.int64),
            service_replicas=np.array([s.desired for s in self.fleet.services], np.int32),
            service_running=running,
            service_cpu_request=np.full(n_s, cfg.replica_cpu_request, np.float32),
            service_cpu_used=svc_cpu,
            service_min_replicas=np.ones(n_s, np.int32),
            pending_tasks=int(pending),
            pending_cpu=float(pending * cfg.replica_cpu_request),
            pending_mem=float(pending * 0.05),
            power_w=power,
            extra=extra,
        )
