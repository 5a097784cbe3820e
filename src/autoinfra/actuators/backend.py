"""``BackendActuator``: acting on any cluster behind the ``core.cluster`` seam, idempotently.

The simulated actuator models an API's latency in simulated time; a live cluster has a real one,
so this actuator applies a request at the first ``poll`` after ``submit`` and then watches the
cluster (through the writer's read-backs) until the action has had its effect. The mapping of
actions to writer calls is the simulated actuator's (see ``actuators.simulated``), so the same
agents do the same things on every backend; ``by`` is the request id, so a backend's fault
timeline can say which action mitigated a fault. ``ResizeRequests`` needs a writer that is
``core.cluster.RequestResizing`` (the simulator's, Kubernetes'; others refuse it) and is done
when the reader shows the service's CPU request within 1 % of the one asked
(``checks.cpu_request_is``); ``RestoreRoutes`` one that is ``core.cluster.RouteRestoring`` (the
simulator's, the local network lab's; Kubernetes does not expose uplinks).

Idempotency by request id survives a restart: with ``journal_path`` every request is written to an
append-only JSON-lines journal *before* it is applied (``applying``) and after (``applied`` or
``refused``). A new actuator on the same journal never applies an id it finds there again; an id
whose ``applying`` line has no successor was interrupted mid-call (kill -9) and is reported as a
failed outcome that says so, never re-executed (``reconciled``).

``close()`` marks what is still open (``interrupted``), so a stopping runner can record every
in-flight action as finished or marked.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autoinfra.actuators.checks import Check, cpu_request_is, emptied, powered_on, state_is
from autoinfra.core.actions import (
    Action,
    DrainMachine,
    EvictTasks,
    IsolateMachine,
    KillProcess,
    Reroute,
    ResizeRequests,
    RestoreRoutes,
    ScaleService,
    SetMachinePower,
)
from autoinfra.core.clock import Clock
from autoinfra.core.cluster import ClusterReader, ClusterWriter, RequestResizing, RouteRestoring
from autoinfra.core.errors import ActionError, AutoinfraError
from autoinfra.core.observation import MachineState
from autoinfra.core.proposal import Outcome
from autoinfra.core.protocols import Actuator

__all__ = ["BackendActuator", "actuator_for", "interrupted_in"]

# a check of the cluster after the action was applied: True done, False failed, None not yet


@dataclass(slots=True)
class _Request:
    action: Action
    submitted_s: float
    applied_s: float | None = None
    check: Check | None = None


class BackendActuator:
    """``Actuator`` over a ``ClusterWriter``; see the module docstring."""

    def __init__(
        self,
        writer: ClusterWriter,
        reader: ClusterReader,
        clock: Clock,
        *,
        outcome_timeout_s: float = 900.0,
        journal_path: str | Path | None = None,
    ) -> None:
        if outcome_timeout_s <= 0:
            raise ActionError(f"outcome_timeout_s must be > 0, got {outcome_timeout_s}")
        self.writer = writer
        self.reader = reader
        self.clock = clock
        self.outcome_timeout_s = outcome_timeout_s
        self.journal_path = Path(journal_path) if journal_path is not None else None
        self._requests: dict[str, _Request] = {}
        self._open: list[str] = []
        self._done_before: set[str] = set()  # ids a previous process applied or refused
        self._reconciled: list[Outcome] = []  # interrupted ids found in the journal
        self.applied: list[tuple[float, str, Action]] = []
        if self.journal_path is not None:
            self._reconcile()

    # -- the protocol ---------------------------------------------------------------------------
    def submit(self, request_id: str, action: Action) -> None:
        if request_id in self._requests or request_id in self._done_before:
            return  # idempotent, also across restarts
        self._requests[request_id] = _Request(action, self.clock.now_s())
        self._open.append(request_id)

    def poll(self) -> list[Outcome]:
        now = self.clock.now_s()
        outcomes, self._reconciled = list(self._reconciled), []
        replicas: dict[int, int] = {}  # desired replicas set in this poll: steps compose
        still_open: list[str] = []
        for rid in self._open:
            req = self._requests[rid]
            if req.applied_s is None:
                self._journal(rid, "applying", req.action)
                try:
                    req.check = self._apply(rid, req.action, replicas)
                except AutoinfraError as exc:
                    self._journal(rid, "refused", req.action)
                    outcomes.append(Outcome(rid, False, now, f"refused by the cluster: {exc}"))
                    continue
                self._journal(rid, "applied", req.action)
                req.applied_s = now
                self.applied.append((now, rid, req.action))
            try:
                done, detail = req.check(self.writer) if req.check else (True, "applied")
            except AutoinfraError as exc:
                done, detail = False, f"could not confirm: {exc}"
            if done is None and now - req.submitted_s >= self.outcome_timeout_s:
                done, detail = False, f"no effect after {self.outcome_timeout_s:g} s: {detail}"
            if done is None:
                still_open.append(rid)
            else:
                outcomes.append(Outcome(rid, done, now, detail))
        self._open = still_open
        return outcomes

    @property
    def in_flight(self) -> int:
        return len(self._open)

    def close(self) -> list[Outcome]:
        """Mark every open request as interrupted (applied or not) and return those outcomes."""
        now = self.clock.now_s()
        out = []
        for rid in self._open:
            req = self._requests[rid]
            state = "applied, effect not confirmed" if req.applied_s is not None else "not applied"
            out.append(Outcome(rid, False, now, f"interrupted by shutdown ({state})"))
        self._open = []
        return out

    # -- journal --------------------------------------------------------------------------------
    def _journal(self, rid: str, step: str, action: Action) -> None:
        if self.journal_path is None:
            return
        line = json.dumps(
            {"request_id": rid, "step": step, "kind": action.kind, "target": action.target}
        )
        # one short line per write with O_APPEND, flushed and synced: a kill leaves whole lines
        fd = os.open(self.journal_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.write(fd, (line + "\n").encode())
            os.fsync(fd)
        finally:
            os.close(fd)

    def _reconcile(self) -> None:
        assert self.journal_path is not None
        if not self.journal_path.exists():
            return
        last: dict[str, dict[str, Any]] = {}
        for line in self.journal_path.read_text().splitlines():
            with contextlib.suppress(json.JSONDecodeError):  # a torn last line carries nothing
                row = json.loads(line)
                last[str(row["request_id"])] = row
        now = self.clock.now_s()
        for rid, row in last.items():
            self._done_before.add(rid)
            if row["step"] == "applying":
                detail = (
                    f"reconciled after a restart: {row['kind']} on {row['target']} was being "
                    "applied when the last run stopped; not executed again"
                )
                self._reconciled.append(Outcome(rid, False, now, detail))

    # -- the mapping (as actuators.simulated) ---------------------------------------------------
    def _apply(self, rid: str, action: Action, replicas: dict[int, int]) -> Check | None:
        w = self.writer
        if isinstance(action, ScaleService):
            obs = self.reader.observe()
            if not 0 <= action.service < obs.service_replicas.shape[0]:
                raise ActionError(f"no service {action.service}")
            current = replicas.get(action.service, int(obs.service_replicas[action.service]))
            target = max(0, current + action.delta_replicas)
            w.set_service_replicas(action.service, target, rid)
            replicas[action.service] = target
            return None
        if isinstance(action, SetMachinePower):
            m = action.machine
            if action.on:
                w.power_on(m, rid)
                return powered_on(m, rid)
            w.power_off(m, rid)
            return state_is(m, MachineState.OFF)
        if isinstance(action, DrainMachine):
            w.drain(action.machine, rid)
            return emptied(action.machine)
        if isinstance(action, EvictTasks):
            w.evict_stranded(action.machine, rid)
            with contextlib.suppress(AutoinfraError):  # a lost machine may refuse the cordon
                w.cordon(action.machine, False, rid)
            return emptied(action.machine)
        if isinstance(action, KillProcess):
            w.kill_rogue(action.machine, rid)
            return None
        if isinstance(action, IsolateMachine):
            w.isolate(action.machine, rid)
            return emptied(action.machine)
        if isinstance(action, Reroute):
            w.reroute(action.rack, action.away_from_link, rid)
            return None
        if isinstance(action, ResizeRequests):
            # not part of core.cluster's writer: only backends that model per-replica requests
            if not isinstance(w, RequestResizing):
                raise ActionError(f"{type(w).__name__} cannot resize a service's requests")
            w.resize_service_requests(action.service, action.cpu_request, action.mem_request, rid)
            return cpu_request_is(self.reader, action.service, action.cpu_request)
        if isinstance(action, RestoreRoutes):
            if not isinstance(w, RouteRestoring):
                raise ActionError(f"{type(w).__name__} cannot steer a rack's uplinks")
            w.restore_routes(action.rack, rid)
            return None
        raise ActionError(f"the backend actuator has no mapping for {action.kind!r}")


def interrupted_in(journal_path: str | Path) -> list[dict[str, Any]]:
    """The requests a journal shows as being applied when its process stopped (kill -9): their
    ``applying`` line has no ``applied`` or ``refused`` after it."""
    path = Path(journal_path)
    if not path.exists():
        return []
    last: dict[str, dict[str, Any]] = {}
    for line in path.read_text().splitlines():
        with contextlib.suppress(json.JSONDecodeError, KeyError, TypeError):
            row = json.loads(line)
            last[str(row["request_id"])] = row
    return [row for row in last.values() if row.get("step") == "applying"]



def actuator_for(cluster: Any, *, latency_s: float = 1.5) -> Actuator:
    """The actuator a preset puts on ``cluster``: the simulated one (with its modelled latency)
    on a bare simulator, a ``BackendActuator`` on a ``core.cluster.Backend``."""
    from autoinfra.actuators.simulated import SimulatedActuator
    from autoinfra.core.cluster import Backend

    if isinstance(cluster, Backend):
        return BackendActuator(cluster.writer, cluster.reader, cluster.clock)
    return SimulatedActuator(cluster, latency_s=latency_s)
