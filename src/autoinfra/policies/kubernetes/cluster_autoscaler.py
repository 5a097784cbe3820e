"""The Cluster Autoscaler with its documented defaults, as rules and a controller.

Source: kubernetes/autoscaler, cluster-autoscaler/FAQ.md. A machine of the simulated cell is a node;
the cell's OFF machines are the node group's spare capacity (powering one on is the cloud's
"create node", with the simulator's boot delay); a scale-down drains a node, then powers it off.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from autoinfra.core.actions import DrainMachine, SetMachinePower
from autoinfra.core.documents import UNKNOWN_KEYS_REFUSED
from autoinfra.core.observation import MachineState, Observation
from autoinfra.core.proposal import Finding, Justification, Proposal

# plain ints: comparing arrays with enum members goes through Enum's slow attribute path
_BOOTING = int(MachineState.BOOTING)
_DRAINING = int(MachineState.DRAINING)
_OFF = int(MachineState.OFF)
_ON = int(MachineState.ON)


@dataclass(frozen=True, slots=True)
class CASettings:
    """Cluster Autoscaler defaults (kubernetes/autoscaler, cluster-autoscaler/FAQ.md)."""

    __pydantic_config__ = UNKNOWN_KEYS_REFUSED  # a misspelt key in params is an error

    scan_interval_s: float = 10.0  # --scan-interval
    scale_down_utilization_threshold: float = 0.5  # max(cpu, mem) requested / allocatable
    scale_down_unneeded_time_s: float = 600.0  # --scale-down-unneeded-time
    scale_down_delay_after_add_s: float = 600.0  # --scale-down-delay-after-add
    max_empty_bulk_delete: int = 10  # empty nodes removed up to 10 at a time
    max_total_unready_share: float = 0.45  # --max-total-unready-percentage 45
    ok_total_unready_count: int = 3  # --ok-total-unready-count


def requested_share(
    cpu_requested: npt.NDArray[np.float32],
    cpu_capacity: npt.NDArray[np.float32],
    mem_requested: npt.NDArray[np.float32],
    mem_capacity: npt.NDArray[np.float32],
) -> npt.NDArray[np.float64]:
    """Per node: max(sum CPU requests / allocatable, sum memory requests / allocatable)."""
    cpu = np.divide(
        cpu_requested, cpu_capacity, out=np.zeros(cpu_capacity.shape), where=cpu_capacity > 0
    )
    mem = np.divide(
        mem_requested, mem_capacity, out=np.zeros(mem_capacity.shape), where=mem_capacity > 0
    )
    return np.maximum(cpu, mem)


def machines_to_power_on(
    need_cpu: float,
    need_mem: float,
    off_slots: npt.NDArray[np.int64],
    cpu_capacity: npt.NDArray[np.float32],
    mem_capacity: npt.NDArray[np.float32],
) -> list[int]:
    """OFF machines (in slot order) whose capacity covers the pending requests not yet covered.

    A capacity estimate like the autoscaler's binpacking estimator, coarsened to sums: it may
    under-count when pending work is fragmented; the next scan then adds more.
    """
    chosen: list[int] = []
    cpu_left, mem_left = need_cpu, need_mem
    for slot in off_slots.tolist():
        if cpu_left <= 0 and mem_left <= 0:
            break
        chosen.append(int(slot))
        cpu_left -= float(cpu_capacity[slot])
        mem_left -= float(mem_capacity[slot])
    return chosen


def pods_fit_elsewhere(
    pod_cpu: npt.ArrayLike,
    pod_mem: npt.ArrayLike,
    free_cpu: npt.ArrayLike,
    free_mem: npt.ArrayLike,
) -> bool:
    """True when every pod can be placed on the destination nodes, one pod at a time.

    The Cluster Autoscaler's removal simulation (cluster-autoscaler/simulator/removal.go,
    ``SimulateNodeRemoval`` -> ``findPlaceFor`` -> ``TrySchedulePods``) takes the node's pods one
    by one and runs the scheduler's filters against a snapshot of the other nodes; each placed
    pod stays in the snapshot, so the next one sees the space it took. The resource filter
    (NodeResourcesFit) asks that the pod's requests fit the node's allocatable less what is
    already requested there. A pod fits on a node, not in the sum of the free space: two half
    free nodes do not take one pod of a whole node. Here the first node that fits takes the pod
    (the hinting simulator tries nodes in snapshot order); larger pods go first, so a spread of
    small free gaps cannot hide that a big pod fits nowhere.
    """
    cpu = np.asarray(pod_cpu, dtype=np.float64).ravel()
    mem = np.asarray(pod_mem, dtype=np.float64).ravel()
    fc = np.array(free_cpu, dtype=np.float64).ravel()
    fm = np.array(free_mem, dtype=np.float64).ravel()
    eps = 1e-6  # requests are float32 sums (about 7 digits): a pod that fits exactly fits
    for k in np.lexsort((-mem, -cpu)).tolist():
        fits = np.flatnonzero((fc + eps >= cpu[k]) & (fm + eps >= mem[k]))
        if fits.size == 0:
            return False
        n = int(fits[0])
        fc[n] -= cpu[k]
        fm[n] -= mem[k]
    return True


def cluster_unready_halt(n_nodes: int, n_unready: int, settings: CASettings) -> bool:
    """True when the autoscaler stops acting: unready nodes above 45 % and above the ok count."""
    if n_nodes <= 0:
        return False
    return (
        n_unready > settings.ok_total_unready_count
        and n_unready / n_nodes > settings.max_total_unready_share
    )


class ClusterAutoscaler:
    """Powers machines on for pending work and drains + powers off under-requested ones."""

    def __init__(
        self,
        settings: CASettings,
        *,
        agent_id: str,
        not_ready_after_s: float = 40.0,
        priority: int = 40,
    ) -> None:
        self.settings = settings
        self.agent_id = agent_id
        self.priority = priority
        self.not_ready_after_s = not_ready_after_s
        self._last_scan_s = -math.inf
        self._last_scale_up_s = -math.inf
        self._unneeded_since: dict[int, float] = {}
        self._asked_on: dict[int, float] = {}  # slot -> when we asked; not asked again for a while
        self._draining: set[int] = set()

    def decide(self, observation: Observation, findings: Sequence[Finding]) -> list[Proposal]:
        now = observation.time_s
        s = self.settings
        if now - self._last_scan_s < s.scan_interval_s - 1e-9:
            return []
        self._last_scan_s = now
        state = observation.machine_state
        on = (state == _ON) | (state == _DRAINING)
        ready = on & (observation.heartbeat_age_s <= self.not_ready_after_s)
        if cluster_unready_halt(int(on.sum()), int((on & ~ready).sum()), s):
            return []
        out = self._scale_up(observation, now)
        if out:
            self._last_scale_up_s = now
            self._unneeded_since.clear()
            return out
        return self._scale_down(observation, now, ready)

    def _scale_up(self, obs: Observation, now: float) -> list[Proposal]:
        if obs.pending_tasks <= 0:
            return []
        state = obs.machine_state
        booting = state == _BOOTING
        # capacity already on its way counts against the need, as the autoscaler's upcoming nodes
        need_cpu = obs.pending_cpu - float(obs.cpu_capacity[booting].sum())
        need_mem = obs.pending_mem - float(obs.mem_capacity[booting].sum())
        asked = [m for m, t in self._asked_on.items() if now - t < 60.0 and state[m] == _OFF]
        need_cpu -= float(obs.cpu_capacity[asked].sum()) if asked else 0.0
        need_mem -= float(obs.mem_capacity[asked].sum()) if asked else 0.0
        off = np.flatnonzero(state == _OFF)
        off = off[~np.isin(off, asked)]
        picks = machines_to_power_on(need_cpu, need_mem, off, obs.cpu_capacity, obs.mem_capacity)
        for m in picks:
            self._asked_on[m] = now
        return [
            self._proposal(
                SetMachinePower(machine=m, on=True),
                now,
                f"CA scale-up: {obs.pending_tasks} pending tasks ({obs.pending_cpu:.2f} CPU) "
                "do not fit the ready and upcoming nodes",
            )
            for m in picks
        ]

    def _scale_down(
        self, obs: Observation, now: float, ready: npt.NDArray[np.bool_]
    ) -> list[Proposal]:
        s = self.settings
        state = obs.machine_state
        out: list[Proposal] = []
        # drained machines that are empty now are powered off (the node is deleted)
        for m in sorted(self._draining):
            if state[m] == _DRAINING and obs.tasks_running[m] == 0:
                out.append(
                    self._proposal(
                        SetMachinePower(machine=m, on=False), now, "CA: drained node removed"
                    )
                )
                self._draining.discard(m)
            elif state[m] not in (_DRAINING, _ON):
                self._draining.discard(m)
        share = requested_share(
            obs.cpu_requested, obs.cpu_capacity, obs.mem_requested, obs.mem_capacity
        )
        candidate = (
            ready & obs.schedulable & (state == _ON) & (share < s.scale_down_utilization_threshold)
        )
        for m in list(self._unneeded_since):
            if not candidate[m]:
                del self._unneeded_since[m]
        for m in np.flatnonzero(candidate).tolist():
            self._unneeded_since.setdefault(int(m), now)
        if now - self._last_scale_up_s < s.scale_down_delay_after_add_s:
            return out
        due = [
            m
            for m, t in sorted(self._unneeded_since.items())
            if now - t >= s.scale_down_unneeded_time_s
        ]
        empty = [m for m in due if obs.tasks_running[m] == 0 and obs.cpu_requested[m] <= 0]
        for m in empty[: s.max_empty_bulk_delete]:
            out.append(
                self._proposal(
                    SetMachinePower(machine=m, on=False), now, "CA: empty node unneeded for 10 min"
                )
            )
            del self._unneeded_since[m]
        busy = [m for m in due if m not in empty]
        if busy and not self._draining:
            m = min(busy, key=lambda k: float(share[k]))
            # destinations: every ready, schedulable node but the one to remove (other unneeded
            # nodes too: the real simulation only drops nodes it already chose to delete)
            others = ready & obs.schedulable & (state == _ON)
            others[m] = False
            # the observation carries each node's requests as sums and a pod count, not each
            # pod: the node's pods are taken at their mean request (a stated approximation)
            n_pods = int(obs.tasks_running[m])
            pod_cpu = np.full(n_pods, float(obs.cpu_requested[m]) / max(n_pods, 1))
            pod_mem = np.full(n_pods, float(obs.mem_requested[m]) / max(n_pods, 1))
            free_cpu = (obs.cpu_capacity - obs.cpu_requested)[others]
            free_mem = (obs.mem_capacity - obs.mem_requested)[others]
            # the autoscaler removes a node only when its pods can be placed elsewhere
            if pods_fit_elsewhere(pod_cpu, pod_mem, free_cpu, free_mem):
                out.append(
                    self._proposal(
                        DrainMachine(machine=m),
                        now,
                        f"CA: requested share {share[m]:.2f} < "
                        f"{s.scale_down_utilization_threshold} for 10 min; pods fit elsewhere",
                    )
                )
                self._draining.add(m)
                del self._unneeded_since[m]
        return out

    def _proposal(
        self, action: SetMachinePower | DrainMachine, now: float, reason: str
    ) -> Proposal:
        return Proposal(
            action=action,
            agent=self.agent_id,
            priority=self.priority,
            justification=Justification(reason=reason, inputs={"scan_at_s": now}),
        )
