"""The struct-of-arrays containers: the pending queue's order, the heap's purge, pool growth."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from autoinfra.sim import layout as L
from autoinfra.sim.kernels import slots as ks
from autoinfra.sim.layout import (
    N_QF,
    N_QI,
    Q_ID,
    S_GEN,
    S_TASK,
    CompletionHeap,
    PendingQueue,
    SlotPool,
    queue_key,
)


def _rows(ids: list[int], prio: list[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    k = len(ids)
    qf = np.zeros((k, N_QF), dtype=np.float32)
    qi = np.zeros((k, N_QI), dtype=np.int32)
    qi[:, Q_ID] = ids
    key = queue_key(np.asarray(prio), np.asarray(ids))
    return key, qf, qi


def _tasks(max_size: int) -> st.SearchStrategy[list[tuple[int, int]]]:
    """Distinct task ids with a priority each."""
    return st.lists(
        st.tuples(st.integers(0, 500), st.integers(0, 11)),
        unique_by=lambda x: x[0],
        max_size=max_size,
    )


@settings(max_examples=40, deadline=None)
@given(_tasks(40), st.integers(1, 4), st.data())
def test_queue_keeps_priority_then_submit_order(
    tasks: list[tuple[int, int]], batches: int, data: st.DataObject
) -> None:
    q = PendingQueue()
    for part in np.array_split(np.arange(len(tasks)), batches):
        chosen = [tasks[i] for i in part]
        q.push(*_rows([t for t, _ in chosen], [p for _, p in chosen]))
        if len(q):
            drop = data.draw(st.lists(st.booleans(), min_size=len(q), max_size=len(q)))
            q.keep(~np.asarray(drop, dtype=bool))
    ids = q.qi[:, Q_ID].tolist()
    prio = dict(tasks)
    assert ids == sorted(ids, key=lambda t: (-prio[t], t))
    assert q.key.tolist() == sorted(q.key.tolist()) and len(q) == len(ids)


@settings(max_examples=60, deadline=None)
@given(_tasks(60), st.integers(1, 5), st.data())
def test_a_long_queue_drops_rows_in_the_next_merge_and_keeps_each_rows_payload(
    tasks: list[tuple[int, int]], batches: int, data: st.DataObject
) -> None:
    """With the short-queue shortcut off, ``keep`` only marks rows and the next read merges
    (runs of rows copied into reused buffers); the queue must equal a plain sorted list that
    drops and adds the same rows, payloads included."""
    saved = L._SELECT_ROWS
    L._SELECT_ROWS = 0  # every queue takes the long-queue path
    try:
        q = PendingQueue()
        prio = dict(tasks)
        expected: list[int] = []
        for part in np.array_split(np.arange(len(tasks)), batches):
            chosen = [tasks[i] for i in part]
            key, qf, qi = _rows([t for t, _ in chosen], [p for _, p in chosen])
            qf[:, 0] = qi[:, Q_ID] * 0.5  # a payload that names its row
            q.push(key, qf, qi)
            expected = sorted(expected + [t for t, _ in chosen], key=lambda t: (-prio[t], t))
            if len(q):
                drop = data.draw(st.lists(st.booleans(), min_size=len(q), max_size=len(q)))
                assert q.qi[:, Q_ID].tolist() == expected
                q.keep(~np.asarray(drop, dtype=bool))
                expected = [t for t, gone in zip(expected, drop, strict=True) if not gone]
                assert len(q) == len(expected)
        assert q.qi[:, Q_ID].tolist() == expected
        assert q.qf[:, 0].tolist() == [t * 0.5 for t in expected]
        assert q.key.tolist() == sorted(q.key.tolist())
    finally:
        L._SELECT_ROWS = saved


def test_heap_purge_drops_stale_entries_and_stays_a_heap() -> None:
    pool = SlotPool(16)
    heap = CompletionHeap(4)
    heap.ensure_room(10)
    for slot, t in enumerate([5.0, 1.0, 9.0, 3.0, 7.0]):
        pool.si[S_TASK, slot] = slot
        ks.heap_push(heap.t, heap.s, heap.n, t, slot, 0)
    pool.si[S_TASK, 2] = -1  # freed
    pool.si[S_GEN, 4] = 1  # reused since
    heap.purge(pool.si)
    n = int(heap.n[0])
    assert n == 3 and sorted(heap.s[0, :n].tolist()) == [0, 1, 3]
    assert all(heap.t[(i - 1) // 2] <= heap.t[i] for i in range(1, n))


def test_slot_pool_grows_keeping_used_slots() -> None:
    pool = SlotPool(16)
    pool.nfree[0] -= 10  # ten slots taken (from the top of the free stack)
    taken = pool.free[pool.nfree[0] :][:10].copy()
    pool.si[S_TASK, taken] = 7
    pool.ensure_free(100)
    assert pool.capacity >= 110 and int(pool.nfree[0]) >= 100
    free = set(pool.free[: pool.nfree[0]].tolist())
    assert not free & set(taken.tolist()) and (pool.si[S_TASK, taken] == 7).all()
    assert len(free) == int(pool.nfree[0]) == pool.capacity - 10


def test_a_read_of_the_queue_does_not_mark_its_new_rows_as_tried() -> None:
    # an observation's pending totals read the queue (a merge); the placement round that comes
    # next must still try what was pushed, or those tasks wait until some machine changes
    q = PendingQueue()
    q.push(*_rows([1, 2], [0, 9]))
    assert q.has_untried()
    assert q.qf.shape[0] == 2  # merged by the read
    assert q.has_untried()
    q.tried()
    assert not q.has_untried()
    q.keep(np.array([True, False]))
    assert not q.has_untried()  # dropping rows adds nothing new
    q.push(*_rows([3], [5]))
    assert q.has_untried()
