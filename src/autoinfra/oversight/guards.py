"""The guards' memory: every budget the gate has handed out, pending or approved, in one ledger.

The gate's three guards (rate, blast radius, headroom) are only as good as what they count. A
proposal escalated to a person takes its share of every budget the moment it is escalated, not
when the answer comes: otherwise an agent could park any number of requests in the queue and
have them all approved at once past every limit. So the ledger holds a :class:`Reservation` per
request the gate let through (approved, or waiting for an answer); a denied or expired request
gives its reservation back; an approved one is re-timed to the moment of approval, since that is
when it will act.

Approved reservations leave the rate and blast-radius window ``window_s`` after their approval.
Capacity the gate let be removed is remembered longer, in :meth:`GuardLedger.removed_mask`:
until observations at least ``window_s`` newer than the removal have been seen. A frozen or
stale observation keeps showing a drained machine as usable; the ledger does not, so the
headroom guard cannot be fooled by a picture that never shows what was already taken away.

Which actions count is stated once here (:func:`removes_capacity`, :func:`counts_for_radius`) so
the gate and the runtime's safe mode agree on it.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from autoinfra.core.actions import (
    Action,
    DrainMachine,
    EvictTasks,
    IsolateMachine,
    SetMachinePower,
)
from autoinfra.core.observation import Observation, runs_nothing

__all__ = ["GuardLedger", "Reservation", "counts_for_radius", "machine_of", "removes_capacity"]

# kinds that take a machine out of service: its capacity is gone once they act
_REMOVING_KINDS = frozenset({"drain_machine", "evict_tasks", "isolate_machine"})


def machine_of(action: Action) -> int | None:
    """The machine slot an action targets, or None for service and rack actions."""
    if action.target_kind != "machine":
        return None
    value = getattr(action, action.target_field, None)
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        return None  # a malformed action names no machine; the actuator refuses it
    return int(value)


def removes_capacity(action: Action) -> bool:
    """True for actions that take a machine's capacity away: power off, drain, evict, isolate.

    Judged on both the class and the kind, so an action that claims another kind than its class
    (or the other way round) is treated as removing when either says so.
    """
    if isinstance(action, SetMachinePower):
        return not bool(action.on)
    if isinstance(action, (DrainMachine, EvictTasks, IsolateMachine)):
        return True
    return action.kind in _REMOVING_KINDS or (
        action.kind == "set_machine_power" and not bool(getattr(action, "on", False))
    )


def counts_for_radius(action: Action, obs: Observation | None = None) -> bool:
    """Machine actions the blast radius counts: all but powering a machine on, powering off a
    machine that ``obs`` shows running nothing, and evicting the tasks of a lost machine.

    The radius bounds the work one agent's mistakes can disrupt at once. What every backend
    refuses on working machines disrupts none (``autoinfra.testing.conformance`` checks each):

    - switching off a machine that runs nothing (refused on a busy one,
      ``core.observation.runs_nothing``; without a picture it counts). It takes only capacity:
      the headroom guard still judges it and still remembers the machine as gone;
    - evicting the tasks of a machine (refused unless it has failed: they are lost already).

    So a flood of drains that spends the window's radius cannot hold back the repair of a failed
    machine. Killing a rogue process still counts: what a backend calls unaccounted for (on
    Kubernetes, a pod no controller owns) may be someone's work.
    """
    machine = machine_of(action)
    if machine is None:
        return False
    if type(action) is EvictTasks and action.kind == EvictTasks.kind:
        return False
    if isinstance(action, SetMachinePower) or action.kind == "set_machine_power":
        if not removes_capacity(action):
            return False
        return obs is None or not runs_nothing(obs, machine)
    return True


@dataclass(slots=True)
class Reservation:
    """One request's share of the guards' budgets."""

    request_id: str
    agent: str
    target: str
    machine: int | None  # the machine it acts on (None: a service or rack action)
    removes: bool  # takes capacity away (headroom, and the cluster-wide removal budget)
    at_s: float  # when it was approved, or escalated while it is pending
    pending: bool
    in_radius: bool = True  # counted by the blast radius (see counts_for_radius)

    @classmethod
    def of(
        cls,
        request_id: str,
        agent: str,
        action: Action,
        at_s: float,
        *,
        pending: bool,
        obs: Observation | None = None,
    ) -> Reservation:
        """The shares ``action`` takes, judged on ``obs`` (without one, the radius counts it)."""
        removes = removes_capacity(action)
        in_radius = counts_for_radius(action, obs)
        # powering on: neither the radius nor the headroom counts the machine
        machine = machine_of(action) if in_radius or removes else None
        return cls(request_id, agent, action.target, machine, removes, at_s, pending, in_radius)


class GuardLedger:
    """Reservations with running counts, so a review never rescans the window."""

    def __init__(self) -> None:
        self._entries: dict[str, Reservation] = {}
        self._order: deque[tuple[float, str]] = deque()  # approved entries, oldest first
        self.per_agent: Counter[str] = Counter()
        self.per_target: Counter[tuple[str, str]] = Counter()
        self.touched: dict[str, Counter[int]] = {}  # per agent, machines in the radius
        self.removing: Counter[int] = Counter()  # cluster-wide, machines whose capacity goes
        self._radius_removing: Counter[int] = Counter()  # of those, the ones the radius counts
        self._removed_at: dict[int, tuple[float, str]] = {}  # machine -> (when, by which request)

    def __contains__(self, request_id: str) -> bool:
        return request_id in self._entries

    def get(self, request_id: str) -> Reservation | None:
        return self._entries.get(request_id)

    def pending_count(self) -> int:
        return sum(1 for r in self._entries.values() if r.pending)

    # -- changes ---------------------------------------------------------------------------------
    def add(self, res: Reservation) -> None:
        if res.request_id in self._entries:
            self.release(res.request_id)
        self._entries[res.request_id] = res
        self.per_agent[res.agent] += 1
        self.per_target[(res.agent, res.target)] += 1
        if res.machine is not None:
            if res.in_radius:
                self.touched.setdefault(res.agent, Counter())[res.machine] += 1
            if res.removes:
                self.removing[res.machine] += 1
                if res.in_radius:
                    self._radius_removing[res.machine] += 1
                if not res.pending:
                    self._removed_at[res.machine] = (res.at_s, res.request_id)
        if not res.pending:
            self._order.append((res.at_s, res.request_id))

    def release(self, request_id: str, *, forget_removal: bool = True) -> Reservation | None:
        """Give a request's budget back (denied, expired, refused on a re-check)."""
        res = self._entries.pop(request_id, None)
        if res is None:
            return None
        _drop(self.per_agent, res.agent)
        _drop(self.per_target, (res.agent, res.target))
        if res.machine is not None:
            if res.in_radius:
                _drop(self.touched[res.agent], res.machine)
                if not self.touched[res.agent]:
                    del self.touched[res.agent]
            if res.removes:
                _drop(self.removing, res.machine)
                if res.in_radius:
                    _drop(self._radius_removing, res.machine)
                held = self._removed_at.get(res.machine)
                if forget_removal and held is not None and held[1] == request_id:
                    del self._removed_at[res.machine]
        return res

    def forget_removal(self, request_id: str) -> None:
        """The request will not act after all: forget the capacity it was to remove."""
        for m, (_, rid) in list(self._removed_at.items()):
            if rid == request_id:
                del self._removed_at[m]

    def expire(self, horizon_s: float) -> None:
        """Approved reservations made at or before ``horizon_s`` leave the window."""
        while self._order and self._order[0][0] <= horizon_s:
            at_s, rid = self._order.popleft()
            res = self._entries.get(rid)
            if res is not None and not res.pending and res.at_s == at_s:
                # the window forgets it; the headroom memory keeps the removal (see below)
                self.release(rid, forget_removal=False)

    # -- the headroom guard's view ---------------------------------------------------------------
    def removed_mask(self, n_machines: int, observed_at_s: float, memory_s: float) -> Bool:
        """Machines whose capacity the gate let go, as far as the observation may not show yet.

        A removal is forgotten only once an observation ``memory_s`` newer than it has been seen:
        by then monitoring shows it (or shows that it did not happen or was undone).
        """
        for m, (at_s, _) in list(self._removed_at.items()):
            if observed_at_s >= at_s + memory_s and m not in self.removing:
                del self._removed_at[m]
        mask = np.zeros(n_machines, dtype=bool)
        for m in (*self.removing, *self._removed_at):
            if 0 <= m < n_machines:
                mask[m] = True
        return mask

    def removed_count(self) -> int:
        """Distinct machines in the window whose removal the blast radius counts (any agent)."""
        return len(self._radius_removing)

    def radius_counts_removal_of(self, machine: int) -> bool:
        """Whether the radius already counts a removal of ``machine`` in the window. A removal it
        leaves out (evicting a lost machine's tasks) does not: the next one of that machine that
        it does count is a new machine for it."""
        return machine in self._radius_removing


Bool = npt.NDArray[np.bool_]


def _drop(counter: Counter[Any], key: Any) -> None:
    counter[key] -= 1
    if counter[key] <= 0:
        del counter[key]
