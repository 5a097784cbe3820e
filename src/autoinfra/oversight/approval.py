"""The approval queue for high-risk proposals, and the policies that answer it in experiments.

An escalated proposal waits here until someone answers it: a person through the CLI or an API, or,
in experiments, an *approver* standing in for the person (``AutoApproveAfter`` answers yes after a
stated delay; ``DelayedApprover`` draws each delay from a model passed in, e.g. the human-operator
model of the evaluation). The queue is state a restart must not lose, since a person may be halfway
through reading a request: with a ``path`` it is saved after every change by writing a temporary
file and renaming it over the old one, so the file is always whole, and loaded again on start.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from autoinfra.core.actions import Action, action_from_dict, action_to_dict
from autoinfra.core.errors import ConfigError

__all__ = [
    "Answer",
    "ApprovalItem",
    "ApprovalQueue",
    "Approver",
    "AutoApproveAfter",
    "DelayedApprover",
]

_FORMAT_VERSION = 1


@dataclass(frozen=True, slots=True)
class ApprovalItem:
    """What a person is asked to approve: the action, who wants it, why, and how risky it is."""

    request_id: str
    agent: str
    action: Action
    reason: str
    risk: float
    asked_at_s: float
    expected_effect: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "action": action_to_dict(self.action)}

    @classmethod
    def from_dict(cls, raw: dict[str, Any], *, source: str) -> ApprovalItem:
        return cls(
            request_id=str(raw["request_id"]),
            agent=str(raw["agent"]),
            action=action_from_dict(dict(raw["action"]), source=source),
            reason=str(raw["reason"]),
            risk=float(raw["risk"]),
            asked_at_s=float(raw["asked_at_s"]),
            expected_effect=str(raw.get("expected_effect", "")),
        )


@dataclass(frozen=True, slots=True)
class Answer:
    request_id: str
    approved: bool
    by: str  # a person's name or the approver policy's name
    why: str
    at_s: float


class ApprovalQueue:
    """Pending requests and answers not yet taken by the gate; persisted atomically if ``path``."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else None
        self._pending: dict[str, ApprovalItem] = {}
        self._answers: list[Answer] = []
        if self.path is not None and self.path.exists():
            self._load(self.path)

    def ask(self, item: ApprovalItem) -> None:
        if item.request_id in self._pending:
            return  # asking twice is asking once
        self._pending[item.request_id] = item
        self._save()

    def pending(self) -> list[ApprovalItem]:
        return list(self._pending.values())

    def answer(self, request_id: str, *, approved: bool, by: str, why: str, at_s: float) -> Answer:
        if request_id not in self._pending:
            raise ConfigError(
                f"no pending approval request {request_id!r}; pending: {sorted(self._pending)}",
                field="request_id",
            )
        del self._pending[request_id]
        answer = Answer(request_id, approved, by, why, float(at_s))
        self._answers.append(answer)
        self._save()
        return answer

    def take_answers(self) -> list[Answer]:
        """Answers given since the last call (the gate moves the records along with them)."""
        answers, self._answers = self._answers, []
        if answers:
            self._save()
        return answers

    def __len__(self) -> int:
        return len(self._pending)

    # -- persistence -----------------------------------------------------------------------------
    def _save(self) -> None:
        if self.path is None:
            return
        state = {
            "version": _FORMAT_VERSION,
            "pending": [item.to_dict() for item in self._pending.values()],
            "answers": [asdict(a) for a in self._answers],
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(state, fh, default=str, indent=1)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def _load(self, path: Path) -> None:
        source = str(path)
        try:
            state = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ConfigError(f"approval queue is not JSON ({exc})", source=source) from exc
        if state.get("version") != _FORMAT_VERSION:
            raise ConfigError(
                f"approval queue format {state.get('version')!r}, expected {_FORMAT_VERSION}",
                source=source,
                field="version",
            )
        try:
            for raw in state["pending"]:
                item = ApprovalItem.from_dict(raw, source=source)
                self._pending[item.request_id] = item
            self._answers = [Answer(**raw) for raw in state["answers"]]
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"bad approval queue entry ({exc})", source=source) from exc


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
