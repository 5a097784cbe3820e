"""Execution that survives the death of its executor: one leader acts, standbys take over.

Approved actions wait under ``<election>/approved/<request id>`` in etcd (JSON of the action).
Every executor process runs :meth:`FailoverExecutor.step` in a loop; only the lease holder
(:class:`~autoinfra.coordination.lease.LeaderLease`) acts. For each approved request without an
outcome, the leader

1. records an **intent** (who, with which fencing token) in a fenced transaction: if it has been
   deposed, the write fails and it does nothing;
2. submits the action to the target;
3. records the **outcome**, fenced the same way.

A leader killed between 1 and 3 leaves an intent without an outcome. The next leader does not
simply submit again (a "scale by +2" twice is a different action): it asks the target whether the
request was applied (:meth:`ExecutionTarget.applied`) and records what it learns; only a target
that says "not applied" gets the action again, and one that cannot tell leaves the request for an
operator (outcome ``unknown``) instead of guessing. So no action is executed twice, and none
approved is lost: approvals live in etcd, not in the dead process.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from autoinfra.coordination.etcd import CoordinationUnavailable, EtcdGateway, KeyValue
from autoinfra.coordination.lease import LeaderLease
from autoinfra.core.errors import AutoinfraError

__all__ = ["ExecutionTarget", "FailoverExecutor", "StepReport", "approve"]


class ExecutionTarget(Protocol):
    def apply(self, request_id: str, action: dict[str, Any]) -> None:
        """Carry the action out; raise on failure."""
        ...

    def applied(self, request_id: str) -> bool | None:
        """Whether the request was carried out already; None when the target cannot tell."""
        ...


def approve(etcd: EtcdGateway, election: str, request_id: str, action: dict[str, Any]) -> bool:
    """Put an approved action where the executors find it (once: a second approval is a no-op)."""
    body = json.dumps({"request_id": request_id, "action": action}, sort_keys=True).encode()
    return etcd.put_if_absent(f"{election}/approved/{request_id}", body) is not None


@dataclass
class StepReport:
    leader: bool
    executed: list[str] = field(default_factory=list)
    reconciled: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    deposed: bool = False


def _ignore(request_id: str, status: str, detail: str) -> None:
    return None


@dataclass
class FailoverExecutor:
    """``on_intent(rid, holder, "")`` runs before an action is submitted and
    ``on_outcome(rid, status, detail)`` before its outcome is recorded (audit, a bus message); if
    either raises, the step stops there and the request is taken up again on a later step, so an
    outcome is announced at least once and recorded only after it was announced."""

    lease: LeaderLease
    target: ExecutionTarget
    max_per_step: int = 50
    on_intent: Callable[[str, str, str], None] = _ignore
    on_outcome: Callable[[str, str, str], None] = _ignore

    @property
    def etcd(self) -> EtcdGateway:
        return self.lease.etcd

    def _key(self, kind: str, request_id: str = "") -> str:
        return f"{self.lease.election}/{kind}/{request_id}"

    def _ids(self, kind: str) -> dict[str, KeyValue]:
        """Request id -> entry under ``kind``; request ids may contain '/' (``agent/random``)."""
        prefix = self._key(kind)
        return {kv.key[len(prefix) :]: kv for kv in self.etcd.prefix(prefix)}

    def step(self) -> StepReport:
        if not self.lease.try_acquire():
            return StepReport(leader=False)
        report = StepReport(leader=True)
        try:
            approved = self._ids("approved")
            done = set(self._ids("outcome"))
            intents = set(self._ids("intent"))
        except CoordinationUnavailable:
            return report  # try again next step; the lease's deadline keeps us honest meanwhile
        todo = sorted(
            (kv for rid, kv in approved.items() if rid not in done),
            key=lambda kv: kv.create_revision,  # in the order they were approved
        )
        for kv in todo[: self.max_per_step]:
            request = json.loads(kv.value)
            rid = str(request["request_id"])
            try:
                if not self._one(rid, request["action"], rid in intents, report):
                    report.deposed = True
                    break
            except AutoinfraError:  # a hook's bus or store is down: try again next step
                break
        return report

    def _one(self, rid: str, action: dict[str, Any], in_flight: bool, report: StepReport) -> bool:
        """Carry out one request; False when we are no longer the leader."""
        if in_flight:
            known = self.target.applied(rid)
            if known is True:
                report.reconciled.append(rid)
                return self._record(rid, "succeeded", "applied before the failover")
            if known is None:
                report.reconciled.append(rid)
                return self._record(rid, "unknown", "target cannot tell; needs an operator")
        intent = json.dumps({"holder": self.lease.holder, "fence": self.lease.revision}).encode()
        if not self.lease.fenced_put([(self._key("intent", rid), intent)]):
            return False
        if not self.lease.is_leader():  # our own clock says the lease may have lapsed
            return False
        self.on_intent(rid, self.lease.holder, "")
        try:
            self.target.apply(rid, action)
        except Exception as exc:  # the target's failure is an outcome, not our crash
            report.failed.append(rid)
            return self._record(rid, "failed", f"{type(exc).__name__}: {exc}")
        report.executed.append(rid)
        return self._record(rid, "succeeded", "")

    def _record(self, rid: str, status: str, detail: str) -> bool:
        self.on_outcome(rid, status, detail)
        body = json.dumps(
            {"status": status, "detail": detail, "holder": self.lease.holder}, sort_keys=True
        ).encode()
        return self.lease.fenced_put([(self._key("outcome", rid), body)])

    def outcomes(self) -> dict[str, dict[str, Any]]:
        return {rid: json.loads(kv.value) for rid, kv in self._ids("outcome").items()}
