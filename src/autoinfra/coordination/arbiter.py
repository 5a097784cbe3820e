"""Settling conflicts between agents' proposals by priority, and saying why each loser lost.

Two kinds of conflict are settled here (paper section 5.5, "coordinate actions"):

1. **Same target.** Two proposals on one target (``machine:3``, ``service:7``, ``rack:2``) cannot
   both be right: a drain and a power-off of the same machine, a scale-up and a scale-down of the
   same service. The higher priority wins (then higher confidence, then agent name, then the order
   the proposals arrived in, so ties are settled the same way on every run). A winner also
   *holds* its target for ``hold_s`` seconds, so a lower-priority agent cannot undo it on its next
   tick (energy powering off the machine that healing drained a minute ago); a higher-priority
   agent may still take a held target.
2. **Capacity.** Energy wants capacity gone (power off, drain to consolidate) while a
   higher-priority agent in the same batch needs capacity (scale up, power on, evict stranded tasks
   that must be placed again). With a sensor, the arbiter estimates what the winners need (a scale
   step: replicas x the service's CPU request; an eviction: the machine's requested CPU, or an
   average machine's when the lost machine reports none) and the reduction loses only if the free
   schedulable CPU left after both would fall below ``capacity_margin_share`` of the capacity.
   Free is counted as placement counts it (``core.observation.placement_counted``), and a
   reduction that takes nothing (switching off a drained, empty machine) never loses; without a
   sensor any such pair is a conflict and the reduction loses.

The runtime copies each loser's ruling (``rulings[request_id]``) into its action record, so the
audit log and the reports show why it did not happen.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from autoinfra.core.actions import (
    Action,
    DrainMachine,
    EvictTasks,
    ScaleService,
    SetMachinePower,
)
from autoinfra.core.clock import Clock
from autoinfra.core.observation import (
    MachineState,
    Observation,
    placement_counted,
    runs_nothing,
)
from autoinfra.core.proposal import Proposal
from autoinfra.core.protocols import Sensor

__all__ = ["ArbiterSettings", "PriorityArbiter", "needs_capacity", "reduces_capacity"]


def needs_capacity(action: Action) -> bool:
    """True when carrying the action out needs free capacity (or asks for more of it)."""
    if isinstance(action, ScaleService):
        return action.delta_replicas > 0
    if isinstance(action, SetMachinePower):
        return action.on
    return isinstance(action, EvictTasks)


def reduces_capacity(action: Action) -> bool:
    """True when the action takes schedulable capacity away on purpose (not as a repair)."""
    if isinstance(action, SetMachinePower):
        return not action.on
    return isinstance(action, DrainMachine)


@dataclass(frozen=True, slots=True)
class ArbiterSettings:
    hold_s: float = 120.0  # how long a winner keeps its target from lower-priority agents
    capacity_conflicts: bool = True  # settle "energy reduces while others need capacity"
    capacity_margin_share: float = 0.10  # free share that must remain (with a sensor)


@dataclass(slots=True)
class _Hold:
    agent: str
    priority: int
    until_s: float
    kind: str


@dataclass
class PriorityArbiter:
    """``Arbiter`` settling by priority; ``rulings`` says why each loser of the last batch lost."""

    settings: ArbiterSettings = field(default_factory=ArbiterSettings)
    clock: Clock | None = None  # without a clock, targets are not held across batches
    sensor: Sensor | None = None  # without a sensor, capacity conflicts are settled coarsely
    rulings: dict[str, str] = field(default_factory=dict)
    _holds: dict[str, _Hold] = field(default_factory=dict)
    _budget: _Budget | None = None

    def arbitrate(self, proposals: Sequence[Proposal]) -> list[Proposal]:
        self.rulings = {}
        now = self.clock.now_s() if self.clock is not None else None
        if now is not None:
            self._holds = {t: h for t, h in self._holds.items() if h.until_s > now}
        order = sorted(
            range(len(proposals)),
            key=lambda i: (
                -proposals[i].priority,
                -proposals[i].confidence,
                proposals[i].agent,
                i,  # then arrival order (request ids are random: no tie-break may use them)
            ),
        )
        taken: dict[str, Proposal] = {}
        winners: list[int] = []
        self._budget = None
        for i in order:
            p = proposals[i]
            target = p.action.target
            ruling = self._same_target(p, taken.get(target), now)
            if ruling is None and self.settings.capacity_conflicts and reduces_capacity(p.action):
                ruling = self._capacity(p, [proposals[j] for j in winners])
            if ruling is not None:
                self.rulings[p.request_id] = ruling
                continue
            taken[target] = p
            winners.append(i)
        if now is not None:
            for i in winners:
                p = proposals[i]
                self._holds[p.action.target] = _Hold(
                    p.agent, p.priority, now + self.settings.hold_s, p.action.kind
                )
        # keep the callers' order among winners: agents' own ordering is meaningful to them
        return [proposals[i] for i in sorted(winners)]

    def _same_target(self, p: Proposal, rival: Proposal | None, now: float | None) -> str | None:
        target = p.action.target
        if rival is not None:
            return (
                f"{target} taken by {rival.agent} ({rival.action.kind}, priority "
                f"{rival.priority}, confidence {rival.confidence:.2f}) over {p.agent} "
                f"(priority {p.priority}, confidence {p.confidence:.2f})"
            )
        hold = self._holds.get(target)
        if (
            hold is not None
            and now is not None
            and hold.agent != p.agent
            and hold.priority > p.priority
        ):
            return (
                f"{target} held by {hold.agent} ({hold.kind}, priority {hold.priority}) "
                f"until t={hold.until_s:.0f}s; {p.agent} has priority {p.priority}"
            )
        return None

    def _capacity(self, p: Proposal, winners: Sequence[Proposal]) -> str | None:
        needy = [w for w in winners if w.priority > p.priority and needs_capacity(w.action)]
        if not needy:
            return None
        if self.sensor is None:
            w = needy[0]
            return (
                f"{p.agent} would remove capacity ({p.action.kind} {p.action.target}) while "
                f"{w.agent} (priority {w.priority}) needs capacity ({w.action.kind} "
                f"{w.action.target})"
            )
        obs = self.sensor.collect()
        if self._budget is None:
            self._budget = _Budget.of(obs, needy)
        else:
            self._budget.add_needs(obs, needy)
        machine = int(getattr(p.action, "machine", -1))
        loss = self._budget.loss(obs, machine)
        if loss <= 0.0:
            return None  # an empty drained machine: switching it off takes nothing anyone counts
        left = self._budget.free - loss
        margin = self.settings.capacity_margin_share * self._budget.capacity
        if left < margin:
            names = sorted({w.agent for w in needy})
            return (
                f"{p.agent} would remove capacity ({p.action.kind} {p.action.target}): "
                f"{self._budget.free:.2f} CPU free after {', '.join(names)} take "
                f"{self._budget.need:.2f}, {left:.2f} after this, below the "
                f"{self.settings.capacity_margin_share:.0%} margin"
            )
        self._budget.free -= loss
        return None


class _Budget:
    """Free schedulable CPU in one arbitration, after the needs of higher-priority winners."""

    def __init__(self, capacity: float, free: float) -> None:
        self.capacity = capacity
        self.free = free
        self.need = 0.0
        self.counted: set[str] = set()

    @classmethod
    def of(cls, obs: Observation, needy: Sequence[Proposal]) -> _Budget:
        usable = (obs.machine_state == MachineState.ON) & obs.schedulable
        capacity = float(obs.cpu_capacity[usable].sum())
        # what placement counts as taken (requests, or reservations for reclaimable work), the
        # same measure the gate's headroom and the planner use
        taken = float(placement_counted(obs)[usable].sum())
        free = capacity - taken - float(obs.pending_cpu)
        budget = cls(capacity, free)
        budget.add_needs(obs, needy)
        return budget

    def add_needs(self, obs: Observation, needy: Sequence[Proposal]) -> None:
        for w in needy:
            if w.request_id in self.counted:
                continue
            self.counted.add(w.request_id)
            need = _need_cpu(obs, w.action)
            self.need += need
            self.free -= need

    def loss(self, obs: Observation, machine: int) -> float:
        """Free CPU the reduction takes: a schedulable machine's capacity, less what its tasks
        hold now, plus their requests (a task placed anew reserves its whole request); a machine
        already unschedulable takes only the requests of the tasks still on it."""
        if not 0 <= machine < obs.n_machines:
            return 0.0
        requested = float(obs.cpu_requested[machine])
        usable = obs.machine_state[machine] == MachineState.ON and obs.schedulable[machine]
        if not usable:
            return 0.0 if runs_nothing(obs, machine) else requested
        held = float(placement_counted(obs)[machine])
        return float(obs.cpu_capacity[machine]) - held + requested


def _need_cpu(obs: Observation, action: Action) -> float:
    if isinstance(action, ScaleService):
        if 0 <= action.service < obs.service_cpu_request.shape[0]:
            return max(0, action.delta_replicas) * float(obs.service_cpu_request[action.service])
        return 0.0
    if isinstance(action, EvictTasks) and 0 <= action.machine < obs.n_machines:
        own = float(obs.cpu_requested[action.machine])
        if own > 0:
            return own
        busy = obs.tasks_running > 0
        return float(obs.cpu_requested[busy].mean()) if busy.any() else 0.0
    return 0.0  # powering on adds capacity; it needs none
