"""Repairs: findings in, actions out, once per incident, with retries and one escalation.

=================  ===============================  =========================================
finding            first action                     if it persists after the first succeeded
=================  ===============================  =========================================
node_failure       EvictTasks (the actuator also    nothing more: the machine is lost until
                   cordons the machine)             its heartbeats come back
cpu_hog            KillProcess                      DrainMachine after ``escalate_after_s``
network_congestion Reroute the rack off that link   nothing more (the other uplink took it)
intrusion          IsolateMachine                   nothing more
=================  ===============================  =========================================

An *incident* is one (kind, target) from the time its finding appears until it disappears. The
policy proposes the next step of an incident once and then waits for its outcome (the agent passes
outcomes back through ``observe_outcomes``): a success moves the incident on, a failure or a
refusal allows a retry after ``retry_s``, up to ``max_attempts`` tries of a step; an outcome that
never comes allows a retry after ``wait_timeout_s``. So a persistent finding does not turn into a
proposal every tick, and a finding the cluster keeps refusing to act on (the backend says there
is no rogue process: the detector was wrong) is left alone until it clears.

``HealingPolicy`` handles the first three kinds by default; ``SecurityPolicy`` is the same policy
for intrusions only (the security agent's). Confidence is ``0.5 + 0.5 x severity`` of the
finding, so the gate sees how sure the detector was.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from autoinfra.core.actions import (
    Action,
    DrainMachine,
    EvictTasks,
    IsolateMachine,
    KillProcess,
    Reroute,
)
from autoinfra.core.incidents import IncidentKind
from autoinfra.core.observation import Observation
from autoinfra.core.proposal import Finding, Justification, Outcome, Proposal

__all__ = ["HealingPolicy", "HealingSettings", "SecurityPolicy"]

REPAIR_KINDS = frozenset(
    {IncidentKind.NODE_FAILURE, IncidentKind.CPU_HOG, IncidentKind.NETWORK_CONGESTION}
)


@dataclass(frozen=True, slots=True)
class HealingSettings:
    retry_s: float = 30.0  # after a failed or refused step
    wait_timeout_s: float = 600.0  # after a step whose outcome never came
    escalate_after_s: float = 60.0  # a hog still there this long after the kill: drain
    max_attempts: int = 3  # tries of one step before the incident is left alone


@dataclass(slots=True)
class _Incident:
    stage: int = 0  # steps that succeeded
    waiting_since_s: float | None = None  # a step proposed, outcome not back yet
    failed_at_s: float | None = None
    failures: int = 0  # of the current step
    done_at_s: float | None = None


def _slot(target: str) -> int:
    return int(target.split(":", 1)[1])


class HealingPolicy:
    policy_id = "healing.rules-v1"

    def __init__(
        self, settings: HealingSettings | None = None, *, kinds: frozenset[str] = REPAIR_KINDS
    ) -> None:
        self.settings = settings or HealingSettings()
        self.kinds = kinds
        self._incidents: dict[tuple[str, str], _Incident] = {}
        self._by_target: dict[tuple[str, str], tuple[str, str]] = {}  # (kind, target) of action

    def decide(self, observation: Observation, findings: Sequence[Finding]) -> list[Proposal]:
        now = observation.time_s
        active = {(f.kind, f.target): f for f in findings if f.kind in self.kinds}
        for key in [k for k in self._incidents if k not in active]:
            del self._incidents[key]  # cleared: a new appearance is a new incident
        out = []
        for key, finding in active.items():
            inc = self._incidents.setdefault(key, _Incident())
            if not self._may_act(inc, now):
                continue
            action = self._next_step(finding, inc, now)
            if action is None:
                continue
            inc.waiting_since_s = now
            self._by_target[(action.kind, action.target)] = key
            out.append(
                Proposal(
                    action=action,
                    agent="",
                    priority=0,
                    justification=Justification(
                        reason=f"{finding.kind} on {finding.target} (step {inc.stage + 1})",
                        inputs={"finding": finding.kind, **finding.detail},
                        expected_effect=_EFFECT[action.kind],
                    ),
                    confidence=0.5 + 0.5 * max(0.0, min(1.0, finding.severity)),
                    findings=(finding,),
                )
            )
        return out

    def observe_outcomes(self, outcomes: Sequence[Outcome], proposals: Sequence[Proposal]) -> None:
        for outcome, proposal in zip(outcomes, proposals, strict=True):
            key = self._by_target.pop((proposal.action.kind, proposal.action.target), None)
            inc = self._incidents.get(key) if key is not None else None
            if inc is None:
                continue
            inc.waiting_since_s = None
            if outcome.succeeded:
                inc.stage += 1
                inc.failures = 0
                inc.done_at_s = outcome.at_s
            else:
                inc.failures += 1
                inc.failed_at_s = outcome.at_s

    def _may_act(self, inc: _Incident, now: float) -> bool:
        s = self.settings
        if inc.waiting_since_s is not None and now - inc.waiting_since_s < s.wait_timeout_s:
            return False
        if inc.failures >= s.max_attempts:
            return False
        return inc.failed_at_s is None or now - inc.failed_at_s >= s.retry_s

    def _next_step(self, f: Finding, inc: _Incident, now: float) -> Action | None:
        if f.kind == IncidentKind.NODE_FAILURE:
            return EvictTasks(machine=_slot(f.target)) if inc.stage == 0 else None
        if f.kind == IncidentKind.CPU_HOG:
            if inc.stage == 0:
                return KillProcess(machine=_slot(f.target))
            late = (
                inc.done_at_s is not None and now - inc.done_at_s >= self.settings.escalate_after_s
            )
            return DrainMachine(machine=_slot(f.target)) if inc.stage == 1 and late else None
        if f.kind == IncidentKind.NETWORK_CONGESTION:
            if inc.stage > 0 or "rack" not in f.detail:
                return None
            return Reroute(rack=int(f.detail["rack"]), away_from_link=_slot(f.target))
        if f.kind == IncidentKind.INTRUSION:
            return IsolateMachine(machine=_slot(f.target)) if inc.stage == 0 else None
        return None


class SecurityPolicy(HealingPolicy):
    """Intrusion findings to isolation (the security agent's policy)."""

    policy_id = "security.isolate-v1"

    def __init__(self, settings: HealingSettings | None = None) -> None:
        super().__init__(settings, kinds=frozenset({IncidentKind.INTRUSION}))


_EFFECT = {
    "evict_tasks": "stranded tasks are placed again on healthy machines",
    "kill_process": "the unaccounted process stops; the machine's tasks get their CPU back",
    "drain_machine": "tasks move off the hogged machine",
    "reroute": "the rack's traffic leaves the congested uplink",
    "isolate_machine": "the machine is cut off; its tasks move elsewhere",
}
