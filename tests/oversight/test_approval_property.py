"""Any interleaving of asks, answers, expiries, executions and restarts: each request runs at most
once, only if approved in time, and a reopened queue is exactly the queue that was closed."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from autoinfra.core.actions import KillProcess
from autoinfra.core.errors import ConfigError
from autoinfra.oversight import ApprovalItem, ApprovalQueue

N_REQUESTS = 2  # few ids, so the same request meets many operations
op = st.one_of(
    st.tuples(st.just("ask"), st.integers(0, N_REQUESTS - 1)),
    st.tuples(st.just("answer"), st.integers(0, N_REQUESTS - 1), st.booleans()),
    st.tuples(st.just("begin"), st.integers(0, N_REQUESTS - 1)),
    st.tuples(st.just("end"), st.integers(0, N_REQUESTS - 1)),
    st.tuples(st.just("settle"), st.integers(0, N_REQUESTS - 1)),
    st.tuples(st.just("wait"), st.sampled_from([1.0, 30.0, 120.0])),
    st.tuples(st.just("restart")),
)


def _snapshot(q: ApprovalQueue) -> tuple[object, ...]:
    return (
        {r.item.request_id: (r.item, r.state, r.answer) for r in q.open_requests()},
        sorted(i.request_id for i in q.pending()),
    )


@settings(max_examples=120, deadline=None)
@given(ops=st.lists(op, min_size=1, max_size=30))
def test_at_most_once_and_replay_is_faithful(ops: list[tuple[object, ...]]) -> None:
    ttl_s = 100.0
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "q.jsonl"
        q = ApprovalQueue(path, ttl_s=ttl_s, fsync=False, compact_dead_lines=3)
        now = 0.0
        asked_at: dict[str, float] = {}
        approved_at: dict[str, float] = {}
        begun: list[str] = []
        for step in ops:
            kind, args = step[0], step[1:]
            rid = f"r{args[0]}" if args and isinstance(args[0], int) else ""
            if kind == "ask":
                q.ask(ApprovalItem(rid, "a", KillProcess(machine=int(rid[1:])), "x", 0.9, now))
                asked_at.setdefault(rid, now)
            elif kind == "answer":
                try:
                    a = q.answer(rid, approved=bool(args[1]), by="p", why="", at_s=now)
                except ConfigError:
                    continue  # not pending: refused, as it must be
                if a.approved:
                    approved_at[rid] = now
            elif kind == "begin":
                if q.begin_execution(rid, now):
                    begun.append(rid)
            elif kind == "end":
                q.end_execution(rid, now, succeeded=True)
            elif kind == "settle":
                q.settle(rid, now, status="rejected", why="")
            elif kind == "wait":
                now += float(args[0])  # type: ignore[arg-type]
                q.expire(now)
            else:
                before = _snapshot(q)
                q.close()
                q = ApprovalQueue(path, ttl_s=ttl_s, fsync=False, compact_dead_lines=3)
                assert _snapshot(q) == before
        q.close()
    assert len(begun) == len(set(begun))  # no request begun twice, restarts or not
    for rid in begun:
        # begun only if approved, and approved only before its deadline
        assert rid in approved_at and approved_at[rid] < asked_at[rid] + ttl_s
