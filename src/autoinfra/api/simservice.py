"""``SimClusterService``: the :class:`ClusterService` of a simulated cluster, driven in a thread.

A background thread steps the simulator and ticks the system's runtime, paced to ``speed``
simulated seconds per wall second. API calls and the thread share one lock: reads of the cluster
use a snapshot the thread refreshes after every tick (so status stays fast while agents run);
anything that changes the runtime (votes, pauses, reverts) takes the lock.

Approvals: the system's gate has no approver (:class:`NobodyApproves`), so escalations wait in
its queue. A vote is committed to the state store first (with the decision it completes, in one
transaction), then the answer is handed to the queue; if the server dies in between, the
decision is handed over when the same request is escalated again after the restart. Pending
requests unanswered ``approval_ttl_s`` wall seconds after they were first shown are denied.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from autoinfra.agents.feedback import observation_summary
from autoinfra.agents.system import System
from autoinfra.api.incidents import IncidentTracker, recommend
from autoinfra.api.oversight import Oversight
from autoinfra.api.preference import VerdictPreferences, state_bucket
from autoinfra.api.service import Conflict, Gone, NotFound, SelfApproval
from autoinfra.api.state import StateStore
from autoinfra.api.whatif import what_if
from autoinfra.api.wiring import LedgerActuator
from autoinfra.core.actions import Action, ScaleService, SetMachinePower, action_to_dict
from autoinfra.core.errors import ConfigError
from autoinfra.core.lifecycle import ActionStatus
from autoinfra.core.observation import MachineState, Observation
from autoinfra.core.proposal import Decision, Proposal, Verdict
from autoinfra.oversight.approval import ApprovalItem

__all__ = ["ServiceSettings", "SimClusterService", "action_digest"]

JSON = dict[str, Any]
S = ActionStatus


@dataclass(frozen=True, slots=True)
class ServiceSettings:
    speed: float = 20.0  # simulated seconds per wall second
    approval_ttl_s: float = 900.0  # wall seconds a person has to answer
    high_risk: float = 0.85  # at or above: needs ``approvers_required`` distinct approvers
    approvers_required: int = 2
    what_if_horizon_s: float = 300.0
    metrics_keep: int = 2000


def action_digest(item: ApprovalItem) -> str:
    """SHA-256 over exactly what the approver is shown: the request, its agent, action and risk."""
    body = {
        "request_id": item.request_id,
        "agent": item.agent,
        "action": action_to_dict(item.action),
        "risk": round(item.risk, 6),
        "asked_at_s": item.asked_at_s,
    }
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def _inverse(action: Action) -> Action | None:
    if isinstance(action, ScaleService):
        return ScaleService(service=action.service, delta_replicas=-action.delta_replicas)
    if isinstance(action, SetMachinePower):
        return SetMachinePower(machine=action.machine, on=not action.on)
    return None


class SimClusterService:
    """Runs ``system`` on ``sim`` in a thread and answers the API (see module docstring)."""

    def __init__(
        self,
        sim: Any,
        system: System,
        *,
        store: StateStore,
        oversight: Oversight,
        ledger: LedgerActuator,
        prefs: VerdictPreferences,
        run_id: str,
        settings: ServiceSettings | None = None,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.sim = sim
        self.system = system
        self.runtime = system.runtime
        self.store = store
        self.oversight = oversight
        self.ledger = ledger
        self.prefs = prefs
        self.run_id = run_id
        self.settings = settings or ServiceSettings()
        self.wall = wall
        self.lock = threading.RLock()
        self.tracker = IncidentTracker(store, run_id)
        self._pins = {p["target"]: p for p in store.pins()}
        self._proposals: dict[str, tuple[Proposal, Verdict, JSON]] = {}
        self._shown_wall: dict[str, float] = {}
        self._what_if: dict[str, JSON] = {}
        self._paused: dict[str, Any] = {}
        self._stopped: set[str] = set()
        self._metrics: deque[JSON] = deque(maxlen=self.settings.metrics_keep)
        self._snapshot: JSON = {}
        self._pending_json: list[JSON] = []  # rebuilt after each tick and vote: reads take no lock
        self._followed: dict[str, int] = {}  # request id -> history entries already seen
        self._thread: threading.Thread | None = None
        self._halt = threading.Event()
        self.ticks = 0
        self._refresh(self.sim.observe())

    # -- the loop --------------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="autoinfra-sim", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._halt.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        tick_wall = float(self.sim.config.tick_s) / self.settings.speed
        next_at = time.monotonic()
        while not self._halt.is_set():
            if not self.sim.done:
                self.step()
            next_at += tick_wall
            delay = next_at - time.monotonic()
            if delay <= 0:
                next_at = time.monotonic()  # behind: do not try to catch up in a burst
            # always leave a gap: Python's locks are not fair, and an API call waiting for the
            # lock would starve behind a simulator that re-takes it at once
            self._halt.wait(max(delay, 0.005))

    def step(self) -> None:
        """One simulator step and runtime tick, and the API's bookkeeping after it."""
        with self.lock:
            self.sim.step()
            # answers given since the last tick (or expiries due) are taken by this tick
            self._deliver_and_expire(float(self.sim.now_s))
            tick = self.runtime.tick()
            now = float(self.sim.now_s)
            self.tracker.observe([(r.agent_id, f) for r in tick.results for f in r.findings], now)
            self._follow_incident_actions(now)
            self._deliver_and_expire(now)
            self.ticks += 1
            self._refresh(self.runtime._latest or self.sim.observe())
            self._refresh_pending()

    def _seen(self, proposal: Proposal, verdict: Verdict) -> None:
        """Called by the PinGate for every proposal it reviews."""
        if verdict.decision == Decision.ESCALATE:
            summary = observation_summary(self.sim.observe())
            self._proposals[proposal.request_id] = (proposal, verdict, summary)
            if len(self._proposals) > 5000:
                self._proposals.pop(next(iter(self._proposals)))
        if self.tracker.link(proposal) and verdict.decision == Decision.ESCALATE:
            self.tracker.step(
                proposal.request_id, "escalated", self.sim.now_s, "gate", verdict.reason
            )

    def pinned(self, target: str) -> str | None:
        pin = self._pins.get(target)
        return None if pin is None else f"{pin['by']}: {pin['justification']}"

    def _follow_incident_actions(self, now: float) -> None:
        events = {
            S.APPROVED: "approved",
            S.REJECTED: "rejected",
            S.SUCCEEDED: "mitigated",
            S.FAILED: "failed",
        }
        for rid in self.tracker.watched():
            try:
                rec = self.runtime.record(rid)
            except KeyError:
                continue
            start = self._followed.get(rid, 0)
            self._followed[rid] = len(rec.history)
            for t in rec.history[start:]:
                if t.status in events and not (t.status == S.APPROVED and t.by == "gate"):
                    self.tracker.step(rid, events[t.status], t.at_s, t.by, t.why)

    def _deliver_and_expire(self, now: float) -> None:
        wall = self.wall()
        for item in self.oversight.pending():
            rid = item.request_id
            self._shown_wall.setdefault(rid, wall)
            decided = self.store.decision(rid)
            if decided is not None:
                self._deliver(decided, now)
            elif wall - self._shown_wall[rid] >= self.settings.approval_ttl_s:
                self.oversight.answer(
                    rid,
                    approved=False,
                    by="ttl",
                    at_s=now,
                    why=f"no answer within {self.settings.approval_ttl_s:g} s",
                )
                self.oversight.record("expired", actor="ttl", at_s=now, data={"request_id": rid})

    def _deliver(self, decided: JSON, now: float) -> None:
        self.oversight.answer(
            decided["request_id"],
            approved=decided["approved"],
            by=decided["by"],
            why=decided["why"],
            at_s=now,
        )
        self.store.mark_delivered(decided["request_id"])

    def _refresh(self, obs: Observation) -> None:
        states = {s.name.lower(): int((obs.machine_state == s).sum()) for s in MachineState}
        sample = {
            "time_s": float(obs.time_s),
            "cpu_utilization": round(obs.cpu_utilization(), 4),
            "mem_utilization": round(obs.mem_utilization(), 4),
            "pending_tasks": int(obs.pending_tasks),
            "power_w": round(float(obs.power_w), 1),
            "machines_on": states["on"],
            "services_short": int((obs.service_running < obs.service_replicas).sum()),
        }
        self._metrics.append(sample)
        self._snapshot = {
            "mode": "simulated",
            "run_id": self.run_id,
            "time_s": float(self.sim.now_s),
            "done": bool(self.sim.done),
            "speed": self.settings.speed,
            "machines": {"total": obs.n_machines, **states},
            "services": int(obs.service_ids.shape[0]),
            "latest": sample,
            "pending_approvals": len(self.oversight.pending()),
            "open_incidents": len(self.tracker._open),
            "agents": [a.agent_id for a in self.runtime.agents],
            "paused": sorted(self._paused),
            "pins": sorted(self._pins),
            "ticks": self.ticks,
        }

    # -- reads -----------------------------------------------------------------------------------
    def status(self) -> JSON:
        return self._snapshot

    def metrics(self, since_s: float | None, limit: int) -> list[JSON]:
        rows = list(self._metrics)
        if since_s is not None:
            rows = [r for r in rows if r["time_s"] >= since_s]
        return rows[-limit:]

    def agents(self) -> list[JSON]:
        with self.lock:
            everyone = [*self.runtime.agents, *self._paused.values()]
            out = []
            for a in everyone:
                d = a.describe()
                d["state"] = (
                    "stopped"
                    if a.agent_id in self._stopped
                    else "paused"
                    if a.agent_id in self._paused
                    else "running"
                )
                d["scope"] = {
                    "action_kinds": sorted(a.identity.scope.action_kinds),
                    "targets": list(a.identity.scope.targets),
                }
                d["outcomes"] = {
                    f"{k}:{'ok' if ok else 'failed'}": n for (k, ok), n in a.outcome_counts.items()
                }
                out.append(d)
            return out

    def _item_json(self, item: ApprovalItem) -> JSON:
        return {
            "request_id": item.request_id,
            "agent": item.agent,
            "action": action_to_dict(item.action),
            "risk": item.risk,
            "asked_at_s": item.asked_at_s,
            "reason": item.reason,
            "expected_effect": item.expected_effect,
            "digest": action_digest(item),
            "approvers_required": self._required(item),
            "votes": [
                {"by": s, "approve": a, "reason": r}
                for s, a, r in self.store.votes(item.request_id)
            ],
            "expires_in_s": self._expires_in(item.request_id),
        }

    def _required(self, item: ApprovalItem) -> int:
        high = item.risk >= self.settings.high_risk
        return self.settings.approvers_required if high else 1

    def _expires_in(self, rid: str) -> float:
        shown = self._shown_wall.get(rid, self.wall())
        return round(self.settings.approval_ttl_s - (self.wall() - shown), 1)

    def _refresh_pending(self) -> None:
        self._pending_json = [self._item_json(i) for i in self.oversight.pending()]

    def proposals(self, status: str | None, limit: int) -> list[JSON]:
        cached = self._pending_json
        pending = [{**i, "expires_in_s": self._expires_in(i["request_id"])} for i in cached]
        if status == "pending":
            return pending[:limit]
        if status is not None:
            pending = []
        with self.lock:
            records = [r for r in self.runtime.records if status is None or r.status == status]
            recent = [
                {
                    "request_id": r.request_id,
                    "agent": r.proposed_by,
                    "action": action_to_dict(r.action),
                    "status": r.status.value,
                    "why": r.history[-1].why if r.history else "",
                }
                for r in records[-limit:]
            ]
            return (pending + recent)[:limit]

    def proposal(self, request_id: str) -> JSON:
        with self.lock:
            item = self.oversight.find(request_id)
            seen = self._proposals.get(request_id)
            try:
                rec = self.runtime.record(request_id)
            except KeyError:
                rec = None
            if item is None and rec is None:
                raise NotFound(f"no proposal {request_id!r}")
            out: JSON = (
                self._item_json(item)
                if item is not None
                else {
                    "request_id": request_id,
                    "agent": rec.proposed_by if rec else "",
                    "action": action_to_dict(rec.action) if rec else {},
                }
            )
            if rec is not None:
                out["status"] = rec.status.value
                out["history"] = [
                    {"status": t.status.value, "at_s": t.at_s, "by": t.by, "why": t.why}
                    for t in rec.history
                ]
            if seen is not None:
                p, verdict, summary = seen
                out["justification"] = {
                    "observation": summary,
                    "findings": [
                        {"kind": f.kind, "target": f.target, "severity": round(f.severity, 3)}
                        for f in p.findings
                    ],
                    "policy_reason": p.justification.reason,
                    "inputs": p.justification.inputs,
                    "expected_effect": p.justification.expected_effect,
                    "gate": verdict.reason,
                    "confidence": p.confidence,
                }
            forked = None
            if item is not None and request_id not in self._what_if:
                forked = self.sim.fork()
        if forked is not None and item is not None:
            # run the forks outside the lock: the agents keep running meanwhile
            self._what_if[request_id] = what_if(
                _Frozen(forked), item.action, horizon_s=self.settings.what_if_horizon_s
            )
        if request_id in self._what_if:
            out["what_if"] = self._what_if[request_id]
        return out

    # -- votes -----------------------------------------------------------------------------------
    def vote(self, request_id: str, *, approve: bool, by: str, digest: str, reason: str) -> JSON:
        with self.lock:
            item = self.oversight.find(request_id)
            if item is None:
                decided = self.store.decision(request_id)
                if decided is not None or self._was_answered(request_id):
                    raise Gone(f"request {request_id!r} was already answered or expired")
                raise NotFound(f"no pending request {request_id!r}")
            if self._expires_in(request_id) <= 0:
                raise Gone(f"request {request_id!r} expired; it will be denied")
            if digest != action_digest(item):
                raise Conflict(
                    f"digest does not match request {request_id!r} as it is now; "
                    "reload it and review again"
                )
            if by == item.agent:
                raise SelfApproval(f"{by!r} proposed {request_id!r} and may not vote on it")
            voted, decided = self.store.cast(
                request_id,
                subject=by,
                approve=approve,
                reason=reason,
                digest=digest,
                required=self._required(item),
                action=action_to_dict(item.action),
            )
            if not voted:
                raise SelfApproval(f"{by!r} already voted on {request_id!r}")
            now = float(self.sim.now_s)
            self.oversight.record(
                "vote",
                actor=by,
                at_s=now,
                data={
                    "request_id": request_id,
                    "approve": approve,
                    "reason": reason,
                    "digest": digest,
                },
            )
            if not approve:
                # an operator's "no" is a reward for the learning loop (see api.preference)
                state = state_bucket(self.runtime._latest or self.sim.observe())
                self.prefs.reward(state, item.action.kind, -1.0)
            if decided is not None:
                if decided["approved"]:
                    state = state_bucket(self.runtime._latest or self.sim.observe())
                    self.prefs.reward(state, item.action.kind, 1.0)
                self._deliver(decided, now)
            self._refresh_pending()
            return {
                "request_id": request_id,
                "recorded": True,
                "decided": decided is not None,
                "approved": decided["approved"] if decided else None,
                "votes": len(self.store.votes(request_id)),
                "approvers_required": self._required(item),
            }

    def _was_answered(self, rid: str) -> bool:
        try:
            return self.runtime.record(rid).status != S.AWAITING_APPROVAL
        except KeyError:
            return False

    # -- overrides -------------------------------------------------------------------------------
    def _agent(self, agent_id: str) -> Any:
        for a in [*self.runtime.agents, *self._paused.values()]:
            if a.agent_id == agent_id:
                return a
        raise NotFound(f"no agent {agent_id!r}")

    def pause_agent(self, agent_id: str, *, by: str, why: str) -> JSON:
        with self.lock:
            agent = self._agent(agent_id)
            if agent_id not in self._paused:
                self.runtime.agents.remove(agent)
                self._paused[agent_id] = agent
            self._audit("agent_paused", by, {"agent": agent_id, "why": why})
            return {"agent": agent_id, "state": "paused"}

    def resume_agent(self, agent_id: str, *, by: str, why: str) -> JSON:
        with self.lock:
            self._agent(agent_id)
            agent = self._paused.pop(agent_id, None)
            if agent is not None:
                self.runtime.agents.append(agent)
            self._stopped.discard(agent_id)
            self._audit("agent_resumed", by, {"agent": agent_id, "why": why})
            return {"agent": agent_id, "state": "running"}

    def stop_agent(self, agent_id: str, *, by: str, why: str) -> JSON:
        with self.lock:
            self.pause_agent(agent_id, by=by, why=why)
            self._stopped.add(agent_id)
            oid = self.store.add_override("stop_agent", f"agent:{agent_id}", by, why, {})
            self._audit(
                "override",
                by,
                {"override": oid, "kind": "stop_agent", "agent": agent_id, "justification": why},
            )
            return {"override": oid, "agent": agent_id, "state": "stopped"}

    def revert(self, request_id: str, *, by: str, why: str) -> JSON:
        with self.lock:
            try:
                rec = self.runtime.record(request_id)
            except KeyError:
                raise NotFound(f"no action {request_id!r}") from None
            if rec.status != S.SUCCEEDED:
                raise Conflict(
                    f"only a succeeded action can be reverted; {request_id!r} is {rec.status.value}"
                )
            inverse = _inverse(rec.action)
            if inverse is None:
                raise Conflict(f"{rec.action.kind} has no inverse action to revert it with")
            rid = f"revert:{request_id}"
            self.runtime.actuator.submit(rid, inverse)
            rec.move(S.ROLLED_BACK, at_s=float(self.sim.now_s), by=by, why=why)
            oid = self.store.add_override(
                "revert",
                rec.action.target,
                by,
                why,
                {"request_id": request_id, "inverse": action_to_dict(inverse)},
            )
            self._audit(
                "override",
                by,
                {
                    "override": oid,
                    "kind": "revert",
                    "request_id": request_id,
                    "inverse": action_to_dict(inverse),
                    "justification": why,
                },
            )
            self.tracker.step(request_id, "reverted", float(self.sim.now_s), by, why)
            return {
                "override": oid,
                "request_id": request_id,
                "inverse_request_id": rid,
                "inverse": action_to_dict(inverse),
            }

    def pin(self, target: str, *, by: str, why: str) -> JSON:
        kind = target.split(":", 1)[0]
        if kind not in ("machine", "service", "rack") or not target.split(":", 1)[-1].isdigit():
            raise ConfigError(
                f"target must be machine:<n>, service:<n> or rack:<n>, got {target!r}",
                field="target",
            )
        with self.lock:
            if not self.store.set_pin(target, by, why):
                raise Conflict(f"{target} is already pinned")
            self._pins = {p["target"]: p for p in self.store.pins()}
            oid = self.store.add_override("pin", target, by, why, {})
            self._audit(
                "override",
                by,
                {"override": oid, "kind": "pin", "target": target, "justification": why},
            )
            return {"override": oid, "target": target, "pinned": True}

    def unpin(self, target: str, *, by: str, why: str) -> JSON:
        with self.lock:
            if not self.store.drop_pin(target):
                raise NotFound(f"{target} is not pinned")
            self._pins = {p["target"]: p for p in self.store.pins()}
            oid = self.store.add_override("unpin", target, by, why, {})
            self._audit(
                "override",
                by,
                {"override": oid, "kind": "unpin", "target": target, "justification": why},
            )
            return {"override": oid, "target": target, "pinned": False}

    def pins(self) -> list[JSON]:
        return self.store.pins()

    def overrides(self, limit: int) -> list[JSON]:
        return self.store.overrides(limit)

    # -- incidents and audit ---------------------------------------------------------------------
    def incidents(
        self, kind: str | None, target: str | None, since_s: float | None, until_s: float | None
    ) -> list[JSON]:
        return self.store.incidents(kind, target, since_s, until_s)

    def incident(self, incident_id: str) -> JSON:
        inc = self.store.incident(incident_id)
        if inc is None:
            raise NotFound(f"no incident {incident_id!r}")
        return inc

    def recommendations(self) -> list[JSON]:
        return recommend(self.store.incidents(limit=100_000))

    def audit(self, offset: int, limit: int) -> JSON:
        with self.lock:
            total, entries = self.oversight.entries(offset, limit)
        return {
            "total": total,
            "offset": offset,
            "entries": [
                {
                    "seq": e.seq,
                    "at_s": e.at_s,
                    "actor": e.actor,
                    "event": e.event,
                    "data": e.data,
                    "hash": e.hash,
                }
                for e in entries
            ],
        }

    def verify_audit(self) -> JSON:
        with self.lock:
            ok, bad, n = self.oversight.verify()
        return {"valid": ok, "first_invalid": bad, "records": n}

    def record(self, event: str, *, actor: str, data: JSON) -> None:
        self._audit(event, actor, data)

    def _audit(self, event: str, actor: str, data: JSON) -> None:
        with self.lock:
            self.oversight.record(event, actor=actor, at_s=float(self.sim.now_s), data=data)

    def preferences(self) -> list[dict[str, object]]:
        return self.prefs.table()


class _Frozen:
    """A forked simulator, passed as-is (the fork is already independent of the live world)."""

    def __init__(self, sim: Any) -> None:
        self._sim = sim

    def fork(self) -> Any:
        return self._sim.fork()

    @property
    def now_s(self) -> float:
        return float(self._sim.now_s)
