"""The runtime: drives agents on a clock and carries their proposals through the whole loop.

One ``tick()`` (called by the harness after every simulator step, or by a timer in live mode):

1. **run** the agents whose period is due (each has its own ``period_s``; an agent never runs
   twice within its period), each through ``agents.admission``: a tick that raises or returns
   something malformed is refused and audited and the other agents go on; every admitted proposal
   carries the agent id, priority and a request id the runtime issued, never what the agent
   claimed; report new incident findings through ``on_finding``;
2. **scope**: refuse proposals outside their agent's identity scope (PermissionDenied, audited);
   drop proposals identical to an action already in flight (the actuator is busy with it);
3. **arbitrate** between agents (the arbiter says why each loser lost);
4. **review** each winner at the gate: approve, escalate to the approval queue, or reject; then take
   the queue's answers;
5. **execute**: the executor (this runtime, nobody else) submits approved actions to the actuator;
6. **poll** outcomes, move the records, feed outcomes back to the agents (``Agent.learn``).

Every step is written to the audit log and every action has an :class:`ActionRecord` whose history
is the lifecycle of ``core.lifecycle``; ``records`` returns them all for metrics and reports.
Proposals that will never be executed (refused, lost, rejected) are fed back to their agent as
failed outcomes whose detail says why, so every proposal ends in exactly one outcome.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from autoinfra.agents.admission import REFUSED, Admission, Registration
from autoinfra.agents.base import Agent, AgentTickResult
from autoinfra.agents.durable import RESTORED, may_submit, queue_closed, restored_history
from autoinfra.core.actions import Action, action_to_dict
from autoinfra.core.clock import Clock
from autoinfra.core.errors import ConfigError, PermissionDenied
from autoinfra.core.incidents import INCIDENT_KINDS, IncidentKind
from autoinfra.core.lifecycle import ActionRecord, ActionStatus
from autoinfra.core.observation import Observation
from autoinfra.core.proposal import Decision, Finding, Justification, Outcome, Proposal
from autoinfra.core.protocols import (
    Actuator,
    Arbiter,
    Escalating,
    QueueHolding,
    Rechecking,
    Reviewer,
    RulingArbiter,
)
from autoinfra.oversight.approval import ApprovalQueue
from autoinfra.oversight.guards import removes_capacity
from autoinfra.security.audit import AuditLog
from autoinfra.telemetry.trust import TrustMonitor, TrustVerdict

__all__ = ["INCIDENT_KINDS", "Runtime", "RuntimeSettings", "RuntimeTick"]

S = ActionStatus

# INCIDENT_KINDS (core.incidents): findings that claim something is wrong right now; the harness
# turns them into detections of faults (forecasts and risk predictions are not claims of a fault
# and would count as false alarms)


@dataclass(frozen=True, slots=True)
class RuntimeSettings:
    # finding kinds passed to on_finding (None: every kind)
    report_finding_kinds: frozenset[str] | None = INCIDENT_KINDS
    # audit ticks that found and proposed nothing (off: long runs would be mostly "nothing")
    audit_quiet_ticks: bool = False


@dataclass(frozen=True, slots=True)
class RuntimeTick:
    """What one runtime tick did (for the harness, benchmarks and tests)."""

    at_s: float
    ran: tuple[str, ...]
    results: tuple[AgentTickResult, ...]
    submitted: tuple[str, ...]
    outcomes: tuple[Outcome, ...]


@dataclass(slots=True)
class _Meta:
    proposal: Proposal


class Runtime:
    def __init__(
        self,
        agents: Sequence[Agent],
        *,
        clock: Clock,
        actuator: Actuator,
        arbiter: Arbiter | None = None,
        gate: Reviewer | None = None,
        audit: AuditLog | None = None,
        on_finding: Callable[[str, Finding], None] | None = None,
        settings: RuntimeSettings | None = None,
        trust: TrustMonitor | None = None,
    ) -> None:
        ids = [a.agent_id for a in agents]
        if len(set(ids)) != len(ids):
            raise ConfigError(f"agent ids must be unique, got {ids}", field="agents")
        self.agents = list(agents)
        self.clock = clock
        self.actuator = actuator
        self.arbiter = arbiter
        self.gate = gate
        self._audit = audit if audit is not None else AuditLog()
        self.on_finding = on_finding
        self.settings = settings or RuntimeSettings()
        # telemetry must earn trust: while it does not, the runtime is in safe mode (no action
        # that removes capacity is admitted or executed); see _check_trust
        self.trust = trust
        self.safe_mode: TrustVerdict | None = None  # the verdict that started safe mode
        self._by_id = {a.agent_id: a for a in self.agents}
        # the names the runtime enforces, fixed now: whatever an agent says later is a claim
        self._registrations = [Registration.of(a) for a in self.agents]
        self.admission = Admission(self._registrations, self.audit)
        self._next_due: dict[str, float] = {}
        self._paused: set[str] = set()  # agents an operator paused: not ticked until resumed
        self._seen_findings: dict[str, set[tuple[str, str]]] = {}
        self._records: dict[str, ActionRecord] = {}
        self._meta: dict[str, _Meta] = {}
        self._in_flight: dict[Action, str] = {}
        self._to_submit: list[str] = []
        self._latest: Observation | None = None
        self._learn: dict[str, list[Outcome]] = {}  # outcomes to feed back at the end of a tick
        self.ticks = 0
        # the durable approval queue behind the gate, if any: requests survive a restart there
        queue = gate.queue if isinstance(gate, QueueHolding) else None
        self._queue: ApprovalQueue | None = queue if isinstance(queue, ApprovalQueue) else None
        if self._queue is not None:
            self._restore(self._queue, clock.now_s())

    @property
    def audit(self) -> AuditLog:
        return self._audit

    @audit.setter
    def audit(self, log: AuditLog) -> None:
        """Continue in another chain (a served or live run keeps it on disk): every part of the
        runtime that writes audit records, admission included, writes there from now on."""
        self._audit = log
        self.admission.audit = log

    @property
    def records(self) -> list[ActionRecord]:
        return list(self._records.values())

    # -- operators' controls ---------------------------------------------------------------------
    def pause(self, agent_id: str) -> None:
        """Stop ticking an agent (an operator's override); its pending requests stay as they are."""
        if agent_id not in self._by_id:
            raise ConfigError(f"no agent {agent_id!r}; agents are {sorted(self._by_id)}",
                              field="agent")  # fmt: skip
        self._paused.add(agent_id)

    def resume(self, agent_id: str) -> None:
        if agent_id not in self._by_id:
            raise ConfigError(f"no agent {agent_id!r}; agents are {sorted(self._by_id)}",
                              field="agent")  # fmt: skip
        self._paused.discard(agent_id)

    def is_paused(self, agent_id: str) -> bool:
        return agent_id in self._paused

    def record(self, request_id: str) -> ActionRecord:
        return self._records[request_id]

    # -- the loop --------------------------------------------------------------------------------
    def tick(self) -> RuntimeTick:
        now = self.clock.now_s()
        self.ticks += 1
        self._check_trust(now)
        results = self._run_due(now)
        candidates = self._admit(results, now)
        for p in self._arbitrate(candidates, now):
            self._review(p, now)
        self._take_answers(now)
        submitted = self._execute(now)
        outcomes = self._poll(now)
        self._feed_back()
        return RuntimeTick(
            now, tuple(r.agent_id for r in results), tuple(results), submitted, tuple(outcomes)
        )

    def _run_due(self, now: float) -> list[AgentTickResult]:
        results = []
        for agent, reg in zip(self.agents, self._registrations, strict=True):
            if reg.agent_id in self._paused:
                continue
            due = self._next_due.get(reg.agent_id, now)
            if now + 1e-9 < due:
                continue
            self._next_due[reg.agent_id] = now + agent.period_s
            checked = self.admission.run(agent, reg, now)  # refusals are audited in there
            if checked is None:
                continue
            result = checked
            results.append(result)
            self._latest = result.observation
            self._report_findings(reg.agent_id, result.findings)
            if result.findings or result.proposals or self.settings.audit_quiet_ticks:
                self.audit.append(
                    "tick",
                    actor=reg.agent_id,
                    at_s=now,
                    data={
                        "observation_s": result.observation.time_s,
                        "findings": [
                            {"kind": f.kind, "target": f.target, "severity": round(f.severity, 4)}
                            for f in result.findings
                        ],
                        "proposals": [p.request_id for p in result.proposals],
                    },
                )
        return results

    def _check_trust(self, now: float) -> None:
        """Enter safe mode when telemetry is not trusted, leave it when it is again; audited.

        Entering is an incident of its own (one ``telemetry_untrusted`` finding per episode
        through ``on_finding``), not one per machine the broken picture seems to show.
        """
        if self.trust is None:
            return
        _, verdict = self.trust.check(now)
        data = {"check": verdict.check, "reason": verdict.reason, "age_s": verdict.age_s}
        if not verdict.trusted and self.safe_mode is None:
            self.safe_mode = verdict
            entered = {"entered": True, **data}
            self.audit.append("safe_mode", actor="runtime", at_s=now, data=entered)
            if self.on_finding is not None:
                finding = Finding("telemetry_untrusted", "cluster", 1.0, now, dict(data))
                self.on_finding("runtime", finding)
        elif verdict.trusted and self.safe_mode is not None:
            since = self.safe_mode.at_s
            self.safe_mode = None
            self.audit.append(
                "safe_mode",
                actor="runtime",
                at_s=now,
                data={"entered": False, **data, "lasted_s": now - since},
            )

    def _proposal_of(self, rid: str) -> Proposal:
        meta = self._meta.get(rid)
        if meta is not None:
            return meta.proposal
        rec = self._records[rid]  # restored from a queue: the record says what and whose
        return Proposal(rec.action, rec.proposed_by, 0, Justification("restored"), 1.0, rid)

    def _safe_mode_refusal(self, action: Action) -> str | None:
        if self.safe_mode is None or not removes_capacity(action):
            return None
        return f"safe mode (telemetry untrusted: {self.safe_mode.reason}): capacity stays"

    def _report_findings(self, agent_id: str, findings: Sequence[Finding]) -> None:
        # report a condition when it appears, not again on every tick while it lasts
        current = {(f.kind, f.target) for f in findings}
        previous = self._seen_findings.get(agent_id, set())
        self._seen_findings[agent_id] = current
        if self.on_finding is None:
            return
        kinds = self.settings.report_finding_kinds
        reported: set[tuple[str, str]] = set()
        for f in findings:
            key = (f.kind, f.target)
            if key in previous or key in reported or (kinds is not None and f.kind not in kinds):
                continue
            if self.safe_mode is not None and f.kind == IncidentKind.NODE_FAILURE:
                # silence seen through untrusted monitoring is not a machine failure; held back,
                # not forgotten: still there once telemetry is trusted again, it is reported then
                self._seen_findings[agent_id].discard(key)
                continue
            reported.add(key)
            self.on_finding(agent_id, f)

    def _admit(self, results: Sequence[AgentTickResult], now: float) -> list[Proposal]:
        admitted: list[Proposal] = []
        for result in results:
            agent = self._by_id[result.agent_id]  # admission stamped the registered id
            identity = self.admission.registered[result.agent_id].identity
            for p in result.proposals:
                rid = p.request_id
                if rid in self._records:  # admission issues fresh ids: never silently merged
                    self.audit.append(
                        REFUSED,
                        actor="runtime",
                        at_s=now,
                        data={"agent": agent.agent_id, "reason": f"request id {rid} is taken"},
                    )
                    continue
                busy = self._in_flight.get(p.action)
                if busy is not None:
                    agent.forget([rid])
                    self.audit.append(
                        "duplicate",
                        actor=agent.agent_id,
                        at_s=now,
                        data={"request_id": rid, "in_flight": busy},
                    )
                    continue
                record = ActionRecord(rid, p.action, agent.agent_id)
                self._records[rid] = record
                self._meta[rid] = _Meta(p)
                self.audit.append(
                    "proposed",
                    actor=agent.agent_id,
                    at_s=now,
                    data={
                        "request_id": rid,
                        "action": action_to_dict(p.action),
                        "priority": p.priority,
                        "confidence": p.confidence,
                        "reason": p.justification.reason,
                        "inputs": p.justification.inputs,
                        "expected_effect": p.justification.expected_effect,
                        "findings": [f"{f.kind}@{f.target}" for f in p.findings],
                    },
                )
                try:
                    identity.check(p.action)
                except PermissionDenied as exc:
                    self._close(rid, S.REJECTED, now, "security", f"permission denied: {exc}")
                    continue
                self._in_flight[p.action] = rid
                admitted.append(p)
        return admitted

    def _arbitrate(self, proposals: list[Proposal], now: float) -> list[Proposal]:
        if self.arbiter is None or len(proposals) == 0:
            return proposals
        winners = self.arbiter.arbitrate(proposals)
        won = {p.request_id for p in winners}
        rulings = self.arbiter.rulings if isinstance(self.arbiter, RulingArbiter) else {}
        for p in proposals:
            if p.request_id not in won:
                why = rulings.get(p.request_id, "lost arbitration")
                self._close(p.request_id, S.REJECTED, now, "arbiter", why)
        return winners

    def _review(self, p: Proposal, now: float) -> None:
        rid = p.request_id
        refusal = self._safe_mode_refusal(p.action)
        if refusal is not None:
            self._close(rid, S.REJECTED, now, "safe-mode", refusal)
            return
        if self.gate is None:
            self._move(rid, S.APPROVED, now, "gate", "no gate configured")
            self._to_submit.append(rid)
            return
        verdict = self.gate.review(p)
        self.audit.append(
            "verdict",
            actor="gate",
            at_s=now,
            data={
                "request_id": rid,
                "decision": verdict.decision.value,
                "risk": verdict.risk,
                "reason": verdict.reason,
            },
        )
        if verdict.decision == Decision.APPROVE:
            self._move(rid, S.APPROVED, now, "gate", verdict.reason)
            self._to_submit.append(rid)
        elif verdict.decision == Decision.ESCALATE:
            self._move(rid, S.AWAITING_APPROVAL, now, "gate", verdict.reason)
        else:
            self._close(rid, S.REJECTED, now, "gate", verdict.reason)

    def _take_answers(self, now: float) -> None:
        if not isinstance(self.gate, Escalating):
            return
        if self._queue is not None:
            self._queue.expire(now)  # unanswered past their deadline: denied, handed out below
        for answer in self.gate.answers(now):
            rec = self._records.get(answer.request_id)
            if rec is None or rec.status != S.AWAITING_APPROVAL:
                continue  # an answer for a request this runtime does not hold
            self.audit.append(
                "answer",
                actor=answer.by,
                at_s=now,
                data={
                    "request_id": answer.request_id,
                    "approved": answer.approved,
                    "why": answer.why,
                },
            )
            if answer.approved:
                self._move(answer.request_id, S.APPROVED, now, answer.by, answer.why)
                self._to_submit.append(answer.request_id)
            else:
                self._close(answer.request_id, S.REJECTED, now, answer.by, answer.why)

    def _execute(self, now: float) -> tuple[str, ...]:
        submitted = []
        recheck = self.gate.recheck if isinstance(self.gate, Rechecking) else None
        for rid in self._to_submit:
            rec = self._records[rid]
            # the last look before acting: safe mode, then the gate's guards once more
            refusal = self._safe_mode_refusal(rec.action)
            if refusal is not None:
                self._close(rid, S.REJECTED, now, "safe-mode", refusal)
                continue
            refusal = recheck(self._proposal_of(rid), now) if recheck is not None else None
            if refusal is not None:
                self._close(rid, S.REJECTED, now, "gate", refusal)
                continue
            if not may_submit(self._queue, rid, now, self.audit):
                continue  # the queue holds its intent already: never a second submission
            self.actuator.submit(rid, rec.action)
            self._move(rid, S.SUBMITTED, now, "executor", "submitted to the actuator")
            self.audit.append(
                "submitted",
                actor="executor",
                at_s=now,
                data={"request_id": rid, "action": action_to_dict(rec.action)},
            )
            submitted.append(rid)
        self._to_submit = []
        return tuple(submitted)

    def _poll(self, now: float) -> list[Outcome]:
        outcomes = [o for o in self.actuator.poll() if o.request_id in self._records]
        for o in outcomes:
            rec = self._records[o.request_id]
            if rec.status != S.SUBMITTED:
                continue
            status = S.SUCCEEDED if o.succeeded else S.FAILED
            self._close(o.request_id, status, o.at_s, "executor", o.detail or status.value, o)
        return outcomes

    # -- restart ---------------------------------------------------------------------------------
    def _restore(self, queue: ApprovalQueue, now: float) -> None:
        """Rebuild the records of requests the queue still holds (see ``agents.durable``)."""
        for req in queue.open_requests():
            rid = req.item.request_id
            if rid in self._records:
                continue
            record = ActionRecord(rid, req.item.action, req.item.agent)
            self._records[rid] = record
            self._meta[rid] = _Meta(req.item.proposal())
            self._in_flight.setdefault(req.item.action, rid)
            moves, unknown = restored_history(req, now)
            for status, by, why in moves:
                self._move(rid, status, now, by, why)
            self.audit.append(RESTORED, actor="runtime", at_s=now,
                              data={"request_id": rid, "state": req.state})  # fmt: skip
            if unknown is not None:  # begun before the restart, outcome never heard: not re-run
                queue.end_execution(rid, now, succeeded=None, detail=unknown.detail)
                self._close(rid, S.FAILED, now, "executor", unknown.detail, unknown)

    # -- record keeping --------------------------------------------------------------------------
    def _move(self, rid: str, to: ActionStatus, at_s: float, by: str, why: str) -> None:
        self._records[rid].move(to, at_s=at_s, by=by, why=why)

    def _close(
        self,
        rid: str,
        to: ActionStatus,
        at_s: float,
        by: str,
        why: str,
        outcome: Outcome | None = None,
    ) -> None:
        """Move a record to a final status, audit it, and feed it back to the agent."""
        self._move(rid, to, at_s, by, why)
        queue_closed(self._queue, rid, to, at_s, why, outcome)
        rec = self._records[rid]
        self._meta.pop(rid)
        if self._in_flight.get(rec.action) == rid:
            del self._in_flight[rec.action]
        event = "outcome" if outcome is not None else ("denied" if by == "security" else "rejected")
        self.audit.append(
            event, actor=by, at_s=at_s, data={"request_id": rid, "status": to.value, "why": why}
        )
        fed_back = outcome or Outcome(rid, False, at_s, f"not executed ({by}): {why}")
        self._learn.setdefault(rec.proposed_by, []).append(fed_back)

    def _feed_back(self) -> None:
        # one learn() per agent per tick, with everything that ended for it in this tick
        learn, self._learn = self._learn, {}
        for agent_id, outcomes in learn.items():
            agent = self._by_id.get(agent_id)
            if agent is not None:
                agent.learn(outcomes)
