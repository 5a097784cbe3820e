"""The simulator: a tick loop over the ``ClusterState``, the timed events, faults, and the outputs.

One tick (``step``) does, in order:

1. integrate the interval just ended at the rates of the state at its start: each running
   machine's progress clock advances by tick x (served CPU share) x (network share), and energy
   by power x tick;
2. finish the tasks whose work is done (a heap of earliest-possible finish times, so nothing walks
   every running task);
3. replay the trace's machine events, then timed events (boots, fault injections and clearing,
   auto-eviction), then task arrivals, all up to the new time;
4. step the usage shape if its 5-minute step changed (all usage recomputed once), place what
   fits (numba), relieve memory pressure, re-spread service demand over their replicas;
5. recompute rates, network, power and service levels (one numba pass), judge fault recovery,
   and record a row when due.

Mutations (``sim.writer``, an ``autoinfra.sim.mutations.Mutations`` the simulator owns) change
the cluster between ticks and take effect at once.
Randomness: one ``numpy.random.Generator`` per concern (placement, fault targets), spawned from
the seed, so the same seed gives the same run and a ``fork`` carries its own copies.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from autoinfra.core.clock import SimClock
from autoinfra.core.errors import SimulationError
from autoinfra.core.observation import MachineState, Observation
from autoinfra.faults import FaultScenario, load_scenario
from autoinfra.faults.spec import FaultSpec
from autoinfra.sim.config import SimSettings
from autoinfra.sim.incidents import FaultBook
from autoinfra.sim.layout import (
    M_BOOT_DONE,
    M_NTASKS,
    M_PROG,
    M_STATE,
    M_THROTTLE,
    M_VCLOCK,
    ST_FUTURE,
    T_ALLOC_CPU,
    T_ALLOC_MEM,
    T_CAP_CPU,
    T_CAP_MEM,
    T_DEMAND,
    T_MAX_LINK,
    T_N_STATE,
    T_NET_SLOWED,
    T_POWER,
    T_RUNNING,
    T_STRANDED,
    T_UNSERVED,
    T_USED_CPU,
    T_USED_MEM,
    T_VIOLATING,
)
from autoinfra.sim.mutations import Mutations
from autoinfra.sim.observe import build_observation
from autoinfra.sim.resize import Resizes
from autoinfra.sim.results import EventLog, SimResults, TickRecorder
from autoinfra.sim.state import ClusterState
from autoinfra.sim.timeline import Timeline
from autoinfra.traces.tables import MachineEventType, Workload

_J_PER_KWH = 3.6e6
_ABSENT, _OFF, _BOOTING, _ON, _DRAINING, _FAILED = (int(s) for s in MachineState)


class Simulator:
    """A simulated cluster replaying a workload; see docs/architecture.md for the surface."""

    def __init__(
        self,
        workload: Workload,
        config: SimSettings | None = None,
        scenario: FaultScenario | str | None = None,
        seed: int = 0,
    ) -> None:
        self.config = config if config is not None else SimSettings()
        if scenario is None:
            scenario = FaultScenario(name="none", faults=(), source="<none>")
        elif isinstance(scenario, str):
            scenario = load_scenario(scenario)
        self.scenario = scenario
        self.seed = int(seed)
        place_seq, fault_seq = np.random.SeedSequence(self.seed).spawn(2)
        self._state = ClusterState(workload, self.config, np.random.default_rng(place_seq))
        self._resizes = Resizes(self._state)  # right-sizing: requests now, what cuts cost
        self.clock = SimClock(0.0)
        self._time = Timeline()
        self._end_s = (
            self.config.until_s
            if self.config.until_s is not None
            else max(0.0, workload.end_s - workload.start_s)
        )
        # the fault schedule is drawn here, from the seed and the trace alone (faults.schedule)
        self._faults = FaultBook(
            scenario, self._state, np.random.default_rng(fault_seq), run_end_s=self._end_s
        )
        self._mt_ptr = 0
        self._task_ptr = 0
        self._mt_time = workload.machines.time_s - workload.start_s
        self._counters = {
            "finished": 0,
            "evictions": 0,
            "preemptions": 0,
            "placements": 0,
            "memory_kills": 0,
            "stranded_evictions": 0,
            "trace_evictions": 0,
            "scaled_down": 0,
        }
        self._energy_j = 0.0
        self._prog_dt = np.empty(self._state.n_machines, dtype=np.float64)  # step()'s scratch
        # the price of overcommit: CPU demand not served (normalised CPU x s) and the seconds
        # machines spent throttled, integrated like energy
        self._unserved_cpu_s = 0.0
        self._throttled_machine_s = 0.0
        self._ticks = 0
        self._mem_check = False
        self._events = EventLog()
        self._writer = Mutations(
            self._state, self._faults, self._events, self._counters, self._time, self.config,
            resizes=self._resizes,
        )  # fmt: skip
        self._recorder = TickRecorder()
        self._record_every = self.config.record_every_s or self.config.tick_s
        self._next_record = 0.0
        for i, spec in enumerate(self._faults.schedule):
            self._time.schedule(spec.at_s, "inject", i)
        self._advance_world(0.0)
        self._record()

    # --- time ---

    @property
    def _now(self) -> float:
        return self._time.now_s

    @property
    def writer(self) -> Mutations:
        """Everything an actor may change (``core.cluster.ClusterWriter``), checked and logged."""
        return self._writer

    @property
    def reader(self) -> Simulator:
        """What monitoring reads (``core.cluster.ClusterReader``): the simulator itself."""
        return self

    @property
    def now_s(self) -> float:
        """Simulated seconds since the workload's start."""
        return self._now

    @property
    def done(self) -> bool:
        return self._now >= self._end_s - 1e-9

    @property
    def fault_schedule(self) -> tuple[FaultSpec, ...]:
        """Every fault of the run with its time and target, drawn from the seed and the trace
        when the simulator was built (``faults.schedule``): the same for every system."""
        return self._faults.schedule

    @property
    def workload(self) -> Workload:
        return self._state.workload

    def set_placement(self, placement: str, by: str) -> None:
        """How the scheduler places work from now on: ``requests`` or ``reservations`` (see
        ``SimSettings.placement``). The system under test owns its scheduler's policy; the change
        is logged like any mutator call."""
        if placement not in ("requests", "reservations"):
            self._events.add(self._now, by, "set_placement", "scheduler", False, placement)
            raise SimulationError(
                f"placement must be 'requests' or 'reservations', got {placement!r}"
            )
        self.config = dataclasses.replace(self.config, placement=placement)  # type: ignore[arg-type]
        self._state.set_placement(self.config)
        self._writer.config = self.config  # one configuration for all the simulator's parts
        self._events.add(self._now, by, "set_placement", "scheduler", True, placement)

    def step(self) -> None:
        """Advance one tick (``config.tick_s``)."""
        w = self._state
        dt = self.config.tick_s
        timeline = self._time
        if timeline.stale:
            w.refresh(timeline.now_s)
        tot = w.tot
        self._energy_j += float(tot[T_POWER]) * dt
        if tot[T_UNSERVED] > 0.0:  # some machine is throttled (rare: counted only then)
            self._unserved_cpu_s += float(tot[T_UNSERVED]) * dt
            self._throttled_machine_s += float(np.count_nonzero(w.mf[M_THROTTLE] > 0.0)) * dt
        # vclock += dt x prog, the same two roundings, without the temporary and the write-back
        vclock = w.mf[M_VCLOCK]
        np.add(vclock, np.multiply(w.mf[M_PROG], dt, out=self._prog_dt), out=vclock)
        now = timeline.now_s = timeline.now_s + dt
        self.clock.advance_to(now)
        self._ticks += 1
        finished = w.complete(now, dt)
        if finished.shape[0]:
            self._counters["finished"] += int(finished.shape[0])
        self._advance_world(dt)
        if now >= self._next_record - 1e-9:
            self._record()

    def run(
        self,
        until_s: float | None = None,
        on_tick: Callable[[Simulator], object] | None = None,
        progress: bool = False,
        skip_quiet: bool = False,
    ) -> None:
        """Step until ``until_s`` (default: the end of the workload or ``config.until_s``).

        ``skip_quiet``: advance stretches of ticks in which nothing but time moves without
        their per-tick passes (``sim.quiet``; the same run to the bit); only without ``on_tick``.
        """
        target = self._end_s if until_s is None else float(until_s)
        if skip_quiet and on_tick is None and not progress:
            from autoinfra.sim.quiet import skip_quiet_ticks

            while self._now < target - 1e-9:
                skip_quiet_ticks(self, target)
                if self._now < target - 1e-9:
                    self.step()
            return
        if not progress:
            while self._now < target - 1e-9:
                self.step()
                if on_tick is not None:
                    on_tick(self)
            return
        from rich.progress import Progress  # lazy: rich is only needed for a progress bar

        start = self._now
        with Progress(transient=False) as bar:
            task = bar.add_task("simulating", total=max(target - start, 1e-9))
            every = max(1, int(60.0 / self.config.tick_s))  # redraw once a simulated minute
            k = 0
            while self._now < target - 1e-9:
                self.step()
                if on_tick is not None:
                    on_tick(self)
                k += 1
                if k % every == 0:
                    bar.update(task, completed=self._now - start)
            bar.update(task, completed=max(target - start, 1e-9))

    def _advance_world(self, dt: float) -> None:
        """Everything that happens at the new time, after the interval was integrated."""
        w = self._state
        now = self._now
        self._machine_events(now)
        while (due := self._time.pop_due()) is not None:
            self._timed_event(*due, now)
        self._arrivals(now)
        w.set_usage_step(self.workload.start_s + now)
        if len(w.queue):
            placed, victims, _ = w.place(now)
            self._counters["placements"] += placed
            self._counters["preemptions"] += int(victims.shape[0])
            self._counters["evictions"] += int(victims.shape[0])
            self._mem_check = self._mem_check or placed > 0
        if self._mem_check:
            self._mem_check = False
            killed, _ = w.relieve_memory()
            self._counters["memory_kills"] += int(killed.shape[0])
            self._counters["evictions"] += int(killed.shape[0])
        if np.count_nonzero(self._resizes.resized):  # (.any() costs twice this, every tick)
            self._counters["evictions"] += self._resizes.tick()  # OOM kills of cut requests
        w.respread_services()
        w.refresh(now)
        self._time.stale = False
        if self._faults.records:
            self._faults.check_recovery(now)

    def _arrivals(self, now: float) -> None:
        submit = self.workload.tasks.submit_s
        limit = self.workload.start_s + now + 1e-9
        if self._task_ptr >= submit.shape[0] or submit[self._task_ptr] > limit:
            return  # the next arrival is later
        j = int(np.searchsorted(submit, limit, side="right"))
        if j > self._task_ptr:
            ids = np.arange(self._task_ptr, j, dtype=np.int32)
            self._task_ptr = j
            w = self._state
            ids = ids[w.rec.status[ids] == ST_FUTURE]  # replicas scaled away before they arrived
            w.enqueue(ids)

    def _machine_events(self, now: float) -> None:
        times = self._mt_time
        if self._mt_ptr >= times.shape[0] or times[self._mt_ptr] > now + 1e-9:
            return  # the next machine event is later
        j = int(np.searchsorted(times, now + 1e-9, side="right"))
        w = self._state
        mt = self.workload.machines
        rows = np.arange(self._mt_ptr, j)
        self._mt_ptr = j
        slots = w.event_slot[rows]
        if (
            rows.shape[0] > 1
            and not self._faults.records  # no trace fault a re-add could clear
            and bool(np.all(mt.event[rows] == MachineEventType.ADD))
            and bool(np.all(w.mi[M_STATE, slots] == _ABSENT))
            and np.unique(slots).shape[0] == slots.shape[0]
        ):
            # a batch of fresh machines (the whole cell at t = 0): the loop below, as arrays
            w.add_machines(slots, mt.cpu[rows], mt.mem[rows], mt.platform[rows])
            self._mem_check = True
            return
        for r in rows:
            m = int(w.event_slot[r])
            ev = int(mt.event[r])
            if ev == MachineEventType.REMOVE:
                if w.mi[M_STATE, m] == MachineState.ABSENT:
                    continue
                ids, _ = w.evict_machine(m)
                self._counters["evictions"] += int(ids.shape[0])
                self._counters["trace_evictions"] += int(ids.shape[0])
                self._faults.trace_removal(m, ids, now)
                w.set_state(m, MachineState.ABSENT)
                self._events.add(
                    now,
                    "trace",
                    "machine_remove",
                    f"machine:{m}",
                    True,
                    f"{ids.shape[0]} tasks resubmitted",
                )
                continue
            w.set_capacity(m, float(mt.cpu[r]), float(mt.mem[r]), int(mt.platform[r]))
            self._mem_check = True
            if ev == MachineEventType.ADD and w.mi[M_STATE, m] == MachineState.ABSENT:
                w.set_state(m, MachineState.ON)
                self._faults.trace_readd(m, now)

    def _timed_event(self, kind: str, payload: int, now: float) -> None:
        w = self._state
        if kind == "boot":
            m = payload
            if w.mi[M_STATE, m] == MachineState.BOOTING and w.mf[M_BOOT_DONE, m] <= now + 1e-9:
                w.set_state(m, MachineState.ON)
        elif kind == "inject":
            spec = self._faults.schedule[payload]
            rec = self._faults.inject(spec, now)
            self._events.add(
                now, "scenario", f"inject_{rec.kind}", rec.target, rec.index >= 0, rec.detail
            )
            if spec.duration_s is not None and rec.active:
                self._time.schedule(now + spec.duration_s, "clear", rec.fault_id)
            delay = self.config.auto_evict_failed_after_s
            if rec.kind == "node_failure" and rec.active and delay is not None:
                self._time.schedule(now + delay, "auto_evict", rec.index)
        elif kind == "clear":
            self._faults.clear(payload, now)
            rec = self._faults.records[payload]
            self._events.add(now, "scenario", f"clear_{rec.kind}", rec.target, True, "")
        elif kind == "auto_evict":
            m = payload
            if w.mi[M_STATE, m] == MachineState.FAILED and w.mi[M_NTASKS, m] > 0:
                self._writer.evict_stranded(m, by="sim:auto-evict")

    # --- looking ---

    def observe(self) -> Observation:
        """What monitoring sees now (see ``autoinfra.sim.observe``)."""
        if self._time.stale:
            self._state.refresh(self._now)
            self._time.stale = False
        return build_observation(self._state, self._now)

    def machine_state(self, machine: int) -> MachineState:
        """The truth about a machine's state (FAILED included), for actuators' polls."""
        return self._writer.machine_state(machine)

    def machine_task_count(self, machine: int) -> int:
        return self._writer.machine_task_count(machine)

    def price_counters(self) -> dict[str, float]:
        """The price of overcommit so far (cumulative): tasks killed for memory, and
        machine-seconds throttled. A study subtracts the burn-in's from the run's end."""
        return {
            "memory_kills": float(self._counters["memory_kills"]),
            "throttled_machine_s": float(self._throttled_machine_s),
        }

    def record_detection(self, target: str, by: str, kind: str | None = None) -> bool:
        """A finding on ``target`` ("machine:i", "link:j", "rack:r"). True if it matches an active
        fault (the first such finding sets its detection time); otherwise a false alarm."""
        ok = self._faults.detect(target, by, kind, self._now)
        rec_kind = kind or ""
        self._events.add(self._now, by, "detect", target, ok, rec_kind)
        return ok

    def inject(self, spec: FaultSpec) -> str:
        """Inject one fault now, as the scenario's own timed events do; returns its target.

        For live runs that inject faults on their own schedule (``backends.sim``); a scenario's
        faults need none of this, the simulator injects them at their ``at_s``.
        """
        now = self._now
        rec = self._faults.inject(spec, now)
        self._events.add(
            now, "scenario", f"inject_{rec.kind}", rec.target, rec.index >= 0, rec.detail
        )
        if spec.duration_s is not None and rec.active:
            self._time.schedule(now + spec.duration_s, "clear", rec.fault_id)
        self._time.stale = True
        return rec.target

    def fault_frame(self) -> pd.DataFrame:
        """Every fault's timeline so far, one row each (``SimResults.faults`` without the rest)."""
        return self._faults.frame()

    def fork(self) -> Simulator:
        """An independent deep copy (arrays copied; the read-only workload is shared)."""
        w = self._state
        memo: dict[int, Any] = {
            id(w.workload): w.workload,
            id(self.scenario): self.scenario,
            id(self.config): self.config,
            id(w.machine_ids): w.machine_ids,
            id(w.link_rack): w.link_rack,
            id(w.service_ids): w.service_ids,
        }
        return copy.deepcopy(self, memo)

    # --- outputs ---

    def _record(self) -> None:
        w = self._state
        t = w.tot.tolist()  # Python floats: indexing a list is far cheaper than an array
        c = self._counters
        cap_cpu, cap_mem, demand = t[T_CAP_CPU], t[T_CAP_MEM], t[T_DEMAND]
        pue = self.config.pue
        n = T_N_STATE
        self._recorder.add(
            (
                self._now,
                t[T_USED_CPU] / cap_cpu if cap_cpu > 0 else 0.0,
                t[T_USED_MEM] / cap_mem if cap_mem > 0 else 0.0,
                t[T_ALLOC_CPU] / cap_cpu if cap_cpu > 0 else 0.0,
                t[T_ALLOC_MEM] / cap_mem if cap_mem > 0 else 0.0,
                t[T_POWER],
                t[T_POWER] * pue,
                self._energy_j / _J_PER_KWH,
                self._energy_j * pue / _J_PER_KWH,
                t[n + _ON],
                t[n + _DRAINING],
                t[n + _BOOTING],
                t[n + _OFF],
                t[n + _FAILED],
                t[n + _ABSENT],
                t[T_RUNNING],
                t[T_STRANDED],
                len(w.queue),
                t[T_UNSERVED] / demand if demand > 0 else 0.0,
                t[T_NET_SLOWED],
                t[T_MAX_LINK],
                c["finished"],
                c["evictions"],
                c["preemptions"],
                c["placements"],
                t[T_VIOLATING],
                w.n_services,
            )
        )
        self._next_record = self._now + self._record_every

    def results(self) -> SimResults:
        """The outputs so far (callable mid-run)."""
        tasks = self._state.rec.frame()
        ticks = self._recorder.frame()
        faults = self._faults.frame()
        summary = self._summary(ticks, tasks, faults)
        return SimResults(ticks, tasks, faults, self._events.frame(), summary)

    def _summary(self, ticks: Any, tasks: Any, faults: Any) -> dict[str, Any]:
        w = self._state
        c = self._counters
        scen = faults[faults["origin"] == "scenario"] if len(faults) else faults
        delays = tasks["sched_delay_s"].to_numpy(np.float64)
        delays = delays[np.isfinite(delays)]
        services = max(w.n_services, 1)
        counts = w.rec.counts()
        state_bytes = w.state_bytes()
        sim_bytes = sum(state_bytes[k] for k in ("task_records", "slots", "heap", "queue"))
        return {
            "sim_time_s": self._now,
            "ticks": self._ticks,
            "seed": self.seed,
            "scenario": self.scenario.name,
            "workload_source": self.workload.source,
            "usage_model": self.workload.usage.name,
            "usage_description": self.workload.usage.description,
            "config": self.config.to_dict(),
            "machines": w.n_machines,
            "services": w.n_services,
            "tasks_submitted": len(tasks),
            "tasks_pending": counts["pending"],
            "tasks_running": counts["running"],
            "tasks_ended": counts["ended"],
            "tasks_finished": c["finished"],
            "tasks_scaled_down": c["scaled_down"],
            "placements": c["placements"],
            "evictions": c["evictions"],
            "preemptions": c["preemptions"],
            "memory_kills": c["memory_kills"],
            "placement": self.config.placement,
            "unserved_cpu_s": self._unserved_cpu_s,
            "throttled_machine_s": self._throttled_machine_s,
            # right-sizing: resizes, resize_moves, resize_oom_kills, resize_throttled_ticks
            **self._resizes.counters,
            "stranded_evictions": c["stranded_evictions"],
            "trace_evictions": c["trace_evictions"],
            "work_lost_s": float(tasks["work_lost_s"].to_numpy(np.float64).sum())
            if len(tasks)
            else 0.0,
            "energy_kwh": self._energy_j / _J_PER_KWH,
            "facility_energy_kwh": self._energy_j * self.config.pue / _J_PER_KWH,
            "mean_power_w": self._energy_j / self._now if self._now > 0 else 0.0,
            "mean_cpu_util": float(ticks["cpu_util"].mean()) if len(ticks) else 0.0,
            "mean_mem_util": float(ticks["mem_util"].mean()) if len(ticks) else 0.0,
            "mean_cpu_alloc": float(ticks["cpu_alloc"].mean()) if len(ticks) else 0.0,
            "mean_sched_delay_s": float(delays.mean()) if delays.size else math.nan,
            "p90_sched_delay_s": float(np.quantile(delays, 0.9)) if delays.size else math.nan,
            "slo_violation_rate": float((ticks["services_violating"] / services).mean())
            if len(ticks) and w.n_services
            else 0.0,
            "faults_injected": len(scen),
            "faults_detected": int(scen["detected_s"].notna().sum()) if len(scen) else 0,
            "faults_mitigated": int(scen["mitigated_s"].notna().sum()) if len(scen) else 0,
            "faults_recovered": int(scen["recovered_s"].notna().sum()) if len(scen) else 0,
            "trace_removals": int(len(faults) - len(scen)),
            "false_alarms": self._faults.false_alarms,
            "state_bytes": state_bytes,
            "bytes_per_task": sim_bytes / max(w.rec.n, 1),
        }
