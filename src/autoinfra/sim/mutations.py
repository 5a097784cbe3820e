"""The simulator's mutations: what actors (agents, baselines, a human model) may do to the cluster.

Each takes effect at once, is logged in ``SimResults.events`` (time, by, op, target, ok, detail),
and raises ``SimulationError`` with a message naming the machine, rack or service when the world's
state does not allow it (the failed call is logged too). After a change, rates and fault
recovery are recomputed so the next observation and the fault timeline see it immediately.
Whether a call mitigates an injected fault is decided by ``autoinfra.sim.incidents``.

``Mutations`` is an object the ``Simulator`` owns (``sim.writer``), holding references to the
state it changes: the ``ClusterState`` arrays, the fault book, the event log, the counters and
the shared ``Timeline``. It is the simulator's ``core.cluster.ClusterWriter``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import numpy as np

from autoinfra.core.errors import SimulationError
from autoinfra.core.observation import MachineState
from autoinfra.sim.config import SimSettings
from autoinfra.sim.incidents import FaultBook
from autoinfra.sim.layout import (
    END_SCALED_DOWN,
    L_WEIGHT,
    M_BOOT_DONE,
    M_CORDON,
    M_HOG_CPU,
    M_ISOLATED,
    M_NTASKS,
    M_ROGUE_EGRESS,
    M_STATE,
    S_MACH,
    ST_FUTURE,
    ST_PENDING,
    ST_RUNNING,
    V_BASE_DEM,
    V_DEMAND,
    V_DESIRED,
    V_DIRTY,
    V_MAX,
    V_MIN,
    V_PROF,
)
from autoinfra.sim.resize import Resizes
from autoinfra.sim.results import EventLog
from autoinfra.sim.state import ClusterState
from autoinfra.sim.timeline import Timeline

T = TypeVar("T")
_RUNNING = (MachineState.ON, MachineState.DRAINING)
_FAILED = int(MachineState.FAILED)


class Mutations:
    """Every change an actor may make to a simulated cluster, checked, applied and logged."""

    def __init__(
        self,
        state: ClusterState,
        faults: FaultBook,
        events: EventLog,
        counters: dict[str, int],
        timeline: Timeline,
        config: SimSettings,
        resizes: Resizes | None = None,
    ) -> None:
        self._state = state
        self._faults = faults
        self._events = events
        self._counters = counters
        self._timeline = timeline
        self.config = config
        # right-sizing: the requests in force and what cutting them costs (sim.resize)
        self._resizes = resizes if resizes is not None else Resizes(state)
        # set by a mutation that changed nothing the state pass reads (see _after_mutation)
        self._rates_kept = False
        self._stopped_placed = False  # the last scale-down stopped a placed replica

    @property
    def _now(self) -> float:
        return self._timeline.now_s

    # --- reads a writer needs (``ClusterWriter``): the truth, for actuators' polls ---

    def machine_state(self, machine: int) -> MachineState:
        """The truth about a machine's state (FAILED included), for actuators' polls."""
        return MachineState(int(self._state.mi[M_STATE, self._machine(machine)]))

    def machine_task_count(self, machine: int) -> int:
        return int(self._state.mi[M_NTASKS, self._machine(machine)])

    def _machine(self, machine: int) -> int:
        m = int(machine)
        if not 0 <= m < self._state.n_machines:
            raise SimulationError(
                f"no machine {machine}: slots are 0..{self._state.n_machines - 1}"
            )
        return m

    def _state_name(self, m: int) -> str:
        return MachineState(int(self._state.mi[M_STATE, m])).name

    def _after_mutation(self) -> None:
        """Rates, observation and fault recovery see a change at once."""
        kept, self._rates_kept = self._rates_kept, False  # set by this change alone, if at all
        # a change to what the state pass does not read (pending or not yet submitted replicas,
        # desired counts) after a pass at this instant: the pass would rewrite its own figures
        if not kept or self._timeline.stale:
            self._state.refresh(self._now)
            self._timeline.stale = False
        if self._faults.records:
            self._faults.check_recovery(self._now)

    def _act(self, op: str, target: str, by: str, fn: Callable[[], tuple[T, str]]) -> T:
        try:
            result, detail = fn()
        except SimulationError as exc:
            self._events.add(self._now, by, op, target, False, str(exc))
            raise
        self._events.add(self._now, by, op, target, True, detail)
        self._after_mutation()
        return result

    # --- services ---

    def set_service_replicas(self, service: int, replicas: int, by: str) -> None:
        """Set a service's desired replica count; new replicas queue now, surplus ones end
        (not-yet-placed ones first, then those on failed machines, then the newest)."""
        w = self._state

        def do() -> tuple[None, str]:
            s = int(service)
            if not 0 <= s < w.n_services:
                raise SimulationError(f"no service {service}: indices are 0..{w.n_services - 1}")
            lo, hi = int(w.vi[V_MIN, s]), int(w.vi[V_MAX, s])
            r = int(replicas)
            if not lo <= r <= hi:
                raise SimulationError(f"service {s}: {r} replicas is outside [{lo}, {hi}]")
            alive = w.alive_replicas(s)
            w.vi[V_DESIRED, s] = r
            diff = r - int(alive.shape[0])
            if diff > 0:
                w.enqueue(w.create_replicas(s, diff, self._now))
            elif diff < 0:
                self._scale_down(s, alive, -diff)
            # new replicas wait in the queue; only stopping a placed one changes the rates
            self._rates_kept = diff >= 0 or not self._stopped_placed
            return None, f"{int(alive.shape[0])} -> {r} replicas"

        self._act("set_service_replicas", f"service:{service}", by, do)

    def set_service_share(self, service: int, share: float, by: str) -> None:
        """Serve ``share`` of a service's traffic here (1.0: all the trace gives it).

        For a service replicated across regions: a region that shifts load away lowers its
        share and the receiving region raises its own, so their sum stays the service's demand.
        The replicas stay as they are; the scaling policies see the new demand and act on it.
        """
        w = self._state

        def do() -> tuple[None, str]:
            s = int(service)
            if not 0 <= s < w.n_services:
                raise SimulationError(f"no service {service}: indices are 0..{w.n_services - 1}")
            x = float(share)
            if not 0.0 <= x <= 16.0:  # NaN fails this too
                raise SimulationError(f"service {s}: share {share!r} is outside [0, 16]")
            before = w.vf[V_BASE_DEM, s] / w.trace_cpu_demand[s] if w.trace_cpu_demand[s] else 1.0
            w.vf[V_BASE_DEM, s] = w.trace_cpu_demand[s] * x
            prof = min(max(int(w.vi[V_PROF, s]), 0), w.shapes.shape[0] - 1)
            w.vf[V_DEMAND, s] = w.vf[V_BASE_DEM, s] * w.shape_col[prof]
            w.vi[V_DIRTY, s] = 1
            w.respread_services()
            return None, f"share {before:.3f} -> {x:.3f}"

        self._act("set_service_share", f"service:{service}", by, do)

    def resize_service_requests(
        self, service: int, cpu_request: float, mem_request: float, by: str
    ) -> None:
        """Give every replica of a service new CPU and memory requests (``sim.resize``): placed
        ones change in place (moved if they no longer fit), waiting ones are placed with them."""

        def do() -> tuple[None, str]:
            r = self._resizes.resize(service, cpu_request, mem_request)
            self._counters["evictions"] += r.moved + r.oom_killed
            return None, (
                f"cpu {cpu_request:.4f} mem {mem_request:.4f}: {r.replicas} placed replicas, "
                f"{r.moved} moved, {r.oom_killed} OOM-killed"
            )

        self._act("resize_service_requests", f"service:{service}", by, do)

    def _scale_down(self, s: int, alive: np.ndarray, k: int) -> None:
        w = self._state
        rec = w.rec
        # not yet submitted first, then pending, then stranded on a failed machine, then the
        # most recently started (a service has few replicas: plain Python is the fast way here)
        state = w.mi[M_STATE]
        machine = w.pool.si[S_MACH]
        ranked = []
        if alive.shape[0] <= 8:  # element look-ups: cheaper than three gathers for a few
            status_of, slot_of, start_of = rec.status, rec.slot, rec.start
            rows = [(tid, int(status_of[tid]), int(slot_of[tid]), float(start_of[tid]))
                    for tid in alive.tolist()]  # fmt: skip
        else:
            rows = list(zip(alive.tolist(), rec.status[alive].tolist(), rec.slot[alive].tolist(),
                            rec.start[alive].tolist(), strict=True))  # fmt: skip
        for tid, st, slot, start in rows:
            if st == ST_FUTURE:
                group = 0
            elif st == ST_PENDING:
                group = 1
            else:
                group = 2 if state[machine[slot]] == _FAILED else 3
            ranked.append((group, -(start if start == start else 0.0), tid, st))
        ranked.sort()
        chosen = ranked[:k]
        victims = np.array([row[2] for row in chosen], dtype=np.int32)
        # each victim's status is the one read above: split them without reading it again
        running = [row[2] for row in chosen if row[3] == ST_RUNNING]
        waiting = [row[2] for row in chosen if row[3] == ST_PENDING]
        self._stopped_placed = bool(running)
        if running:
            w.remove_running(np.array(running, dtype=np.int32))
        if waiting:
            w.drop_pending(np.array(waiting, dtype=np.int32))
        rec.finish(victims, self._now, END_SCALED_DOWN)
        self._counters["scaled_down"] += int(victims.shape[0])

    # --- machine power and scheduling ---

    def power_on(self, machine: int, by: str) -> None:
        """OFF -> BOOTING, and ON after ``config.boot_delay_s``."""
        w = self._state

        def do() -> tuple[None, str]:
            m = self._machine(machine)
            if w.mi[M_STATE, m] != MachineState.OFF:
                raise SimulationError(f"machine {m} is {self._state_name(m)}, not OFF")
            delay = self.config.boot_delay_s
            if delay <= 0:
                w.set_state(m, MachineState.ON)
                return None, "on at once (boot_delay_s = 0)"
            w.set_state(m, MachineState.BOOTING)
            w.mf[M_BOOT_DONE, m] = self._now + delay
            self._timeline.schedule(self._now + delay, "boot", m)
            return None, f"booting, on at {self._now + delay:.0f} s"

        self._act("power_on", f"machine:{machine}", by, do)

    def power_off(self, machine: int, by: str) -> None:
        """An empty ON (or drained) machine -> OFF."""
        w = self._state

        def do() -> tuple[None, str]:
            m = self._machine(machine)
            if w.mi[M_STATE, m] not in _RUNNING:
                raise SimulationError(f"machine {m} is {self._state_name(m)}, not ON")
            n = int(w.mi[M_NTASKS, m])
            if n:
                raise SimulationError(f"machine {m} still runs {n} tasks; drain it first")
            w.set_state(m, MachineState.OFF)
            return None, ""

        self._act("power_off", f"machine:{machine}", by, do)

    def cordon(self, machine: int, schedulable: bool, by: str) -> None:
        """Mark a machine (un)schedulable. Uncordoning also ends a drain or an isolation."""
        w = self._state

        def do() -> tuple[None, str]:
            m = self._machine(machine)
            if w.mi[M_STATE, m] == MachineState.ABSENT:
                raise SimulationError(f"machine {m} is ABSENT from the cell")
            if schedulable:
                w.mi[M_CORDON, m] = 0
                w.mi[M_ISOLATED, m] = 0
                if w.mi[M_STATE, m] == MachineState.DRAINING:
                    w.mi[M_STATE, m] = MachineState.ON
            else:
                w.mi[M_CORDON, m] = 1
            w.update_sched(m)
            return None, "schedulable" if schedulable else "cordoned"

        self._act("cordon", f"machine:{machine}", by, do)

    def drain(self, machine: int, by: str) -> int:
        """Cordon a machine and send its tasks back to the pending queue; returns how many."""
        w = self._state

        def do() -> tuple[int, str]:
            m = self._machine(machine)
            state = int(w.mi[M_STATE, m])
            if state not in (*_RUNNING, MachineState.FAILED):
                raise SimulationError(f"machine {m} is {self._state_name(m)}: nothing to drain")
            w.mi[M_CORDON, m] = 1
            if state != MachineState.FAILED:
                w.mi[M_STATE, m] = MachineState.DRAINING
            w.update_sched(m)
            n = self._evict(m, stranded=state == MachineState.FAILED)
            self._faults.mitigation("drain", by, self._now, machine=m)
            return n, f"{n} tasks evicted"

        return self._act("drain", f"machine:{machine}", by, do)

    def evict_stranded(self, machine: int, by: str) -> int:
        """Resubmit the tasks stranded on a FAILED machine; returns how many."""
        w = self._state

        def do() -> tuple[int, str]:
            m = self._machine(machine)
            if w.mi[M_STATE, m] != MachineState.FAILED:
                raise SimulationError(
                    f"machine {m} is {self._state_name(m)}, not FAILED: nothing is stranded"
                )
            n = self._evict(m, stranded=True)
            self._faults.mitigation("evict_stranded", by, self._now, machine=m)
            return n, f"{n} tasks resubmitted"

        return self._act("evict_stranded", f"machine:{machine}", by, do)

    def _evict(self, m: int, *, stranded: bool) -> int:
        ids, _ = self._state.evict_machine(m)
        n = int(ids.shape[0])
        self._counters["evictions"] += n
        if stranded:
            self._counters["stranded_evictions"] += n
        return n

    # --- rogue processes and isolation ---

    def kill_rogue(self, machine: int, by: str) -> None:
        """Stop a CPU hog or intruder process on the machine."""
        w = self._state

        def do() -> tuple[None, str]:
            m = self._machine(machine)
            if w.mi[M_STATE, m] not in _RUNNING:
                raise SimulationError(f"machine {m} is {self._state_name(m)}: unreachable")
            rogue = w.mf[M_HOG_CPU, m] > 0 or w.mf[M_ROGUE_EGRESS, m] > 0
            killed = self._faults.kill_rogue(m, self._now)
            if not rogue and not killed:
                raise SimulationError(f"no rogue process runs on machine {m}")
            self._faults.mitigation("kill_rogue", by, self._now, machine=m)
            return None, f"{killed} rogue process(es) stopped"

        self._act("kill_rogue", f"machine:{machine}", by, do)

    def isolate(self, machine: int, by: str) -> int:
        """Cut the machine's network, stop rogue processes and drain it; returns tasks moved."""
        w = self._state

        def do() -> tuple[int, str]:
            m = self._machine(machine)
            state = int(w.mi[M_STATE, m])
            if state in (MachineState.ABSENT, MachineState.OFF):
                raise SimulationError(f"machine {m} is {self._state_name(m)}: nothing to isolate")
            w.mi[M_ISOLATED, m] = 1
            w.mi[M_CORDON, m] = 1
            killed = self._faults.kill_rogue(m, self._now)
            if state == MachineState.ON:
                w.mi[M_STATE, m] = MachineState.DRAINING
            w.update_sched(m)
            n = self._evict(m, stranded=state == MachineState.FAILED)
            self._faults.mitigation("isolate", by, self._now, machine=m)
            return n, f"{n} tasks evicted, {killed} rogue process(es) stopped"

        return self._act("isolate", f"machine:{machine}", by, do)

    # --- network ---

    def reroute(self, rack: int, away_from_link: int, by: str) -> None:
        """Move a rack's traffic off one of its uplinks, shared equally over its other uplinks."""
        w = self._state

        def do() -> tuple[None, str]:
            r, link = int(rack), int(away_from_link)
            if not 0 <= r < w.n_racks:
                raise SimulationError(f"no rack {rack}: indices are 0..{w.n_racks - 1}")
            if not 0 <= link < w.n_links or int(w.link_rack[link]) != r:
                raise SimulationError(f"link {away_from_link} is not an uplink of rack {r}")
            links = np.flatnonzero(w.link_rack == r)
            others = links[links != link]
            if others.size == 0:
                raise SimulationError(f"rack {r} has no other uplink to move traffic to")
            moved = float(w.lf[L_WEIGHT, link])
            w.lf[L_WEIGHT, others] += moved / others.size
            w.lf[L_WEIGHT, link] = 0.0
            self._faults.mitigation("reroute", by, self._now, rack=r, link=link)
            return None, f"weight {moved:.2f} moved to links {others.tolist()}"

        self._act("reroute", f"rack:{rack}", by, do)

    def restore_routes(self, rack: int, by: str) -> None:
        """Spread a rack's traffic equally over all its uplinks again (undoes its reroutes).
        Mitigates nothing: a congested uplink is healed by moving traffic off it."""
        w = self._state

        def do() -> tuple[None, str]:
            r = int(rack)
            if not 0 <= r < w.n_racks:
                raise SimulationError(f"no rack {rack}: indices are 0..{w.n_racks - 1}")
            links = np.flatnonzero(w.link_rack == r)
            before = w.lf[L_WEIGHT, links].round(3).tolist()
            w.lf[L_WEIGHT, links] = 1.0 / links.size
            return None, f"weights {before} -> {1.0 / links.size:.2f} each"

        self._act("restore_routes", f"rack:{rack}", by, do)
