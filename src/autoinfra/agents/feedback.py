"""The feedback store: what each decision led to, as rows a learner can train from.

Paper section 5.4: "data on the outcomes of past decisions is fed back into the decision-making
engine". Each row is one proposal's whole story: the action and who wanted it, the verdict (and who
gave it: the gate, a person, the arbiter), the outcome, and a small *effect*: how a few cluster
figures (utilisation, pending tasks, power, throttling) moved between the proposal and its outcome.
The effect is reward-ish, not a reward: a learner decides how to weigh it (``autoinfra.learning``
owns rewards). Rows are JSON Lines; each row is written with a single ``write`` on a file opened
for appending, so concurrent writers and crashes never interleave or tear rows.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from autoinfra.core.errors import ConfigError
from autoinfra.core.observation import MachineState, Observation

__all__ = ["FeedbackEntry", "FeedbackStore", "observation_summary"]


def observation_summary(obs: Observation) -> dict[str, float]:
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


@dataclass(frozen=True, slots=True)
class FeedbackEntry:
    request_id: str
    agent: str
    action: dict[str, Any]  # core.action_to_dict form
    proposed_at_s: float
    verdict: str  # final status: succeeded, failed, rejected
    verdict_by: str  # who moved it there: executor, gate, arbiter, security, a person
    why: str
    succeeded: bool | None  # None when it was never executed
    outcome_at_s: float | None
    effect: dict[str, float] = field(default_factory=dict)  # after - before, per figure
    confidence: float = 1.0


class FeedbackStore:
    """Append-only feedback rows, in memory (``path=None``) or JSON Lines on disk."""

    def __init__(self, path: str | Path | None = None, *, fsync: bool = False) -> None:
        self.path = Path(path) if path is not None else None
        self.fsync = fsync
        self._rows: list[FeedbackEntry] = []
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)

    def append(self, entry: FeedbackEntry) -> None:
        self._rows.append(entry)
        if self.path is None:
            return
        line = (json.dumps(asdict(entry), sort_keys=True, default=str) + "\n").encode()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)  # one write per row: O_APPEND keeps rows whole
            if self.fsync:
                os.fsync(fd)
        finally:
            os.close(fd)

    def entries(self) -> list[FeedbackEntry]:
        """Rows appended through this store (use :meth:`read` for everything in a file)."""
        return list(self._rows)

    def __len__(self) -> int:
        return len(self._rows)

    @staticmethod
    def read(path: str | Path) -> Iterator[FeedbackEntry]:
        with Path(path).open("r", encoding="utf-8") as fh:
            for lineno, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                try:
                    yield FeedbackEntry(**json.loads(line))
                except (ValueError, TypeError) as exc:
                    raise ConfigError(
                        f"line {lineno}: not a feedback row ({exc})", source=str(path)
                    ) from exc
