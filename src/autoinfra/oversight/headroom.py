"""The headroom guard: capacity is removed only while what is left covers the demand with room.

Room means ``min_headroom_share`` of the capacity left free, judged on the gate's own memory
rather than on the picture alone:

- **Capacity** is the CPU of machines that are ON, schedulable and heard from within
  ``heartbeat_limit_s``, minus every machine the gate already let go (``GuardLedger
  .removed_mask``): a frozen picture that still shows drained machines as usable counts nothing
  twice. Removing a machine monitoring already shows out of service removes nothing.
- **Demand** is the CPU requested on every machine that should be running plus what is pending,
  but never believed to fall faster than ``demand_fall_share`` per window (compounded): no honest
  replay of the shipped trace falls faster (``telemetry.trust.DEMAND_FALL_MEASURED``). A picture
  showing less demand than that belief is one on which no capacity is removed at all: a spoofed
  idle cell looks exactly like that. A picture that lies by less can shave at most
  ``demand_fall_share`` off the demand the headroom is kept for. Reservation cuts the gate itself
  approved (scale-downs, request resizes down: :meth:`HeadroomGuard.note_cut`) lower that floor
  by what they cut, for a window: a fall the gate let happen is no sign of a spoofed picture. The
  credit is capped at what the peak's own picture showed the services reserving (times
  ``1 - demand_fall_share``): only services' reservations can be cut, and a later, lying picture
  cannot size the cuts past that. What batch work reserves is never credited away.

**Placement by reservations.** A backend that places some work against reservations (usage plus
a margin, Borg's resource reclamation; ``sim.config.SimSettings.placement``) reports per machine
what placement counts as taken (``core.observation.placement_counted``) and the time constant
its reservations decay with. Room is then judged on that counted demand: the believed requests
times the share of them placement counts. That share is believed to fall no faster than the
declared decay (``share >= peak share x exp(-elapsed / decay)``, over remembered beliefs, so
compounded): reservations only fall by decaying, and a picture that claims more reclaimed than
that is believed only that far. A backend that declares no decay is judged on requests alone.
Removing a machine moves its tasks, and a task placed anew reserves its whole request again: the
CPU the reservations of the machines let go had reclaimed counts as demand on what is left.
Honest falls of the share (fresh tasks leaving) only make the belief cautious for a while.

Memory gets the same room, judged on the picture (what placement counts plus pending): once CPU
is placed by reservations, memory, still placed by requests, is what binds.

A request resize (``ResizeRequests``) that grows a service's reservation is judged the same way:
the CPU it adds (new minus old request, times the replicas) is demand, and it passes only while
the headroom is still there afterwards. A resize that shrinks a reservation frees capacity and
always passes this guard (its costs, throttling and memory kills, are the risk model's to weigh).
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np
import numpy.typing as npt

from autoinfra.core.actions import ResizeRequests
from autoinfra.core.observation import (
    MachineState,
    Observation,
    placement_counted,
    reservation_decay_s,
    taken_after_moves,
)
from autoinfra.oversight.gate_settings import GateSettings
from autoinfra.oversight.guards import GuardLedger

__all__ = ["HeadroomGuard"]


class HeadroomGuard:
    """The guard, with its memory of the demand it believed in the last window."""

    def __init__(self, settings: GateSettings) -> None:
        self.settings = settings
        # (observation time, believed CPU, the services' reservations in that picture)
        self._demand: deque[tuple[float, float, float]] = deque()
        self._seen_at: float | None = None
        self._cuts: deque[tuple[float, float]] = deque()  # (when approved, CPU of reservation cut)
        # believed counted shares: (observation time, log share + time / decay), a monotone queue
        # whose front gives the floor ``exp(key - now / decay)``
        self._share: deque[tuple[float, float]] = deque()

    def note_cut(self, at_s: float, cpu: float) -> None:
        """A reservation cut the gate approved (a scale-down, a request resize down): demand
        falling by that much is the gate's own doing, not a spoofed picture."""
        if cpu > 0:
            self._cuts.append((float(at_s), float(cpu)))

    def approved_cuts(self, now_s: float) -> float:
        """CPU of the reservation cuts the gate approved in the last window."""
        horizon = now_s - self.settings.window_s
        while self._cuts and self._cuts[0][0] < horizon:
            self._cuts.popleft()
        return sum(c for _, c in self._cuts)

    def usable(self, obs: Observation) -> npt.NDArray[np.bool_]:
        usable = (obs.machine_state == MachineState.ON) & obs.schedulable
        return usable & (obs.heartbeat_age_s <= self.settings.heartbeat_limit_s)

    @staticmethod
    def _demand_of(obs: Observation) -> float:
        """CPU requested on every machine that should be running (silent or draining ones too:
        their tasks need a place) plus what waits to be placed."""
        s = obs.machine_state
        running = (s == MachineState.ON) | (s == MachineState.DRAINING)
        return float(obs.cpu_requested[running].sum()) + float(obs.pending_cpu)

    @staticmethod
    def _running(obs: Observation) -> npt.NDArray[np.bool_]:
        s = obs.machine_state
        return (s == MachineState.ON) | (s == MachineState.DRAINING)

    def _counted_share(self, obs: Observation) -> float:
        """The believed share of the requested (plus pending) CPU that placement counts: 1 for
        a backend that places by requests; never below the declared decay of an earlier belief."""
        decay = reservation_decay_s(obs)
        if decay is None:
            return 1.0
        running = self._running(obs)
        requested = float(obs.cpu_requested[running].sum()) + float(obs.pending_cpu)
        counted = float(placement_counted(obs)[running].sum()) + float(obs.pending_cpu)
        shown = min(1.0, counted / requested) if requested > 1e-12 else 1.0
        horizon = obs.time_s - self.settings.window_s
        while len(self._share) > 1 and self._share[0][0] < horizon:
            self._share.popleft()  # the newest belief always stays: it carries the bound on
        floor = math.exp(self._share[0][1] - obs.time_s / decay) if self._share else 0.0
        return min(1.0, max(shown, floor))

    def _note_share(self, obs: Observation) -> None:
        decay = reservation_decay_s(obs)
        if decay is None:
            return
        # every picture is noted, even two of one timestamp: noting one twice changes nothing
        # (the queue keeps the larger key), and a second, higher one must not be forgotten
        share = self._counted_share(obs)
        key = math.log(max(share, 1e-12)) + obs.time_s / decay
        while self._share and self._share[-1][1] <= key:
            self._share.pop()
        self._share.append((obs.time_s, key))

    def note(self, obs: Observation) -> None:
        """Remember what was believed of each new observation's demand.

        The belief, not the raw figure, is remembered: so it can fall by at most
        ``demand_fall_share`` per window, compounded, however long a spoofed picture lasts
        (honest demand, which never falls that fast, is always believed as it is).
        """
        self._note_share(obs)
        if self._seen_at == obs.time_s:
            return
        self._seen_at = obs.time_s
        shown = self._demand_of(obs)
        demand = self._believed_demand(obs, shown)
        services = min(shown, _service_reservations(obs))
        while self._demand and self._demand[-1][1] <= demand:
            # a monotone queue: its front is the window's peak. The services' reservations it
            # carries are the least any picture it replaces showed: a picture that matches the
            # peak cannot raise what may be credited
            services = min(services, self._demand.pop()[2])
        self._demand.append((obs.time_s, demand, services))

    def _believed_demand(self, obs: Observation, demand: float) -> float:
        """Observed demand, but no less than (1 - demand_fall_share) x the window's peak, less
        the reservation cuts the gate itself approved in the window."""
        horizon = obs.time_s - self.settings.window_s
        while self._demand and self._demand[0][0] < horizon:
            self._demand.popleft()
        peak = self._demand[0][1] if self._demand else demand
        services = self._demand[0][2] if self._demand else 0.0
        fall = self.settings.demand_fall_share
        # what the gate approved lowers the floor, but by no more than the services held in the
        # peak's own picture: only services' reservations can be cut, and the cuts are sized on
        # later pictures, which must not size them past what the peak showed
        credit = min(self.approved_cuts(obs.time_s), (1.0 - fall) * services)
        return max(demand, (1.0 - fall) * peak - credit)

    def demand_shown(self, obs: Observation) -> float:
        """The demand the picture shows (requested on running machines plus pending)."""
        return self._demand_of(obs)

    def believed_demand(self, obs: Observation) -> float:
        """The demand the guard would judge a removal on now, as placement counts it (read only,
        for planners)."""
        return self._believed_demand(obs, self._demand_of(obs)) * self._counted_share(obs)

    def removals_blocked(self, obs: Observation) -> bool:
        """Whether the picture shows requests falling faster than the guard believes them to,
        so that no capacity is removed on it at all (read only, for planners)."""
        return self._demand_of(obs) < self._believed_demand(obs, self._demand_of(obs)) - 1e-9

    def refusal(self, obs: Observation, machine: int, ledger: GuardLedger) -> str | None:
        """Why removing ``machine`` would take the headroom, or None."""
        if not 0 <= machine < obs.n_machines:
            return None  # the actuator reports an unknown machine as a failed outcome
        s = self.settings
        usable = self.usable(obs)
        # capacity the gate already let go, whether or not this picture shows it yet
        gone = ledger.removed_mask(obs.n_machines, obs.time_s, s.window_s)
        counted = usable & ~gone
        if not usable[machine]:
            # monitoring shows it out of service already (drained, off, silent): no capacity
            # goes. A machine only the ledger counts out is still judged below: the request
            # that let it go may yet be denied, and this one would then remove it unchecked
            return None
        shown = self._demand_of(obs)
        demand = self._believed_demand(obs, shown)
        if shown < demand - 1e-9:
            # the picture shows demand falling faster than any honest replay of the trace: it is
            # not one to remove capacity on (a spoofed idle cell looks exactly like this)
            return (
                f"headroom guard: the observed demand {shown:.2f} CPU fell more than "
                f"{s.demand_fall_share:.0%} below its peak of the last {s.window_s:g} s (at least "
                f"{demand:.2f} believed); no capacity is removed on that picture"
            )
        counted[machine] = False
        share = self._counted_share(obs)
        demand *= share
        if share < 1.0:
            # a drained machine's tasks are placed again, and a task placed anew reserves its
            # whole request until its reservation has decayed again: they come back at requests.
            # So for this machine and every one the gate already let go (a machine monitoring
            # shows drained holds no tasks, and adds nothing)
            moving = gone.copy()
            moving[machine] = True
            reclaimed = obs.cpu_requested[moving] - placement_counted(obs)[moving]
            demand += float(np.maximum(reclaimed, 0.0).sum())
        cap = float(obs.cpu_capacity[counted].sum())
        free_share = (cap - demand) / cap if cap > 0 else -1.0
        if free_share < s.min_headroom_share:
            what = "requested+pending"
            if share < 1.0:
                what = f"counted+pending ({share:.0%} of requests)"
            return (
                f"headroom guard: without machine:{machine} schedulable CPU {cap:.2f} would leave "
                f"{free_share:.1%} free for {demand:.2f} {what} "
                f"(minimum {s.min_headroom_share:.0%}; {int(gone.sum())} machine(s) already let go)"
            )
        return self._memory_refusal(obs, machine, counted, gone)

    def _memory_refusal(
        self,
        obs: Observation,
        machine: int,
        counted: npt.NDArray[np.bool_],
        gone: npt.NDArray[np.bool_],
    ) -> str | None:
        """The same room for memory, judged on the picture: once CPU is placed by reservations
        (and memory by requests, ``sim.config.SimSettings.reclaim``), memory is what binds, and
        tasks moved to machines without the memory for them wait. Memory has no fall belief:
        a picture that hides memory hides the CPU requests too, and the CPU check refuses it."""
        st = self.settings
        moving = gone.copy()
        moving[machine] = True
        demand = taken_after_moves(obs, moving, "mem")
        cap = float(obs.mem_capacity[counted].sum())
        free_share = (cap - demand) / cap if cap > 0 else -1.0
        if free_share < st.min_headroom_share:
            return (
                f"headroom guard: without machine:{machine} schedulable memory {cap:.2f} would "
                f"leave {free_share:.1%} free for {demand:.2f} placed+pending (minimum "
                f"{st.min_headroom_share:.0%})"
            )
        return None

    def growth_refusal(
        self, obs: Observation, action: ResizeRequests, ledger: GuardLedger
    ) -> str | None:
        """Why growing a service's requests would take the headroom, or None."""
        s = action.service
        if not 0 <= s < obs.service_ids.shape[0]:
            return None  # the actuator reports an unknown service as a failed outcome
        replicas = max(int(obs.service_replicas[s]), 0)
        extra = (action.cpu_request - float(obs.service_cpu_request[s])) * replicas
        if extra <= 0:
            return None
        st = self.settings
        gone = ledger.removed_mask(obs.n_machines, obs.time_s, st.window_s)
        cap = float(obs.cpu_capacity[self.usable(obs) & ~gone].sum())
        demand = self.believed_demand(obs) + extra
        free_share = (cap - demand) / cap if cap > 0 else -1.0
        if free_share < st.min_headroom_share:
            return (
                f"headroom guard: growing service:{s}'s requests by {extra:.3f} CPU would leave "
                f"{free_share:.1%} of {cap:.2f} schedulable CPU free (minimum "
                f"{st.min_headroom_share:.0%})"
            )
        return None


def _service_reservations(obs: Observation) -> float:
    """CPU the services' replicas reserve in a picture (replicas x request per replica)."""
    replicas = np.maximum(obs.service_replicas.astype(np.float64), 0.0)
    return float((replicas * obs.service_cpu_request.astype(np.float64)).sum())
