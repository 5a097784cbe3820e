"""Faults in the world: their effects, and each one's timeline.

The schedule (every fault's time and target) is drawn before the run from the seed and the trace
alone (``faults.schedule``), so every system of a seed meets the same faults. A fault's timeline
has four marks. *Injected* when the schedule says. *Detected* when the system under test reports
a finding of the fault's kind on its target while the fault is active
(``Simulator.record_detection``); a finding that matches no active fault is a false alarm.
*Mitigated* by the first mutator call that is aimed at the fault: its target and a remedy for
its kind (the table below) after the system detected it. An action that happens to touch a
fault nobody detected (the Cluster Autoscaler draining a hog's machine to save power) earns no
credit; its effect still shows in the world. *Recovered* when the world shows the damage is
gone, judged here from the state and never from what an actor claims:

- node_failure: mitigated by evict_stranded, drain or isolate of the machine; recovered when
  every task that was on it runs again (elsewhere) or has ended.
- cpu_hog: mitigated by kill_rogue, drain or isolate of the machine; recovered when the machine's
  tasks are no longer throttled (hog gone or tasks moved).
- network_congestion: mitigated by a reroute of the link's rack away from that link (draining a
  machine of the rack is not a remedy for an uplink); recovered when the rack's tasks are no
  longer slowed.
- intrusion: mitigated by kill_rogue or isolate of the machine; recovered when the rogue process
  is stopped.

Each fault ends with a ``resolution``: ``mitigated`` (recovered after a credited mitigation),
``expired`` (its ``duration_s`` ran out first), ``incidental`` (the world healed without a
credited action: its tasks ended or were moved by an action aimed elsewhere), ``no_effect``
(it found nothing to harm: its machine was not running, or nothing was throttled, slowed or
stranded when it struck; left out of the recovery figures) or ``open`` (not recovered yet).
``self_cleared`` marks ``expired`` and ``incidental``: faults that cleared without anyone fixing
them. The simulator's own mechanisms (``by`` starting ``sim:``, e.g. auto-eviction) are the
world's control plane and earn credit without a detection. The trace's own machine removals are
recorded too, with ``origin == "trace"``: their tasks are resubmitted at once, as Borg did, so
they are mitigated on injection and recover when those tasks run again.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
import pandas as pd

from autoinfra.core.errors import ConfigError
from autoinfra.core.observation import MachineState
from autoinfra.faults import FaultKind, FaultScenario, FaultSpec
from autoinfra.faults.schedule import draw_schedule
from autoinfra.sim.fault_records import FaultRecord, records_frame
from autoinfra.sim.layout import (
    I32,
    L_BACKGROUND,
    M_CPU_CAP,
    M_CPU_USED,
    M_EGRESS,
    M_FAILED_AT,
    M_FZ_CPU,
    M_FZ_EGRESS,
    M_FZ_MEM,
    M_FZ_THROTTLE,
    M_HOG_CPU,
    M_MEM_USE,
    M_NTASKS,
    M_PREV,
    M_ROGUE_EGRESS,
    M_STATE,
    M_THROTTLE,
    R_NET,
    R_TASKS,
    S_MACH,
    ST_ENDED,
    ST_RUNNING,
)
from autoinfra.sim.state import ClusterState
from autoinfra.traces.tables import MachineEventType

# A finding that arrives this soon after its fault stopped is late, not false.
DETECTION_GRACE_S = 60.0

# mutator op -> fault kinds it mitigates when aimed at the fault's machine
_MACHINE_MITIGATIONS: dict[str, frozenset[str]] = {
    "evict_stranded": frozenset({FaultKind.NODE_FAILURE}),
    "drain": frozenset({FaultKind.NODE_FAILURE, FaultKind.CPU_HOG}),
    "isolate": frozenset({FaultKind.NODE_FAILURE, FaultKind.CPU_HOG, FaultKind.INTRUSION}),
    "kill_rogue": frozenset({FaultKind.CPU_HOG, FaultKind.INTRUSION}),
}
_RUNNING = (MachineState.ON, MachineState.DRAINING)


class FaultBook:
    """Applies a scenario's faults to a ``ClusterState`` and keeps their timelines."""

    def __init__(
        self,
        scenario: FaultScenario,
        state: ClusterState,
        rng: np.random.Generator,
        *,
        run_end_s: float = math.inf,
    ) -> None:
        self.scenario = scenario
        self.state = state
        self.rng = rng
        self.records: list[FaultRecord] = []
        self.false_alarms = 0
        for i, spec in enumerate(scenario.faults):
            idx = spec.target_index
            limit = state.n_links if spec.kind == FaultKind.NETWORK_CONGESTION else state.n_machines
            if idx is not None and idx >= limit:
                raise ConfigError(
                    f"target {spec.target!r} does not exist: this cluster has {limit} "
                    f"{'links' if spec.kind == FaultKind.NETWORK_CONGESTION else 'machines'}",
                    source=scenario.source,
                    field=f"faults[{i}].target",
                )
        mt = state.workload.machines
        self._event_time = mt.time_s - state.workload.start_s
        self._run_end_s = run_end_s
        # drawn now, before any system acts: the seed and the trace decide, nothing else
        self.schedule: tuple[FaultSpec, ...] = draw_schedule(
            scenario,
            rng,
            run_end_s=run_end_s,
            machines_at=self.machines_at,
            link_rack=state.link_rack,
            machine_rack=state.machine_rack,
            granularity_s=state.config.tick_s,
        )

    def machines_at(self, t_s: float) -> npt.NDArray[np.int64]:
        """Slots the trace has in the cell at ``t_s`` (its last ADD/REMOVE up to then is ADD)."""
        w = self.state
        ev = w.workload.machines.event
        rows = np.flatnonzero((self._event_time <= t_s + 1e-9) & (ev != MachineEventType.UPDATE))
        last = np.full(w.n_machines, -1, dtype=np.int64)
        np.maximum.at(last, w.event_slot[rows], rows)  # rows are in time order
        seen = last >= 0
        present = np.zeros(w.n_machines, dtype=bool)
        present[seen] = ev[last[seen]] == MachineEventType.ADD
        return np.flatnonzero(present).astype(np.int64)

    # --- injection and clearing ---

    def inject(self, spec: FaultSpec, now: float) -> FaultRecord:
        """Apply one fault now. Scheduled faults come with their target; a ``random`` one (a
        live injection through ``backends.sim``) is drawn like the schedule's, from the trace."""
        w = self.state
        if spec.target == "random":
            one = FaultScenario(self.scenario.name, (spec,), self.scenario.source)
            (spec,) = draw_schedule(
                one,
                self.rng,
                run_end_s=self._run_end_s,
                machines_at=lambda _t: self.machines_at(now),
                link_rack=w.link_rack,
                machine_rack=w.machine_rack,
            )
        rec = FaultRecord(len(self.records), str(spec.kind), "scenario", spec, injected_s=now)
        self.records.append(rec)
        if spec.target == "none":
            rec.target, rec.detail = "none", "no machine in the cell to target"
            self._no_effect(rec, now)
            return rec
        idx = int(spec.target.split(":", 1)[1])
        if spec.kind == FaultKind.NETWORK_CONGESTION:
            rec.target, rec.index = f"link:{idx}", idx
            rec.rack = int(w.link_rack[idx])
            rec.load_added = spec.load * w.link_capacity_mbps
            w.lf[L_BACKGROUND, idx] += rec.load_added
            rec.active = True
            return rec
        rec.target, rec.index = f"machine:{idx}", idx
        state = int(w.mi[M_STATE, idx])
        if spec.kind == FaultKind.NODE_FAILURE:
            if state not in (*_RUNNING, MachineState.BOOTING):
                rec.detail = f"machine was {MachineState(state).name}: nothing to fail"
                self._no_effect(rec, now)
                return rec
            rec.tasks = w.machine_tasks(idx)
            self.fail_machine(idx, now)
            rec.active = True
            return rec
        if state not in _RUNNING:
            # no process runs on a machine that is off, booting, failed or out of the cell
            rec.detail = f"machine was {MachineState(state).name}: nothing runs there"
            self._no_effect(rec, now)
            return rec
        rec.cpu_added = spec.cpu_share * float(w.mf[M_CPU_CAP, idx])
        w.mf[M_HOG_CPU, idx] += rec.cpu_added
        if spec.kind == FaultKind.INTRUSION:
            rec.egress_added = spec.egress_mbps
            w.mf[M_ROGUE_EGRESS, idx] += rec.egress_added
        rec.active = True
        return rec

    def _no_effect(self, rec: FaultRecord, now: float) -> None:
        rec.no_effect, rec.resolution, rec.recovered_s = True, "no_effect", now

    def fail_machine(self, m: int, now: float) -> None:
        """The machine crashes: monitoring keeps its last report, its tasks are stranded."""
        w = self.state
        mf = w.mf
        w.mi[M_PREV, m] = w.mi[M_STATE, m]
        mf[M_FZ_CPU, m] = mf[M_CPU_USED, m]
        mf[M_FZ_MEM, m] = mf[M_MEM_USE, m]
        mf[M_FZ_EGRESS, m] = mf[M_EGRESS, m]
        mf[M_FZ_THROTTLE, m] = mf[M_THROTTLE, m]
        mf[M_FAILED_AT, m] = now
        w.set_state(m, MachineState.FAILED)

    def clear(self, fault_id: int, now: float) -> None:
        """The fault's duration is over: its cause leaves the state."""
        rec = self.records[fault_id]
        if not rec.active:
            return
        self._remove_cause(rec, now)
        if not rec.recovered:
            rec.recovered_s = now
            rec.self_cleared, rec.resolution = True, "expired"

    def _remove_cause(self, rec: FaultRecord, now: float) -> None:
        w = self.state
        rec.active = False
        rec.cleared_s = now
        if rec.kind == FaultKind.NETWORK_CONGESTION:
            w.lf[L_BACKGROUND, rec.index] = max(0.0, w.lf[L_BACKGROUND, rec.index] - rec.load_added)
        elif rec.kind == FaultKind.NODE_FAILURE:
            m = rec.index
            if w.mi[M_STATE, m] == MachineState.FAILED:
                prev = int(w.mi[M_PREV, m])
                w.set_state(
                    m, MachineState.DRAINING if prev == MachineState.DRAINING else MachineState.ON
                )
        else:
            m = rec.index
            w.mf[M_HOG_CPU, m] = max(0.0, w.mf[M_HOG_CPU, m] - rec.cpu_added)
            w.mf[M_ROGUE_EGRESS, m] = max(0.0, w.mf[M_ROGUE_EGRESS, m] - rec.egress_added)

    def kill_rogue(self, m: int, now: float) -> int:
        """Stop every hog or intruder process on machine m; returns how many were running."""
        killed = 0
        for rec in self.records:
            if (
                rec.active
                and rec.index == m
                and rec.kind in (FaultKind.CPU_HOG, FaultKind.INTRUSION)
            ):
                self._remove_cause(rec, now)
                killed += 1
        self.state.mf[M_HOG_CPU, m] = 0.0
        self.state.mf[M_ROGUE_EGRESS, m] = 0.0
        return killed

    # --- the trace's own machine removals ---

    def trace_removal(self, m: int, tasks: I32, now: float) -> None:
        rec = FaultRecord(
            len(self.records),
            str(FaultKind.NODE_FAILURE),
            "trace",
            None,
            target=f"machine:{m}",
            index=m,
            injected_s=now,
            mitigated_s=now,
            mitigated_by="trace",
            mitigated_op="resubmit",
            active=True,
            tasks=tasks,
            detail="machine removed by the trace",
        )
        self.records.append(rec)

    def trace_readd(self, m: int, now: float) -> None:
        for rec in self.records:
            if rec.origin == "trace" and rec.index == m and rec.active:
                rec.active = False
                rec.cleared_s = now

    # --- the timeline ---

    def mitigation(
        self,
        op: str,
        by: str,
        now: float,
        *,
        machine: int | None = None,
        rack: int | None = None,
        link: int | None = None,
    ) -> None:
        """Record ``op`` as the mitigation of every open fault it is aimed at (first one wins).

        Aimed at: the fault's own target, an op that remedies its kind, and a fault the system
        had detected (the world's own mechanisms, ``sim:...``, need no detection). Otherwise the
        first such op is kept as ``incidental`` for the record, and earns nothing.
        """
        for rec in self.records:
            if rec.origin != "scenario" or rec.index < 0 or not math.isnan(rec.mitigated_s):
                continue
            # a no-effect fault whose cause is still there keeps its timeline (not its figures)
            if rec.recovered and not (rec.no_effect and rec.active):
                continue
            if rec.kind == FaultKind.NETWORK_CONGESTION:
                hit = op == "reroute" and rack == rec.rack and link == rec.index
            else:
                hit = machine == rec.index and rec.kind in _MACHINE_MITIGATIONS.get(op, frozenset())
            if not hit:
                continue
            if not math.isnan(rec.detected_s) or by.startswith("sim:"):
                rec.mitigated_s, rec.mitigated_by, rec.mitigated_op = now, by, op
            elif math.isnan(rec.incidental_s):
                rec.incidental_s, rec.incidental_by, rec.incidental_op = now, by, op

    def detect(self, target: str, by: str, kind: str | None, now: float) -> bool:
        """A finding on ``target``: True if it matches a fault that is active, or stopped less
        than DETECTION_GRACE_S ago; else a false alarm. The fault's detection time is set by the
        first finding of its own kind (or of no stated kind): a ``cpu_hog`` finding about an
        intruder's machine is not a false alarm, but it does not detect the intrusion."""
        matches = []
        for rec in self.records:
            if rec.index < 0 or math.isnan(rec.injected_s):
                continue
            recent = rec.active or (now - rec.cleared_s <= DETECTION_GRACE_S)
            if recent and self._targets(rec, target):
                matches.append(rec)
        if not matches:
            self.false_alarms += 1
            return False
        matches.sort(
            key=lambda r: (
                kind is not None and r.kind != kind,
                not r.active,
                not math.isnan(r.detected_s),
            )
        )
        rec = matches[0]
        if rec.active and math.isnan(rec.detected_s) and (kind is None or rec.kind == kind):
            rec.detected_s, rec.detected_by = now, by
        return True

    def _targets(self, rec: FaultRecord, target: str) -> bool:
        if target == rec.target:
            return True
        return rec.kind == FaultKind.NETWORK_CONGESTION and target == f"rack:{rec.rack}"

    def check_recovery(self, now: float) -> None:
        """Mark recovered the faults whose damage the world no longer shows."""
        w = self.state
        for rec in self.records:
            if rec.recovered or rec.index < 0:
                continue
            if rec.kind == FaultKind.NODE_FAILURE:
                m = rec.index
                # cheap first: while the machine is down holding all its tasks, nothing is back
                down = w.mi[M_STATE, m] == MachineState.FAILED
                # (a machine that held nothing when it failed holds nothing back: recovered)
                held = down and rec.tasks.size > 0 and w.mi[M_NTASKS, m] == rec.tasks.size
                ok = not held and self._tasks_back(rec.tasks)
            elif rec.kind == FaultKind.CPU_HOG:
                m = rec.index
                ok = not rec.active or w.mi[M_NTASKS, m] == 0 or w.mf[M_THROTTLE, m] < 1e-3
            elif rec.kind == FaultKind.NETWORK_CONGESTION:
                ok = (
                    not rec.active
                    or w.rf[R_NET, rec.rack] >= 1.0 - 1e-9
                    or w.rf[R_TASKS, rec.rack] == 0
                )
            else:
                ok = not rec.active
            if not ok:
                continue
            rec.recovered_s = now
            if rec.origin != "scenario":
                rec.resolution = "mitigated"  # the trace's removals: resubmitted on injection
            elif now <= rec.injected_s and math.isnan(rec.mitigated_s):
                # healthy the instant it struck: nothing to recover from (an idle machine's hog)
                rec.no_effect, rec.resolution = True, "no_effect"
            elif not math.isnan(rec.mitigated_s):
                rec.resolution = "mitigated"
            else:
                rec.self_cleared, rec.resolution = True, "incidental"

    def _tasks_back(self, tasks: I32) -> bool:
        if tasks.size == 0:
            return True
        w = self.state
        st = w.rec.status[tasks]
        running = st == ST_RUNNING
        machines = w.pool.si[S_MACH, np.maximum(w.rec.slot[tasks], 0)]
        healthy = w.mi[M_STATE, machines] != MachineState.FAILED
        return bool(np.all((st == ST_ENDED) | (running & healthy)))

    def open_faults(self) -> int:
        return sum(1 for r in self.records if not r.recovered and r.index >= 0)

    def frame(self) -> pd.DataFrame:
        return records_frame(self.records)
