"""The approval queue for high-risk proposals: durable, answered strictly, expiring to deny.

An escalated proposal waits here until someone answers it: a person through the CLI or an API, or,
in experiments, an approver policy (``approvers``). A restart must not lose a request, nor run an
approved one twice, so with a ``path`` every change is one event appended to a log
(``approval_log``, ``approval_events``) and the queue is rebuilt from it on open. Each request
moves through

    PENDING ──answer yes──► APPROVED ──begin_execution──► EXECUTING ──end_execution──► done
       └──answer no / ttl──► DENIED ──settle──► done          (APPROVED ──settle──► done)

and the executor asks :meth:`begin_execution` *before* it submits: the intent is on disk first,
so after a crash a request is either not begun (run it), begun (never run it again: reconcile),
or done. Answers are handed to the gate once per process (:meth:`take_answers`); after a restart,
answers whose request was not yet carried out are handed out again, and the runtime rebuilds its
records from :meth:`open_requests`.

**Time to live.** A request nobody answers within ``ttl_s`` (default 15 minutes) is denied and
recorded as ``expired``. The default is long enough for a paged on-call person to acknowledge and
read a request (paging targets are commonly 5 minutes to acknowledge), and short enough that the
observation the risk score was computed on is still roughly today's: the gate's rate and
blast-radius window is 10 minutes, and acting on a 15-minute-old judgement is worse than asking
again with fresh data. A late answer to an expired request is refused, not applied.

Without a path the queue lives in memory (experiments) with the same rules.
"""

from __future__ import annotations

import dataclasses
import heapq
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from autoinfra.core.action_codec import decode_action, encode_action
from autoinfra.core.errors import ConfigError
from autoinfra.oversight.approval_events import Answered, Asked, Closed, Executed, Expired
from autoinfra.oversight.approval_items import Answer, ApprovalItem
from autoinfra.oversight.approval_log import AnyEvent, ApprovalLog, ApprovalLogRecovered
from autoinfra.oversight.approvers import Approver, AutoApproveAfter, DelayedApprover

__all__ = [
    "DEFAULT_TTL_S",
    "Answer",
    "ApprovalItem",
    "ApprovalLogRecovered",
    "ApprovalQueue",
    "Approver",
    "AutoApproveAfter",
    "DelayedApprover",
    "OpenRequest",
    "RequestState",
]

DEFAULT_TTL_S = 900.0  # see the module docstring for why 15 minutes


class RequestState:
    PENDING = "pending"
    APPROVED = "approved"
    DENIED = "denied"
    EXECUTING = "executing"


@dataclass(frozen=True, slots=True)
class OpenRequest:
    """A request not yet carried through: what the runtime rebuilds its record from."""

    item: ApprovalItem
    state: str
    answer: Answer | None


class ApprovalQueue:
    """Requests waiting for an answer or for execution; durable as an event log if ``path``.

    ``fsync`` (default on) makes each event durable before the call returns. ``compact_dead_lines``
    rewrites the log without finished requests once that many of their lines accumulate and they
    outnumber the live ones four to one (amortised O(1) per event); None never compacts.
    """

    def __init__(
        self,
        path: str | Path | None = None,
        *,
        ttl_s: float = DEFAULT_TTL_S,
        fsync: bool = True,
        compact_dead_lines: int | None = 10_000,
    ) -> None:
        if (
            isinstance(ttl_s, bool)
            or not isinstance(ttl_s, int | float)
            or not (math.isfinite(ttl_s) and ttl_s > 0)
        ):
            raise ConfigError(f"ttl_s must be a finite number of seconds > 0, got {ttl_s!r}",
                              field="ttl_s")  # fmt: skip
        self._log: ApprovalLog | None = None
        self.path = Path(path) if path is not None else None
        self.ttl_s = float(ttl_s)
        self.compact_dead_lines = compact_dead_lines
        self._items: dict[str, ApprovalItem] = {}  # every open request
        self._state: dict[str, str] = {}
        self._answer: dict[str, Answer] = {}
        self._events: dict[str, list[AnyEvent]] = {}  # each open request's lines, for compaction
        self._done: set[str] = set()
        self._pending: dict[str, ApprovalItem] = {}
        self._deadlines: list[tuple[float, str]] = []  # heap of (expires_at_s, request_id)
        self._outbox: list[Answer] = []
        self._dead_lines = 0
        if self.path is not None:
            self._log = ApprovalLog(self.path, fsync=fsync)
            source = str(self.path)
            for lineno, event in enumerate(self._log.replayed, start=2):
                self._apply(event, where=f"{source}: line {lineno}")
            # hand out again only answers whose request has not been carried out since
            self._outbox = [a for a in self._outbox if self._state.get(a.request_id) in
                            (RequestState.APPROVED, RequestState.DENIED)]  # fmt: skip

    # -- asking and answering --------------------------------------------------------------------
    def ask(self, item: ApprovalItem) -> ApprovalItem:
        """Queue ``item`` (asking twice is asking once); returns it with its deadline set."""
        rid = item.request_id
        if rid in self._items or rid in self._done:
            return self._items.get(rid, item)
        expires = item.expires_at_s
        if expires is None:
            expires = float(item.asked_at_s) + self.ttl_s
        item = dataclasses.replace(item, expires_at_s=expires)
        event = Asked(
            request_id=rid, at_s=float(item.asked_at_s), agent=item.agent,
            action=encode_action(item.action), reason=item.reason, risk=float(item.risk),
            expected_effect=item.expected_effect, expires_at_s=float(expires),
            priority=int(item.priority),
            confidence=None if item.confidence is None else float(item.confidence),
        )  # fmt: skip
        self._commit(event)
        return item

    def pending(self) -> list[ApprovalItem]:
        return list(self._pending.values())

    def answer(self, request_id: str, *, approved: bool, by: str, why: str, at_s: float) -> Answer:
        """Record a person's (or an approver's) answer. ``approved`` must be a real bool.

        An answer at or after the request's deadline is refused: the request expires instead,
        and the deny answer is returned.
        """
        if approved is not True and approved is not False:
            raise ConfigError(
                f"approved must be true or false, got {approved!r} ({type(approved).__name__})",
                field="approved",
            )
        item = self._pending.get(request_id)
        if item is None:
            state = self._state.get(request_id, "done" if request_id in self._done else None)
            raise ConfigError(
                f"no pending approval request {request_id!r} (it is {state or 'unknown'}); "
                f"{len(self._pending)} pending",
                field="request_id",
            )
        assert item.expires_at_s is not None
        if float(at_s) >= item.expires_at_s:
            return self._expire_one(item, float(at_s))
        self._commit(Answered(request_id=request_id, at_s=float(at_s), approved=approved,
                              by=str(by), why=str(why)))  # fmt: skip
        return self._answer[request_id]

    def expire(self, now_s: float) -> list[Answer]:
        """Deny every pending request whose deadline has passed; their answers are returned and
        also handed out by :meth:`take_answers`, like any other answer."""
        expired = []
        while self._deadlines and self._deadlines[0][0] <= now_s:
            _, rid = heapq.heappop(self._deadlines)
            item = self._pending.get(rid)
            if item is not None:  # answered requests leave stale heap entries behind
                expired.append(self._expire_one(item, float(now_s)))
        return expired

    def _expire_one(self, item: ApprovalItem, now_s: float) -> Answer:
        assert item.expires_at_s is not None  # set by ask() and by every replayed event
        why = f"no answer within {item.expires_at_s - item.asked_at_s:g} s: denied"
        self._commit(Expired(request_id=item.request_id, at_s=now_s, why=why))
        return self._answer[item.request_id]

    def take_answers(self) -> list[Answer]:
        """Answers given (or expiries) since the last call, once per process."""
        answers, self._outbox = self._outbox, []
        return answers

    # -- carrying out ----------------------------------------------------------------------------
    def begin_execution(self, request_id: str, at_s: float) -> bool:
        """Record the intent to submit an approved request; False if it may not run (not
        approved, or already begun: a second submission is exactly what this prevents)."""
        if self._state.get(request_id) != RequestState.APPROVED:
            return False
        self._commit(Executed(request_id=request_id, at_s=float(at_s), phase="intent"))
        return True

    def end_execution(
        self, request_id: str, at_s: float, *, succeeded: bool | None, detail: str = ""
    ) -> None:
        """Record what came of a begun request (``succeeded=None``: not known)."""
        if self._state.get(request_id) != RequestState.EXECUTING:
            return
        self._commit(Executed(request_id=request_id, at_s=float(at_s), phase="done",
                              succeeded=succeeded, detail=detail))  # fmt: skip

    def settle(self, request_id: str, at_s: float, *, status: str, why: str) -> None:
        """Close a request that will not run (denied, expired, or approved but refused later)."""
        if self._state.get(request_id) not in (RequestState.APPROVED, RequestState.DENIED):
            return
        self._commit(Closed(request_id=request_id, at_s=float(at_s), status=status, why=why))

    # -- reading ---------------------------------------------------------------------------------
    def state_of(self, request_id: str) -> str | None:
        """The request's state, "done" once carried through, None if never asked here."""
        return self._state.get(request_id, "done" if request_id in self._done else None)

    def __contains__(self, request_id: object) -> bool:
        return request_id in self._items or request_id in self._done

    def open_requests(self) -> list[OpenRequest]:
        return [
            OpenRequest(self._items[r], self._state[r], self._answer.get(r)) for r in self._items
        ]

    def __len__(self) -> int:
        return len(self._pending)

    # -- the log ---------------------------------------------------------------------------------
    def compact(self) -> None:
        """Rewrite the log with only the open requests' events (atomically; a no-op in memory)."""
        if self._log is not None:
            self._log.rewrite(e for events in self._events.values() for e in events)
        self._dead_lines = 0

    def close(self) -> None:
        """Release the file and its writer lock (a crash releases them too)."""
        if self._log is not None:
            self._log.close()
            self._log = None

    def __del__(self) -> None:
        if getattr(self, "_log", None) is not None:  # not set if __init__ refused its arguments
            self.close()

    def __enter__(self) -> ApprovalQueue:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _commit(self, event: AnyEvent) -> None:
        # check first (a refused event is never written), then write ahead, then apply
        self._check(event, where=None)
        if self.path is not None:
            if self._log is None:
                raise ConfigError("approval queue is closed", source=str(self.path))
            self._log.append(event)
        self._apply(event, where=None, checked=True)
        live = sum(len(v) for v in self._events.values()) if self._dead_lines else 0
        limit = self.compact_dead_lines
        if limit is not None and self._dead_lines >= limit and self._dead_lines > 4 * live:
            self.compact()

    def _check(self, event: AnyEvent, where: str | None) -> None:
        rid = event.request_id
        state = self._state.get(rid)
        allowed: Iterable[str | None]
        if isinstance(event, Asked):
            allowed = (None,)
            if rid in self._done:
                allowed = ()
        elif isinstance(event, Answered | Expired):
            allowed = (RequestState.PENDING,)
        elif isinstance(event, Executed):
            allowed = (RequestState.APPROVED,) if event.phase == "intent" else (
                RequestState.EXECUTING,)  # fmt: skip
        else:
            allowed = (RequestState.APPROVED, RequestState.DENIED)
        if state not in allowed:
            kind = event.event + (f" ({event.phase})" if isinstance(event, Executed) else "")
            raise ConfigError(
                f"{kind} event for request {rid!r}, which is "
                f"{self.state_of(rid) or 'unknown'} (events out of order or edited)",
                source=where,
                field="request_id",
            )

    def _apply(self, event: AnyEvent, *, where: str | None, checked: bool = False) -> None:
        if not checked:
            self._check(event, where)
        rid = event.request_id
        if isinstance(event, Asked):
            action = decode_action(event.action, source=where or "<ask>")
            item = ApprovalItem(rid, event.agent, action, event.reason, event.risk, event.at_s,
                                event.expected_effect, event.expires_at_s, event.priority,
                                event.confidence)  # fmt: skip
            self._items[rid] = item
            self._pending[rid] = item
            self._state[rid] = RequestState.PENDING
            self._events[rid] = [event]
            heapq.heappush(self._deadlines, (event.expires_at_s, rid))
            return
        self._events[rid].append(event)
        if isinstance(event, Answered | Expired):
            del self._pending[rid]
            if isinstance(event, Answered):
                answer = Answer(rid, event.approved, event.by, event.why, event.at_s)
            else:
                answer = Answer(rid, False, "queue", event.why, event.at_s)
            self._answer[rid] = answer
            self._state[rid] = RequestState.APPROVED if answer.approved else RequestState.DENIED
            self._outbox.append(answer)
        elif isinstance(event, Executed) and event.phase == "intent":
            self._state[rid] = RequestState.EXECUTING
        else:  # executed (done) or closed: finished, nothing more to keep
            self._dead_lines += len(self._events.pop(rid))
            for table in (self._items, self._state, self._answer):
                table.pop(rid, None)
            self._done.add(rid)
