"""The gate every proposal passes before it may be executed: guards, then risk.

Guards refuse outright what no one should do automatically, whatever its risk:

- **rate**: per agent and ``window_s``, at most ``max_actions_per_target`` requests on one target
  (a policy flapping on a service or a machine) and at most ``max(max_actions_per_agent,
  max_actions_share x (machines + services))`` in all (a policy stuck in a loop cannot flood the
  cluster; the cap grows with the cell, since a scaler of 3,000 services legitimately acts often);
- **blast radius**: at most ``max(max_machines_per_window, max_machines_share x machines)``
  distinct machines per ``window_s`` touched by one agent (drain, evict, kill, isolate, power
  off), and as many, across all agents together, whose capacity is removed (power off, drain,
  evict, isolate): one bad model, or one policy posing under many agent names, cannot take a row;
- **headroom**: an action that removes capacity, or a request resize that reserves more, is
  refused when the schedulable CPU left afterwards would not cover the requested plus pending CPU
  with ``min_headroom_share`` to spare.

The guards count everything they let through, pending or approved (``oversight.guards``): an
escalated request takes its budget when it is escalated and gives it back when it is denied or
expires; an approval is checked again when it arrives (:meth:`Gate.answers`) and once more just
before execution (:meth:`Gate.recheck`, which the runtime calls). The headroom guard
(``oversight.headroom``) believes neither the picture's capacity nor its demand alone, so a
frozen or spoofed picture cannot talk it into removing the cluster's headroom; the settings are
checked when built (``oversight.gate_settings``).

What passes the guards is scored by the :class:`RiskModel`; low risk is approved at once, risk at
or above ``escalate_risk`` goes to the :class:`ApprovalQueue` and the gate answers ESCALATE. So
does a proposal whose justification asks for a person (``inputs["ask_human"] is True``): a
policy may ask for more oversight than its risk needs, never for less.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from autoinfra.core.actions import Action, ResizeRequests, ScaleService
from autoinfra.core.budget import GateBudget
from autoinfra.core.clock import Clock
from autoinfra.core.observation import Observation
from autoinfra.core.proposal import Decision, Proposal, Verdict
from autoinfra.core.protocols import Sensor
from autoinfra.oversight.approval import Answer, ApprovalItem, ApprovalQueue, Approver
from autoinfra.oversight.gate_settings import GateSettings
from autoinfra.oversight.guards import (
    GuardLedger,
    Reservation,
    counts_for_radius,
    machine_of,
    removes_capacity,
)
from autoinfra.oversight.headroom import HeadroomGuard

__all__ = ["Gate", "GateSettings"]


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
        self.ledger = GuardLedger()
        self._waiting: dict[str, Proposal] = {}
        self.headroom = HeadroomGuard(self.settings)
        self._cell_size: int | None = None  # machines + services last observed (the rate cap)
        # requests still waiting in a queue reloaded after a restart hold their budgets again
        for item in self.queue.pending():
            self.ledger.add(
                Reservation.of(
                    item.request_id, item.agent, item.action, float(item.asked_at_s), pending=True
                )
            )

    # -- the protocol ----------------------------------------------------------------------------
    def review(self, proposal: Proposal) -> Verdict:
        now = self.clock.now_s()
        self._expire(now)
        s = self.settings
        observation, sensor_error = self._observe()
        refusal = self._guards(proposal.agent, proposal.action, observation, sensor_error)
        if refusal is not None:
            return Verdict(Decision.REJECT, refusal)
        risk = s.risk.score(proposal, observation)
        # a policy may ask for a person (never for less oversight): consolidation does so for a
        # drain that would evict many tasks
        asks = proposal.justification.inputs.get("ask_human") is True
        escalate = risk >= s.escalate_risk or asks
        self._reserve(proposal, now, pending=escalate, obs=observation)
        if escalate:
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
                    # kept in the durable queue, so a proposal rebuilt after a restart is the same
                    priority=proposal.priority,
                    confidence=proposal.confidence,
                )
            )
            why = (
                "the proposer asks for a person"
                if asks and risk < s.escalate_risk
                else (f"risk {risk:.2f} >= {s.escalate_risk:.2f}")
            )
            return Verdict(Decision.ESCALATE, f"{why}: needs approval", risk)
        self._note_cut(proposal.action, observation, now)
        return Verdict(Decision.APPROVE, f"risk {risk:.2f} below {s.escalate_risk:.2f}", risk)

    def recheck(
        self, proposal: Proposal, now_s: float | None = None, observation: Observation | None = None
    ) -> str | None:
        """Check an approved proposal once more just before it is executed.

        Returns None when it may go ahead (its reservation is kept), else the reason it may not
        (its reservation is given back). A proposal the gate holds no reservation for (approved
        elsewhere, or before a restart) is checked from scratch and reserved if it passes.
        """
        now = self.clock.now_s() if now_s is None else float(now_s)
        self._expire(now)
        sensor_error = None
        if observation is None:
            observation, sensor_error = self._observe()
        held = self.ledger.release(proposal.request_id, forget_removal=False)
        refusal = self._guards(proposal.agent, proposal.action, observation, sensor_error)
        if refusal is not None:
            self.ledger.forget_removal(proposal.request_id)  # it will not act: nothing removed
            return f"re-checked before execution: {refusal}"
        if held is not None:
            held.at_s, held.pending = now, False  # it acts now: the window counts from now
            self.ledger.add(held)
        else:
            self._reserve(proposal, now, pending=False, obs=observation)
        return None

    # -- the budget, read only --------------------------------------------------------------------
    def remaining_budget(self, agent: str) -> GateBudget:
        """What ``agent`` may still ask for in the rate guard's window, without reserving it.

        Planning policies read it so they propose only what will pass; the guards still review
        every proposal. The per-agent cap is the one the rate guard applies to the cell as last
        observed (it grows with machines + services).
        """
        now = self.clock.now_s()
        self._expire(now)
        s = self.settings
        cap = s.max_actions_per_agent
        obs, _ = self._observe()  # the cap grows with the cell; the headroom judges this picture
        believed: float | None = None
        blocked = obs is None
        limit = s.max_machines_per_window
        if obs is not None:
            believed = self.headroom.believed_demand(obs)
            blocked = self.headroom.removals_blocked(obs)
            limit = max(limit, int(s.max_machines_share * obs.n_machines))
        touched = len(self.ledger.touched.get(agent, {}))
        if self._cell_size is not None:
            cap = max(cap, int(s.max_actions_share * self._cell_size))
        used = {t: n for (a, t), n in self.ledger.per_target.items() if a == agent and n > 0}
        return GateBudget(
            agent=agent,
            at_s=now,
            window_s=s.window_s,
            actions_cap=cap,
            actions_left=max(0, cap - self.ledger.per_agent[agent]),
            per_target_limit=s.max_actions_per_target,
            per_target_used=MappingProxyType(used),
            escalate_risk=s.escalate_risk,
            scale_base_risk=float(s.risk.base.get("scale_service", s.risk.unknown_kind_risk)),
            size_weight=s.risk.size_weight,
            confidence_weight=s.risk.confidence_weight,
            believed_demand_cpu=believed,
            min_headroom_share=s.min_headroom_share,
            removals_blocked=blocked,
            machines_left=max(0, limit - touched),
            removals_left=max(0, limit - self.ledger.removed_count()),
            machines_limit=limit,
        )

    # -- the approval queue ----------------------------------------------------------------------
    def answers(self, now_s: float) -> list[Answer]:
        """Let the approver answer what is due, refuse what timed out, return all new answers.

        An approval is checked against the guards again (the world and the other requests moved
        on while it waited); one that no longer passes comes back as a refusal by the gate.
        A refusal of any kind gives the request's budget back.
        """
        self._expire(now_s)
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
        out: list[Answer] = []
        for answer in self.queue.take_answers():
            proposal = self._waiting.pop(answer.request_id, None)
            if not answer.approved:
                self.ledger.release(answer.request_id)
                out.append(answer)
                continue
            if proposal is None:
                out.append(answer)  # not ours to re-check here; the runtime's recheck does it
                continue
            held = self.ledger.release(answer.request_id)
            observation, sensor_error = self._observe()
            refusal = self._guards(proposal.agent, proposal.action, observation, sensor_error)
            if refusal is not None:
                why = f"approved by {answer.by}, refused on re-check: {refusal}"
                out.append(Answer(answer.request_id, False, "gate", why, now_s))
                continue
            if held is not None:
                held.at_s, held.pending = now_s, False
                self.ledger.add(held)
            else:
                self._reserve(proposal, now_s, pending=False, obs=observation)
            self._note_cut(proposal.action, observation, now_s)
            out.append(answer)
        return out

    # -- the guards ------------------------------------------------------------------------------
    def _observe(self) -> tuple[Observation | None, str | None]:
        if self.sensor is None:
            return None, None
        try:
            obs = self.sensor.collect()
        except Exception as exc:  # no telemetry: nothing that removes capacity passes
            return None, f"{type(exc).__name__}: {exc}"
        self.headroom.note(obs)  # every new picture's demand, remembered for the belief
        self._cell_size = obs.n_machines + int(obs.service_ids.shape[0])
        return obs, None

    def _guards(
        self, agent: str, action: Action, obs: Observation | None, sensor_error: str | None
    ) -> str | None:
        """The reason the guards refuse ``action`` by ``agent`` now, or None."""
        s = self.settings
        ledger = self.ledger
        target = action.target
        on_target = ledger.per_target[(agent, target)]
        if on_target >= s.max_actions_per_target:
            return (
                f"rate guard: {agent} already has {on_target} requests on {target} in the last "
                f"{s.window_s:g} s (limit {s.max_actions_per_target})"
            )
        cap = s.max_actions_per_agent
        if obs is not None:
            size = obs.n_machines + int(obs.service_ids.shape[0])
            cap = max(cap, int(s.max_actions_share * size))
        if ledger.per_agent[agent] >= cap:
            return (
                f"rate guard: {agent} already has {ledger.per_agent[agent]} requests approved or "
                f"waiting in the last {s.window_s:g} s (limit {cap})"
            )
        removes = removes_capacity(action)
        if removes and sensor_error is not None:
            return f"no telemetry to judge a capacity reduction by (sensor raised {sensor_error})"
        machine = machine_of(action)
        limit = s.max_machines_per_window
        if obs is not None:
            limit = max(limit, int(s.max_machines_share * obs.n_machines))
        if machine is not None and counts_for_radius(action, obs):
            touched: Mapping[int, int] = ledger.touched.get(agent, {})
            if machine not in touched and len(touched) >= limit:
                return (
                    f"blast-radius guard: {agent} touched {len(touched)} machines in the last "
                    f"{s.window_s:g} s (limit {limit})"
                )
            new = not ledger.radius_counts_removal_of(machine)
            if removes and new and ledger.removed_count() >= limit:
                return (
                    f"blast-radius guard: {ledger.removed_count()} machines already removed or "
                    f"about to be, by all agents, in the last {s.window_s:g} s (limit {limit})"
                )
        if removes and machine is not None and obs is not None:
            return self.headroom.refusal(obs, machine, ledger)
        if type(action) is ResizeRequests:
            if obs is None:  # a grow adds reserved capacity: no picture, no judgement
                why = f"sensor raised {sensor_error}" if sensor_error else "the gate has no sensor"
                return f"no telemetry to judge a request resize by ({why})"
            return self.headroom.growth_refusal(obs, action, ledger)
        return None

    def _note_cut(self, action: Action, obs: Observation | None, now: float) -> None:
        """Tell the headroom guard how much reservation an approved scale-down or resize cuts."""
        if obs is None or action.target_kind != "service":
            return
        svc = int(getattr(action, "service", -1))
        if not 0 <= svc < obs.service_ids.shape[0]:
            return
        request = float(obs.service_cpu_request[svc])
        if type(action) is ScaleService and action.delta_replicas < 0:
            self.headroom.note_cut(now, -action.delta_replicas * request)
        elif type(action) is ResizeRequests:
            replicas = max(int(obs.service_replicas[svc]), 0)
            self.headroom.note_cut(now, (request - action.cpu_request) * replicas)

    def _reserve(
        self, proposal: Proposal, now: float, *, pending: bool, obs: Observation | None
    ) -> None:
        self.ledger.add(
            Reservation.of(
                proposal.request_id, proposal.agent, proposal.action, now, pending=pending, obs=obs
            )
        )

    def _expire(self, now: float) -> None:
        self.ledger.expire(now - self.settings.window_s)
