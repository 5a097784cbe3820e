"""Acting on the simulator as a cluster API would: after a latency, idempotently, outcomes polled.

``SimulatedActuator`` stands where a Kubernetes or cloud client would stand. It models three
things a real control plane does and a direct function call would hide:

- **API latency** (``latency_s``, default 1.5 s): the time from the executor's request to the
  change in the cluster: an API round trip plus the controller reacting to it, about 1-2 s in a
  Kubernetes control plane. This is our assumption, not a published figure. The change is applied
  at the first ``poll`` at or after ``submit time + latency_s``; the harness polls once per
  simulator tick, so the delay is effectively rounded up to the tick.
- **Idempotency by request id**: submitting an id again does nothing, so a retried request cannot
  power a machine off twice.
- **Eventual outcomes**: ``submit`` never raises for a refused action. The mutator's
  ``SimulationError`` comes back from ``poll`` as a failed outcome, and an action that was applied
  succeeds only once the world shows its effect (a machine powered on is ON after its boot delay,
  a drained machine is empty), or fails after ``outcome_timeout_s``.

Mapping of actions to the simulator's mutations (``sim.writer``; ``by`` is the request id, so the
fault timeline records which action mitigated a fault):

=====================  ==========================================  ==============================
action                 mutator(s)                                  succeeds when
=====================  ==========================================  ==============================
ScaleService           set_service_replicas(current + delta)       applied
SetMachinePower(on)    power_on (then cordon(schedulable) at ON)   machine is ON
SetMachinePower(off)   power_off                                   machine is OFF
DrainMachine           drain                                       machine has no tasks
EvictTasks             evict_stranded, then cordon (best effort)   machine has no tasks
KillProcess            kill_rogue                                  applied
IsolateMachine         isolate                                     machine has no tasks
Reroute                reroute                                     applied
ResizeRequests         resize_service_requests                     applied
RestoreRoutes          restore_routes                              applied
=====================  ==========================================  ==============================

The table is keyed by exact class (``_HANDLERS``), the same closed set ``core.actions.ACTION_TYPES``
names and the scope and risk checks read: an object of any other class, or an action whose fields
were forced to bad values after construction, is not dispatched; it comes back from ``poll`` as a
failed outcome. ``submit`` keeps a checked copy (``core.actions.rebuild``), so what is applied
later is what was submitted.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from autoinfra.actuators.checks import Check, emptied, powered_on, state_is
from autoinfra.core.actions import (
    ACTION_TYPES,
    Action,
    DrainMachine,
    EvictTasks,
    InvalidAction,
    IsolateMachine,
    KillProcess,
    Reroute,
    ResizeRequests,
    RestoreRoutes,
    ScaleService,
    SetMachinePower,
    rebuild,
)
from autoinfra.core.cluster import ClusterReader, ClusterWriter, cluster_parts
from autoinfra.core.errors import ActionError, SimulationError
from autoinfra.core.observation import MachineState, Observation
from autoinfra.core.proposal import Outcome

__all__ = ["SimBackend", "SimulatedActuator"]


# what an actuator is handed: the simulator (``reader``, ``writer``, ``clock``), a
# ``core.cluster.Backend``, or one object that reads and writes (a test's fake cluster)
SimBackend = Any


# a check of the world after the action was applied: True done, False failed, None not yet


@dataclass(slots=True)
class _Request:
    action: Action
    submitted_s: float
    apply_at_s: float
    applied_s: float | None = None
    check: Check | None = None
    refused: str = ""  # why the request was not an action this actuator may apply


class SimulatedActuator:
    """``Actuator`` over a simulator. See the module docstring for what it models."""

    def __init__(
        self,
        sim: SimBackend,
        *,
        latency_s: float = 1.5,
        outcome_timeout_s: float = 900.0,
    ) -> None:
        if latency_s < 0 or outcome_timeout_s <= 0:
            raise ActionError(
                f"latency_s must be >= 0 and outcome_timeout_s > 0, got {latency_s}, "
                f"{outcome_timeout_s}"
            )
        self.sim = sim
        self._reader: ClusterReader
        self._writer: ClusterWriter
        self._reader, self._writer, _ = cluster_parts(sim)
        self.latency_s = latency_s
        # a boot is 3-4 min on a public cloud (Cluster Autoscaler FAQ); 15 min covers it
        self.outcome_timeout_s = outcome_timeout_s
        self._requests: dict[str, _Request] = {}
        self._open: list[str] = []  # ids without an outcome yet, in submission order
        self.applied: list[tuple[float, str, Action]] = []  # what reached the world, for tests
        self._obs: Observation | None = None

    def submit(self, request_id: str, action: Action) -> None:
        if request_id in self._requests:
            return  # idempotent: the same request id is one request
        now = float(self._reader.now_s)
        refused = ""
        try:
            action = rebuild(action)  # a copy no one else can change before it is applied
        except InvalidAction as exc:
            refused = str(exc)
        self._requests[request_id] = _Request(action, now, now + self.latency_s, refused=refused)
        self._open.append(request_id)

    def poll(self) -> list[Outcome]:
        now = float(self._reader.now_s)
        self._obs = None  # one snapshot per poll, built only if a scaling step needs it
        self._replicas: dict[int, int] = {}  # desired replicas set during this poll
        outcomes: list[Outcome] = []
        still_open: list[str] = []
        for rid in self._open:
            req = self._requests[rid]
            if req.refused:
                outcomes.append(Outcome(rid, False, now, f"not an action: {req.refused}"))
                continue
            if req.applied_s is None:
                if now + 1e-9 < req.apply_at_s:
                    still_open.append(rid)
                    continue
                try:
                    req.check = self._apply(rid, req.action)
                except SimulationError as exc:
                    outcomes.append(Outcome(rid, False, now, f"refused by the cluster: {exc}"))
                    continue
                req.applied_s = now
                self.applied.append((now, rid, req.action))
            done, detail = req.check(self._writer) if req.check is not None else (True, "applied")
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

    # -- the mapping -----------------------------------------------------------------------------
    def _apply(self, rid: str, action: Action) -> Check | None:
        handler = _HANDLERS.get(type(action))  # exact class: no subclass can pose as another
        if handler is None:
            raise SimulationError(
                f"the simulated actuator has no mapping for {type(action).__name__}"
            )
        return handler(self, rid, action)

    def _scale(self, rid: str, action: ScaleService) -> Check | None:
        if self._obs is None:
            self._obs = self._reader.observe()
        obs = self._obs
        if not 0 <= action.service < obs.service_replicas.shape[0]:
            raise SimulationError(f"no service {action.service}")
        # steps compose: a second step on a service in the same poll starts from the first
        current = self._replicas.get(action.service, int(obs.service_replicas[action.service]))
        replicas = max(0, current + action.delta_replicas)
        self._writer.set_service_replicas(action.service, replicas, rid)
        self._replicas[action.service] = replicas
        return None

    def _power(self, rid: str, action: SetMachinePower) -> Check | None:
        m = action.machine
        if action.on:
            self._writer.power_on(m, rid)
            return powered_on(m, rid)
        self._writer.power_off(m, rid)
        return state_is(m, MachineState.OFF)

    def _drain(self, rid: str, action: DrainMachine) -> Check | None:
        self._writer.drain(action.machine, rid)
        return emptied(action.machine)

    def _evict(self, rid: str, action: EvictTasks) -> Check | None:
        self._writer.evict_stranded(action.machine, rid)
        # nothing should be placed on a lost machine until someone has looked at it; the tasks
        # are resubmitted either way, and a failed machine may refuse the cordon
        with contextlib.suppress(SimulationError):
            self._writer.cordon(action.machine, False, rid)
        return emptied(action.machine)

    def _kill(self, rid: str, action: KillProcess) -> Check | None:
        self._writer.kill_rogue(action.machine, rid)
        return None

    def _isolate(self, rid: str, action: IsolateMachine) -> Check | None:
        self._writer.isolate(action.machine, rid)
        return emptied(action.machine)

    def _reroute(self, rid: str, action: Reroute) -> Check | None:
        self._writer.reroute(action.rack, action.away_from_link, rid)
        return None

    def _resize(self, rid: str, action: ResizeRequests) -> Check | None:
        # not part of core.cluster's writer: only the simulator models per-replica requests
        resize = getattr(self._writer, "resize_service_requests", None)
        if resize is None:
            who = type(self._writer).__name__
            raise SimulationError(f"{who} cannot resize a service's requests")
        resize(action.service, action.cpu_request, action.mem_request, rid)
        return None

    def _restore(self, rid: str, action: RestoreRoutes) -> Check | None:
        restore = getattr(self._writer, "restore_routes", None)
        if restore is None:
            raise SimulationError(f"{type(self._writer).__name__} cannot steer a rack's uplinks")
        restore(action.rack, rid)
        return None


_Handler = Callable[[SimulatedActuator, str, Any], "Check | None"]
_HANDLERS: Mapping[type[Action], _Handler] = {
    ScaleService: SimulatedActuator._scale,
    SetMachinePower: SimulatedActuator._power,
    DrainMachine: SimulatedActuator._drain,
    EvictTasks: SimulatedActuator._evict,
    KillProcess: SimulatedActuator._kill,
    IsolateMachine: SimulatedActuator._isolate,
    Reroute: SimulatedActuator._reroute,
    ResizeRequests: SimulatedActuator._resize,
    RestoreRoutes: SimulatedActuator._restore,
}
# the actuator and the closed set must name the same classes: a new action needs a handler
if set(_HANDLERS) != set(ACTION_TYPES):
    raise ImportError("SimulatedActuator's handlers and core.actions.ACTION_TYPES disagree")
