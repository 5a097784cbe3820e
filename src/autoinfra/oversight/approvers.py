"""The policies that answer the approval queue in experiments, standing in for a person.

``AutoApproveAfter`` answers yes after a stated delay (an always-yes on-call); ``DelayedApprover``
draws each delay from a model passed in (e.g. the human-operator model of the evaluation) and
says yes to a stated share, all from one seed. A person answers through ``ApprovalQueue.answer``
directly; these only ever propose an :class:`Answer` the gate then records in the queue.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from autoinfra.core.errors import ConfigError
from autoinfra.oversight.approval_items import Answer, ApprovalItem

__all__ = ["Approver", "AutoApproveAfter", "DelayedApprover"]


@runtime_checkable
class Approver(Protocol):
    """Stands in for a person answering the queue: an answer when it is due, else None."""

    def respond(self, item: ApprovalItem, now_s: float) -> Answer | None: ...


@dataclass(frozen=True, slots=True)
class AutoApproveAfter:
    """Approves every request ``delay_s`` seconds after it was asked (an always-yes on-call)."""

    delay_s: float = 60.0
    name: str = "auto-approve"

    def respond(self, item: ApprovalItem, now_s: float) -> Answer | None:
        if now_s + 1e-9 < item.asked_at_s + self.delay_s:
            return None
        return Answer(item.request_id, True, self.name, f"approved after {self.delay_s:g} s", now_s)


class DelayedApprover:
    """Answers each request after a delay drawn from ``delay_model(rng)`` (seconds).

    ``approve_share`` of the answers are yes, drawn with the same seeded generator, so a model of
    people who sometimes say no is one number away. Each request's delay is drawn once, when the
    approver first sees it, so polling more often does not change the answer.
    """

    def __init__(
        self,
        delay_model: Callable[[np.random.Generator], float],
        *,
        seed: int,
        approve_share: float = 1.0,
        name: str = "human-model",
    ) -> None:
        if not 0.0 <= approve_share <= 1.0:
            raise ConfigError(f"approve_share must be in 0..1, got {approve_share}")
        self.delay_model = delay_model
        self.approve_share = approve_share
        self.name = name
        self._rng = np.random.default_rng(seed)
        self._plan: dict[str, tuple[float, bool]] = {}

    def respond(self, item: ApprovalItem, now_s: float) -> Answer | None:
        plan = self._plan.get(item.request_id)
        if plan is None:
            delay = max(0.0, float(self.delay_model(self._rng)))
            plan = (delay, bool(self._rng.random() < self.approve_share))
            self._plan[item.request_id] = plan
        delay, yes = plan
        if now_s + 1e-9 < item.asked_at_s + delay:
            return None
        del self._plan[item.request_id]
        verb = "approved" if yes else "rejected"
        return Answer(item.request_id, yes, self.name, f"{verb} after {delay:.0f} s", now_s)
