"""``DryRunActuator``: records what would have been done and never does it.

Used to watch agents decide against a live system (or a run that must not change) before trusting
them to act. Nothing was done, so there is no outcome to report: ``poll`` always returns an empty
list, and the records stay SUBMITTED with their requests listed in ``requests``. An object that is
not one of the closed action classes (``core.actions.ACTION_TYPES``, by exact class) or has bad
fields is not a request: it is listed in ``refused`` with the reason instead.
"""

from __future__ import annotations

from autoinfra.core.actions import Action, InvalidAction, rebuild
from autoinfra.core.clock import Clock
from autoinfra.core.proposal import Outcome

__all__ = ["DryRunActuator"]


class DryRunActuator:
    """``Actuator`` that keeps ``(at_s, request_id, action)`` for every distinct request."""

    def __init__(self, clock: Clock | None = None) -> None:
        self.clock = clock
        self.requests: list[tuple[float, str, Action]] = []
        self.refused: list[tuple[float, str, str]] = []  # (at_s, request id, why)
        self._seen: set[str] = set()

    def submit(self, request_id: str, action: Action) -> None:
        if request_id in self._seen:
            return  # idempotent like every actuator
        self._seen.add(request_id)
        at = self.clock.now_s() if self.clock is not None else float("nan")
        try:
            action = rebuild(action)
        except InvalidAction as exc:
            self.refused.append((at, request_id, str(exc)))
            return
        self.requests.append((at, request_id, action))

    def poll(self) -> list[Outcome]:
        return []
