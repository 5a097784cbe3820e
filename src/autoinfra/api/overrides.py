"""Overrides of the simulated service: pause, resume and stop agents, revert, pin targets.

Each takes the person's subject and a written justification, both recorded in the audit chain
and (for stop, revert, pin, unpin) in the override history of the state store. A revert is the
inverse action (scale back, power the machine the other way) submitted under ``revert:<id>``, so
the execution ledger runs it at most once; kinds without an inverse are refused (409). A pin makes
the pin gate refuse every proposal on the target until it is released.
"""

from __future__ import annotations

from typing import Any

from autoinfra.api.service import Conflict, NotFound
from autoinfra.api.service_state import ServiceState
from autoinfra.core.actions import Action, ScaleService, SetMachinePower, action_to_dict
from autoinfra.core.errors import ConfigError
from autoinfra.core.lifecycle import ActionStatus

__all__ = ["OverrideMixin"]

JSON = dict[str, Any]
S = ActionStatus


def _inverse(action: Action) -> Action | None:
    if isinstance(action, ScaleService):
        return ScaleService(service=action.service, delta_replicas=-action.delta_replicas)
    if isinstance(action, SetMachinePower):
        return SetMachinePower(machine=action.machine, on=not action.on)
    return None


class OverrideMixin(ServiceState):
    # the shared state and _audit come from ServiceState
    _pins: dict[str, JSON]
    _paused: dict[str, Any]
    _stopped: set[str]

    # -- overrides -------------------------------------------------------------------------------
    def _agent(self, agent_id: str) -> Any:
        for a in self.runtime.agents:
            if a.agent_id == agent_id:
                return a
        raise NotFound(f"no agent {agent_id!r}")

    def pause_agent(self, agent_id: str, *, by: str, why: str) -> JSON:
        with self.lock:
            agent = self._agent(agent_id)
            if agent_id not in self._paused:
                self.runtime.pause(agent_id)  # the runtime stops ticking it; the list stays whole
                self._paused[agent_id] = agent
            self._audit("agent_paused", by, {"agent": agent_id, "why": why})
            return {"agent": agent_id, "state": "paused"}

    def resume_agent(self, agent_id: str, *, by: str, why: str) -> JSON:
        with self.lock:
            self._agent(agent_id)
            if self._paused.pop(agent_id, None) is not None:
                self.runtime.resume(agent_id)
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
