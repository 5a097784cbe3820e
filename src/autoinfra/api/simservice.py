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

What a person is shown and their votes live in ``api.approvals``, overrides in
``api.overrides`` (mixins over this class's state); this module is the loop and the reads.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from autoinfra.agents.system import System
from autoinfra.api.approvals import ApprovalMixin, ServiceSettings, action_digest
from autoinfra.api.incidents import IncidentTracker, recommend
from autoinfra.api.overrides import OverrideMixin
from autoinfra.api.oversight import Oversight
from autoinfra.api.preference import VerdictPreferences
from autoinfra.api.service import NotFound
from autoinfra.api.state import StateStore
from autoinfra.api.wiring import LedgerActuator
from autoinfra.core.lifecycle import ActionStatus
from autoinfra.core.observation import MachineState, Observation
from autoinfra.core.proposal import Decision, Proposal, Verdict

__all__ = ["ServiceSettings", "SimClusterService", "action_digest"]

JSON = dict[str, Any]
S = ActionStatus


def _observation_summary(obs: Observation) -> dict[str, float]:
    """A few cluster figures an operator sees beside an escalated proposal."""
    on = obs.machine_state == MachineState.ON
    n_on = int(on.sum())
    return {
        "time_s": float(obs.time_s),
        "cpu_util": obs.cpu_utilization(),
        "pending_tasks": float(obs.pending_tasks),
        "power_w": float(obs.power_w),
        "throttled_share": float(obs.cpu_throttled_share[on].mean()) if n_on else 0.0,
        "machines_on": float(n_on),
    }


class SimClusterService(ApprovalMixin, OverrideMixin):
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
            summary = _observation_summary(self.sim.observe())
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
            everyone = list(self.runtime.agents)  # paused ones stay listed, the runtime skips them
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

    def preferences(self) -> list[dict[str, object]]:
        return self.prefs.table()
