"""Faults in the world: their effects, and each one's timeline.

A fault's timeline has four marks. *Injected* when the scenario says. *Detected* when the system
under test reports a finding on the fault's target while the fault is active
(``Simulator.record_detection``); a finding that matches no active fault is a false alarm.
*Mitigated* by the first mutator call that addresses it (the table below). *Recovered* when the
world shows the damage is gone, judged here from the state and never from what an actor claims:

- node_failure: mitigated by evict_stranded, drain or isolate of the machine; recovered when
  every task that was on it runs again (elsewhere) or has ended.
- cpu_hog: mitigated by kill_rogue, drain or isolate of the machine; recovered when the machine's
  tasks are no longer throttled (hog gone or tasks moved).
- network_congestion: mitigated by a reroute of the link's rack away from that link, or a drain
  of a machine in that rack; recovered when the rack's tasks are no longer slowed.
- intrusion: mitigated by kill_rogue or isolate of the machine; recovered when the rogue process
  is stopped.

A fault with ``duration_s`` clears by itself then; if it had not recovered yet it counts as
recovered at that moment, with ``self_cleared`` set. The trace's own machine removals are recorded
too, with ``origin == "trace"``: their tasks are resubmitted at once, as Borg did, so they are
mitigated on injection and recover when those tasks run again.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from autoinfra.core.errors import ConfigError
from autoinfra.core.observation import MachineState
from autoinfra.faults import FaultKind, FaultScenario, FaultSpec
from autoinfra.sim.layout import (
    I32,
    L_BACKGROUND,
    L_OFFERED,
    L_WEIGHT,
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
    M_RACK,
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

NAN = math.nan
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


@dataclass(slots=True)
class FaultRecord:
    """One fault's target, effect bookkeeping and timeline (times in simulated seconds)."""

    fault_id: int
    kind: str
    origin: str  # "scenario" or "trace"
    spec: FaultSpec | None
    target: str = ""
    index: int = -1  # machine slot or link index; -1 when no target was eligible
    rack: int = -1
    injected_s: float = NAN
    detected_s: float = NAN
    detected_by: str = ""
    mitigated_s: float = NAN
    mitigated_by: str = ""
    mitigated_op: str = ""
    recovered_s: float = NAN
    cleared_s: float = NAN  # when its cause left the world (killed, rerouted away, cleared)
    self_cleared: bool = False
    active: bool = False  # its cause is present in the world now
    cpu_added: float = 0.0
    egress_added: float = 0.0
    load_added: float = 0.0
    tasks: I32 = field(default_factory=lambda: np.zeros(0, np.int32))
    detail: str = ""

    @property
    def recovered(self) -> bool:
        return not math.isnan(self.recovered_s)


class FaultBook:
    """Applies a scenario's faults to a ``ClusterState`` and keeps their timelines."""

    def __init__(
        self, scenario: FaultScenario, state: ClusterState, rng: np.random.Generator
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

    # --- injection and clearing ---

    def inject(self, spec: FaultSpec, now: float) -> FaultRecord:
        w = self.state
        rec = FaultRecord(len(self.records), str(spec.kind), "scenario", spec, injected_s=now)
        self.records.append(rec)
        idx = spec.target_index
        if idx is None:
            idx = self._draw_target(spec.kind)
        if idx < 0:
            rec.target, rec.detail, rec.recovered_s = "none", "no eligible target at injection", now
            return rec
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
                rec.recovered_s = now
                return rec
            rec.tasks = w.machine_tasks(idx)
            self.fail_machine(idx, now)
            rec.active = True
            return rec
        rec.cpu_added = spec.cpu_share * float(w.mf[M_CPU_CAP, idx])
        w.mf[M_HOG_CPU, idx] += rec.cpu_added
        if spec.kind == FaultKind.INTRUSION:
            rec.egress_added = spec.egress_mbps
            w.mf[M_ROGUE_EGRESS, idx] += rec.egress_added
        rec.active = True
        return rec

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
        """The fault's duration is over: its cause leaves the world."""
        rec = self.records[fault_id]
        if not rec.active:
            return
        self._remove_cause(rec, now)
        if not rec.recovered:
            rec.recovered_s = now
            rec.self_cleared = True

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

    def _draw_target(self, kind: FaultKind) -> int:
        w = self.state
        # distinct targets: one congestion per link, one machine fault per machine
        congestion = kind == FaultKind.NETWORK_CONGESTION
        taken = [
            r.index
            for r in self.records
            if r.active and (r.kind == FaultKind.NETWORK_CONGESTION) == congestion
        ]
        if kind == FaultKind.NETWORK_CONGESTION:
            ok = (w.lf[L_WEIGHT] > 0) & (w.lf[L_OFFERED] > 0)
        else:
            st = w.mi[M_STATE]
            ok = ((st == MachineState.ON) | (st == MachineState.DRAINING)) & (w.mi[M_NTASKS] > 0)
        cand = np.flatnonzero(ok)
        cand = cand[~np.isin(cand, np.asarray(taken, dtype=np.int64))]
        if cand.size == 0:
            return -1
        return int(self.rng.choice(cand))

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
        """Record ``op`` as the mitigation of every open fault it addresses (first one wins)."""
        w = self.state
        for rec in self.records:
            if rec.origin != "scenario" or rec.recovered or not math.isnan(rec.mitigated_s):
                continue
            if rec.index < 0:
                continue
            hit = False
            if rec.kind == FaultKind.NETWORK_CONGESTION:
                if op == "reroute" and rack == rec.rack and link == rec.index:
                    hit = True
                elif op in ("drain", "isolate") and machine is not None:
                    hit = int(w.mi[M_RACK, machine]) == rec.rack
            elif machine == rec.index and rec.kind in _MACHINE_MITIGATIONS.get(op, frozenset()):
                hit = True
            if hit:
                rec.mitigated_s, rec.mitigated_by, rec.mitigated_op = now, by, op

    def detect(self, target: str, by: str, kind: str | None, now: float) -> bool:
        """A finding on ``target``: True (and the first detection recorded) if it matches a
        fault that is active, or stopped less than DETECTION_GRACE_S ago; else a false alarm."""
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
        if rec.active and math.isnan(rec.detected_s):
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
                held = down and w.mi[M_NTASKS, m] == len(rec.tasks)
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
            if ok:
                rec.recovered_s = now

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
        rows: list[dict[str, Any]] = []
        for r in self.records:
            rows.append(
                {
                    "fault_id": r.fault_id,
                    "kind": r.kind,
                    "origin": r.origin,
                    "target": r.target,
                    "injected_s": r.injected_s,
                    "detected_s": r.detected_s,
                    "detected_by": r.detected_by,
                    "mitigated_s": r.mitigated_s,
                    "mitigated_by": r.mitigated_by,
                    "mitigated_op": r.mitigated_op,
                    "recovered_s": r.recovered_s,
                    "cleared_s": r.cleared_s,
                    "self_cleared": r.self_cleared,
                    "active": r.active,
                    "detect_s": r.detected_s - r.injected_s,
                    "mitigate_s": r.mitigated_s - r.injected_s,
                    "recovery_s": r.recovered_s - r.injected_s,
                    "tasks_affected": int(r.tasks.size),
                    "detail": r.detail,
                }
            )
        cols = [
            "fault_id",
            "kind",
            "origin",
            "target",
            "injected_s",
            "detected_s",
            "detected_by",
            "mitigated_s",
            "mitigated_by",
            "mitigated_op",
            "recovered_s",
            "cleared_s",
            "self_cleared",
            "active",
            "detect_s",
            "mitigate_s",
            "recovery_s",
            "tasks_affected",
            "detail",
        ]
        return pd.DataFrame(rows, columns=cols)
