"""The gate every proposal passes before it may be executed: guards, then risk.

Guards refuse outright what no one should do automatically, whatever its risk:

- **rate**: per agent and ``window_s``, at most ``max_actions_per_target`` approvals on one target
  (a policy flapping on a service or a machine) and at most ``max(max_actions_per_agent,
  max_actions_share x (machines + services))`` in all (a policy stuck in a loop cannot flood the
  cluster; the cap grows with the cell, since a scaler of 3,000 services legitimately acts often);
- **blast radius**: at most ``max(max_machines_per_window, max_machines_share x machines)``
  distinct machines touched by one agent's approved actions per ``window_s`` (one bad model cannot
  drain a whole row). Per agent, so energy saving cannot use up the budget healing needs in an
  incident. Only actions that touch the work on a machine count (drain, evict, kill, isolate):
  powering a machine on or off (off only when empty) moves no task, and the headroom guard
  bounds what it does to capacity;
- **headroom**: an action that removes capacity on purpose (power off, drain) is refused when the
  schedulable CPU left afterwards would not cover the requested plus pending CPU with
  ``min_headroom_share`` to spare.

What passes the guards is scored by the :class:`RiskModel`; low risk is approved at once, risk at
or above ``escalate_risk`` goes to the :class:`ApprovalQueue` and the gate answers ESCALATE. The
runtime then asks :meth:`Gate.answers` every tick for the queue's answers (from a person, or from
the approver policy an experiment installs) and moves the records along.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from autoinfra.core.actions import Action, DrainMachine, SetMachinePower
from autoinfra.core.clock import Clock
from autoinfra.core.observation import MachineState, Observation
from autoinfra.core.proposal import Decision, Proposal, Verdict
from autoinfra.core.protocols import Sensor
from autoinfra.oversight.approval import Answer, ApprovalItem, ApprovalQueue, Approver
from autoinfra.oversight.risk import RiskModel

__all__ = ["Gate", "GateSettings"]


@dataclass(frozen=True, slots=True)
class GateSettings:
    window_s: float = 600.0  # the sliding window of the rate and blast-radius guards
    max_actions_per_agent: int = 60  # approvals per agent per window...
    max_actions_share: float = 0.25  # ...or this share of machines + services, if larger
    max_actions_per_target: int = 10  # approvals per agent and target per window
    max_machines_per_window: int = 50  # distinct machines one agent touches per window...
    max_machines_share: float = 0.05  # ...or this share of the cell, if larger
    min_headroom_share: float = 0.10  # free share of schedulable CPU left after a reduction
    escalate_risk: float = 0.7  # risk at or above this waits for a human
    approval_timeout_s: float | None = None  # unanswered requests are refused after this
    risk: RiskModel = field(default_factory=RiskModel)


def _machine_of(action: Action) -> int | None:
    if action.target_kind == "machine":
        return int(getattr(action, action.target_field))
    return None


def _touches_work(action: Action) -> bool:
    return not isinstance(action, SetMachinePower)


def _removes_capacity(action: Action) -> bool:
    if isinstance(action, SetMachinePower):
        return not action.on
    return isinstance(action, DrainMachine)


class _Window:
    """Approvals of the sliding window, with running counts (reviews must not rescan it)."""

    def __init__(self) -> None:
        self.log: deque[tuple[float, str, str, int | None]] = deque()
        self.per_agent: Counter[str] = Counter()
        self.per_target: Counter[tuple[str, str]] = Counter()
        self.touched: dict[str, Counter[int]] = {}

    def add(self, at_s: float, agent: str, target: str, machine: int | None) -> None:
        self.log.append((at_s, agent, target, machine))
        self.per_agent[agent] += 1
        self.per_target[(agent, target)] += 1
        if machine is not None:
            self.touched.setdefault(agent, Counter())[machine] += 1

    def expire(self, horizon_s: float) -> None:
        while self.log and self.log[0][0] <= horizon_s:
            _, agent, target, machine = self.log.popleft()
            _drop(self.per_agent, agent)
            _drop(self.per_target, (agent, target))
            if machine is not None:
                _drop(self.touched[agent], machine)


def _drop(counter: Counter[Any], key: Any) -> None:
    counter[key] -= 1
    if counter[key] <= 0:
        del counter[key]


class Gate:
    """``core.protocols.Gate`` with guards, a risk score and an approval queue."""

    def __init__(
        self,
        settings: GateSettings | None = None,
        *,
        clock: Clock,
        sensor: Sensor | None = None,
        queue: ApprovalQueue | None = None,
        approver: Approver | None = None,
    ) -> None:
        self.settings = settings or GateSettings()
        self.clock = clock
        self.sensor = sensor  # for the headroom guard and the size of scaling steps
        self.queue = queue if queue is not None else ApprovalQueue()
        self.approver = approver
        self._window = _Window()
        self._waiting: dict[str, Proposal] = {}
        self._reduced_at: tuple[float, set[int]] = (-1.0, set())  # reductions this instant

    # -- the protocol ----------------------------------------------------------------------------
    def review(self, proposal: Proposal) -> Verdict:
        now = self.clock.now_s()
        self._expire(now)
        s = self.settings
        observation = self.sensor.collect() if self.sensor is not None else None
        target = proposal.action.target
        win = self._window
        on_target = win.per_target[(proposal.agent, target)]
        if on_target >= s.max_actions_per_target:
            return Verdict(
                Decision.REJECT,
                f"rate guard: {proposal.agent} already acted {on_target} times on {target} in "
                f"the last {s.window_s:g} s (limit {s.max_actions_per_target})",
            )
        cap = s.max_actions_per_agent
        if observation is not None:
            size = observation.n_machines + int(observation.service_ids.shape[0])
            cap = max(cap, int(s.max_actions_share * size))
        if win.per_agent[proposal.agent] >= cap:
            return Verdict(
                Decision.REJECT,
                f"rate guard: {proposal.agent} already had {win.per_agent[proposal.agent]} "
                f"actions approved in the last {s.window_s:g} s (limit {cap})",
            )
        machine = _machine_of(proposal.action)
        touched: Counter[int] | dict[int, int] = win.touched.get(proposal.agent, {})
        widens = machine is not None and machine not in touched and _touches_work(proposal.action)
        limit = s.max_machines_per_window
        if observation is not None:
            limit = max(limit, int(s.max_machines_share * observation.n_machines))
        if widens and len(touched) >= limit:
            return Verdict(
                Decision.REJECT,
                f"blast-radius guard: {proposal.agent} touched {len(touched)} machines in the "
                f"last {s.window_s:g} s (limit {limit})",
            )
        if observation is not None and machine is not None and _removes_capacity(proposal.action):
            refusal = self._headroom(observation, machine)
            if refusal is not None:
                return Verdict(Decision.REJECT, refusal)
        risk = s.risk.score(proposal, observation)
        if risk >= s.escalate_risk:
            self._waiting[proposal.request_id] = proposal
            self.queue.ask(
                ApprovalItem(
                    proposal.request_id,
                    proposal.agent,
                    proposal.action,
                    proposal.justification.reason,
                    risk,
                    now,
                    proposal.justification.expected_effect,
                )
            )
            return Verdict(
                Decision.ESCALATE, f"risk {risk:.2f} >= {s.escalate_risk:.2f}: needs approval", risk
            )
        self._record(now, proposal)
        return Verdict(Decision.APPROVE, f"risk {risk:.2f} below {s.escalate_risk:.2f}", risk)

    # -- the approval queue ----------------------------------------------------------------------
    def answers(self, now_s: float) -> list[Answer]:
        """Let the approver answer what is due, refuse what timed out, return all new answers."""
        timeout = self.settings.approval_timeout_s
        for item in self.queue.pending():
            if timeout is not None and now_s - item.asked_at_s >= timeout:
                self.queue.answer(
                    item.request_id,
                    approved=False,
                    by="gate",
                    why=f"no answer within {timeout:g} s",
                    at_s=now_s,
                )
                continue
            if self.approver is not None:
                answer = self.approver.respond(item, now_s)
                if answer is not None:
                    self.queue.answer(
                        item.request_id,
                        approved=answer.approved,
                        by=answer.by,
                        why=answer.why,
                        at_s=answer.at_s,
                    )
        answers = self.queue.take_answers()
        for answer in answers:
            proposal = self._waiting.pop(answer.request_id, None)
            if answer.approved and proposal is not None:
                self._record(now_s, proposal)
        return answers

    # -- guards' memory --------------------------------------------------------------------------
    def _record(self, now: float, proposal: Proposal) -> None:
        machine = _machine_of(proposal.action)
        touched = machine if _touches_work(proposal.action) else None
        self._window.add(now, proposal.agent, proposal.action.target, touched)
        if machine is not None and _removes_capacity(proposal.action):
            at, machines = self._reduced_at
            if at != now:
                machines = set()
                self._reduced_at = (now, machines)
            machines.add(machine)

    def _expire(self, now: float) -> None:
        self._window.expire(now - self.settings.window_s)

    def _headroom(self, obs: Observation, machine: int) -> str | None:
        if not 0 <= machine < obs.n_machines:
            return None  # the actuator reports an unknown machine as a failed outcome
        usable = (obs.machine_state == MachineState.ON) & obs.schedulable
        # reductions approved earlier in this same instant are not in the observation yet
        at, already = self._reduced_at
        removed = np.zeros(obs.n_machines, dtype=bool)
        if at == self.clock.now_s():
            for m in already:
                if 0 <= m < obs.n_machines:
                    removed[m] = True
        removed[machine] = True
        cap = float(obs.cpu_capacity[usable & ~removed].sum())
        # the tasks of the removed machines must fit on the others
        demand = float(obs.cpu_requested[usable].sum()) + float(obs.pending_cpu)
        free_share = (cap - demand) / cap if cap > 0 else -1.0
        if free_share < self.settings.min_headroom_share:
            return (
                f"headroom guard: without machine:{machine} schedulable CPU {cap:.2f} would leave "
                f"{free_share:.1%} free for {demand:.2f} requested+pending "
                f"(minimum {self.settings.min_headroom_share:.0%})"
            )
        return None
