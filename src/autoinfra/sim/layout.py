"""The simulator's state as struct-of-arrays blocks: machines, running-task slots, task records,
the pending queue, services, racks and links, and the completion heap.

Same-typed per-entity columns are rows of one 2-D array (``mf[CPU_CAP]`` is the CPU capacity of
every machine), so a numba kernel takes a handful of arrays instead of forty (argument unboxing is
a fixed cost on every tick) while each column stays contiguous for vectorised NumPy. No Python
object exists per task or per machine.

The row numbers below are compiled into the numba kernels (``kernels/*.py``); each kernel
module drops its cached machine code when this file is newer (``jit.drop_stale_cache``).
"""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]
F32 = npt.NDArray[np.float32]
I64 = npt.NDArray[np.int64]
I32 = npt.NDArray[np.int32]
I16 = npt.NDArray[np.int16]
I8 = npt.NDArray[np.int8]

N_PRIO = 12  # Google 2011 priorities 0..11

# --- machines: mf (float64 rows) ---
M_CPU_CAP, M_MEM_CAP, M_CPU_ALLOC, M_MEM_ALLOC = 0, 1, 2, 3
M_CPU_DEM, M_MEM_USE, M_HOG_CPU, M_ROGUE_EGRESS = 4, 5, 6, 7
M_VCLOCK, M_RATE, M_NET, M_PROG = 8, 9, 10, 11  # PROG = progress speed = RATE x NET when running
M_CPU_USED, M_EGRESS, M_POWER, M_BOOT_DONE = 12, 13, 14, 15
M_HEARTBEAT, M_FAILED_AT, M_FZ_CPU, M_FZ_MEM = 16, 17, 18, 19
M_FZ_EGRESS, M_FZ_THROTTLE, M_THROTTLE = 20, 21, 22
# sums of the placed tasks' reservations (usage estimate + margin; Verma et al. 2015, 5.5): what
# non-production work is placed against when the run places by reservations (SimSettings.placement)
M_CPU_RSV, M_MEM_RSV = 23, 24
N_MF = 25
# --- machines: mi (int32 rows) ---
M_STATE, M_PREV, M_CORDON, M_ISOLATED, M_HEAD = 0, 1, 2, 3, 4
M_NTASKS, M_RACK, M_CURVE, M_PLATFORM, M_SCHED = 5, 6, 7, 8, 9
M_CHANGED = 10  # free capacity may have grown since the last placement round
N_MI = 11

# --- slots (running tasks): sf (float32 rows), si (int32 rows), sv (float64 start clock) ---
S_WORK, S_CPU_DEM, S_CPU_BASE, S_MEM_USE, S_CPU_REQ, S_MEM_REQ = 0, 1, 2, 3, 4, 5
S_CPU_RSV, S_MEM_RSV, S_PLACED = 6, 7, 8  # reservations; when the slot was placed (seconds)
N_SF = 9
S_TASK, S_MACH, S_NEXT, S_PREV, S_SVC = 0, 1, 2, 3, 4
S_SNEXT, S_SPREV, S_PRIO, S_PROF, S_GEN = 5, 6, 7, 8, 9
N_SI = 10

# --- pending queue: one row per task; qf (float32 columns), qi (int32 columns), key ---
Q_CPU_REQ, Q_MEM_REQ, Q_WORK, Q_CPU_BASE, Q_MEM_USE = 0, 1, 2, 3, 4
N_QF = 5
Q_ID, Q_PRIO, Q_PROF, Q_SVC = 0, 1, 2, 3
Q_TRIED = 4  # 1: found no machine in an earlier round (retry only where capacity grew)
N_QI = 5

# --- services: vf (float64 rows), vi (int32 rows) ---
V_CPU_REQ, V_LIMIT, V_BASE_DEM, V_DEMAND, V_PER, V_SHORT, V_SERVED, V_MEM_PER = (
    0,
    1,
    2,
    3,
    4,
    5,
    6,
    7,
)
N_VF = 8
V_DESIRED, V_PLACED, V_PENDING, V_HEAD, V_PROF = 0, 1, 2, 3, 4
V_DIRTY, V_VIOLATING, V_MIN, V_MAX, V_PRIO = 5, 6, 7, 8, 9
N_VI = 10

# --- links: lf (float64 rows); racks: rf (float64 rows) ---
L_WEIGHT, L_BACKGROUND, L_OFFERED, L_UTIL = 0, 1, 2, 3
N_LF = 4
R_EGRESS, R_NET, R_TASKS = 0, 1, 2
N_RF = 3

# --- per-tick totals written by the state kernel ---
T_CAP_CPU, T_CAP_MEM, T_USED_CPU, T_USED_MEM, T_ALLOC_CPU, T_ALLOC_MEM = 0, 1, 2, 3, 4, 5
T_POWER, T_RUNNING, T_STRANDED, T_DEMAND, T_UNSERVED, T_NET_SLOWED = 6, 7, 8, 9, 10, 11
T_MAX_LINK, T_VIOLATING, T_N_STATE = 12, 13, 14  # T_N_STATE + MachineState value: counts
N_TOT = T_N_STATE + 6

# --- task status and end reasons (records) ---
ST_FUTURE, ST_PENDING, ST_RUNNING, ST_ENDED = 0, 1, 2, 3
END_NONE, END_FINISH, END_FAIL, END_KILL, END_CENSORED, END_SCALED_DOWN = 0, 1, 2, 3, 4, 5
END_NAMES: tuple[str, ...] = ("", "finish", "fail", "kill", "censored", "scaled_down")


class SlotPool:
    """Running tasks, one slot each: the compact arrays the per-tick kernels walk.

    Slots are linked per machine (``S_NEXT``/``S_PREV``, head in ``mi[M_HEAD]``) and per service
    (``S_SNEXT``/``S_SPREV``, head in ``vi[V_HEAD]``) so draining a machine or re-spreading a
    service's demand touches only its own slots. Free slots form a stack.
    """

    def __init__(self, capacity: int) -> None:
        capacity = max(int(capacity), 16)
        self.sv: F64 = np.zeros(capacity, dtype=np.float64)
        self.sf: F32 = np.zeros((N_SF, capacity), dtype=np.float32)
        self.si: I32 = np.full((N_SI, capacity), -1, dtype=np.int32)
        self.si[S_GEN] = 0
        self.free: I32 = np.arange(capacity - 1, -1, -1, dtype=np.int32)  # pop from the end
        self.nfree: I64 = np.array([capacity], dtype=np.int64)

    @property
    def capacity(self) -> int:
        return int(self.sv.shape[0])

    @property
    def used(self) -> int:
        return self.capacity - int(self.nfree[0])

    def ensure_free(self, need: int) -> None:
        """Grow (doubling) so that at least ``need`` slots are free."""
        if int(self.nfree[0]) >= need:
            return
        old = self.capacity
        new = max(2 * old, old - int(self.nfree[0]) + need + 16)
        sv = np.zeros(new, dtype=np.float64)
        sv[:old] = self.sv
        sf = np.zeros((N_SF, new), dtype=np.float32)
        sf[:, :old] = self.sf
        si = np.full((N_SI, new), -1, dtype=np.int32)
        si[:, :old] = self.si
        si[S_GEN, old:] = 0
        nfree = int(self.nfree[0])
        free = np.empty(new, dtype=np.int32)
        added = np.arange(new - 1, old - 1, -1, dtype=np.int32)
        free[: added.size] = added
        free[added.size : added.size + nfree] = self.free[:nfree]
        self.sv, self.sf, self.si, self.free = sv, sf, si, free
        self.nfree[0] = added.size + nfree

    def nbytes(self) -> int:
        return int(self.sv.nbytes + self.sf.nbytes + self.si.nbytes + self.free.nbytes)


class CompletionHeap:
    """Binary min-heap of (earliest possible finish time, slot, slot generation).

    A task cannot finish before ``now + remaining work`` because it never runs faster than full
    speed, so the kernel pops entries that are due, finishes the tasks that really are done and
    pushes the others back with a new lower bound. A stale entry (its slot was freed and reused)
    is recognised by the generation and dropped.
    """

    def __init__(self, capacity: int) -> None:
        capacity = max(int(capacity), 16)
        self.t: F64 = np.zeros(capacity, dtype=np.float64)
        self.s: I32 = np.zeros((2, capacity), dtype=np.int32)
        self.n: I64 = np.zeros(1, dtype=np.int64)

    def ensure_room(self, more: int) -> None:
        size, cap = int(self.n[0]), int(self.t.shape[0])
        if size + more <= cap:
            return
        new = max(2 * cap, size + more + 16)
        t = np.zeros(new, dtype=np.float64)
        t[:size] = self.t[:size]
        s = np.zeros((2, new), dtype=np.int32)
        s[:, :size] = self.s[:, :size]
        self.t, self.s = t, s

    def purge(self, si: I32) -> None:
        """Drop stale entries (slot freed or reused since) and rebuild the heap."""
        n = int(self.n[0])
        slot, gen = self.s[0, :n], self.s[1, :n]
        live = (si[S_TASK, slot] >= 0) & (si[S_GEN, slot] == gen)
        t, s = self.t[:n][live], self.s[:, :n][:, live]
        order = np.argsort(t, kind="stable")  # a sorted array is a valid binary heap
        k = int(order.shape[0])
        self.t[:k] = t[order]
        self.s[:, :k] = s[:, order]
        self.n[0] = k

    def nbytes(self) -> int:
        return int(self.t.nbytes + self.s.nbytes)


# up to this many rows, ``PendingQueue.keep`` selects at once; above, the next merge drops them
_SELECT_ROWS = 512
_Buffers = tuple[I64, F32, I32]  # a merge's output blocks (key, qf, qi), with room to grow


class PendingQueue:
    """Tasks waiting for a machine, one row each, sorted by key = (11 - priority) << 32 | task id.

    Task ids follow submit order (the workload is sorted by submit time), so the key orders by
    priority, then submit time, as Borg's pending queue does. Each row carries what placing the
    task needs (``qf``: Q_CPU_REQ.., ``qi``: Q_ID..), so the placement kernel never looks into the
    workload tables. Changes are lazy: new rows are staged and dropped rows only marked, and one
    linear merge (``kernels.queue.merge_rows``) applies them when the queue is next read.
    """

    def __init__(self) -> None:
        self._key: I64 = np.zeros(0, dtype=np.int64)
        self._qf: F32 = np.zeros((0, N_QF), dtype=np.float32)
        self._qi: I32 = np.zeros((0, N_QI), dtype=np.int32)
        self._keep: npt.NDArray[np.bool_] | None = None  # rows to keep at the next merge
        self._dropped = 0
        self._staged: list[tuple[I64, F32, I32]] = []
        self._n_staged = 0
        # rows pushed since the last placement round: counted apart from the staging, since a
        # read of the queue (an observation's pending totals) merges staged rows without trying
        # them, and a placement round skipped for that would leave them waiting unseen
        self._untried = 0
        # the merge writes into buffers it keeps (the rows are views of their first rows): the
        # ones the rows are in now, and a spare set from the merge before, reused as the next
        # output, so a full cell's queue (1.6 MB) is not allocated anew every tick
        self._bufs: _Buffers | None = None
        self._spare: _Buffers | None = None
        self._all = np.ones(64, np.bool_)  # all-true, for merges that drop nothing

    def __len__(self) -> int:
        return int(self._key.shape[0]) - self._dropped + self._n_staged

    @property
    def key(self) -> I64:
        self._merge()
        return self._key

    @property
    def qf(self) -> F32:
        self._merge()
        return self._qf

    @property
    def qi(self) -> I32:
        self._merge()
        return self._qi

    def has_untried(self) -> bool:
        """Are there rows no placement round has looked at yet? (A round looks at every row,
        so only rows pushed since can be new.)"""
        return self._untried > 0

    def tried(self) -> None:
        """A placement round has looked at every row."""
        self._untried = 0

    def push(self, key: I64, qf: F32, qi: I32) -> None:
        """Stage rows (qf: (k, N_QF), qi: (k, N_QI)) for the next merge."""
        if key.size:
            self._staged.append((key, qf, qi))
            self._n_staged += int(key.size)
            self._untried += int(key.size)

    def keep(self, mask: npt.NDArray[np.bool_]) -> None:
        """Keep only the rows where ``mask`` (over the merged queue) is True."""
        self._merge()
        keep = np.array(mask, dtype=np.bool_)  # our own copy: applied later
        n = int(self._key.shape[0])
        if n <= _SELECT_ROWS:
            # a short queue (a learner's cell): compressing now costs less than the merge
            # kernel's allocations and call, which a learner would pay per step (compress:
            # boolean indexing's result, at about half its cost on the 2-D blocks)
            self._key = self._key.compress(keep)
            self._qf = self._qf.compress(keep, axis=0)
            self._qi = self._qi.compress(keep, axis=0)
            self._release()
            return
        dropped = n - int(np.count_nonzero(keep))
        if dropped:
            # a long queue (a full cell): selecting rows of a 2-D block costs about 10 ns a row
            # (0.9 ms a tick at 33,000 rows); the next merge drops them in the copy it makes
            # anyway, with whatever arrived in between
            self._keep, self._dropped = keep, dropped

    def _merge(self) -> None:
        if not self._staged and self._keep is None:
            return
        from autoinfra.sim.kernels.queue import merge_rows  # numba: loaded on first use

        if self._staged:
            if len(self._staged) == 1:  # the usual case: one batch since the last read
                new_key, new_qf, new_qi = self._staged[0]
            else:
                new_key = np.concatenate([k for k, _, _ in self._staged])
                new_qf = np.concatenate([f for _, f, _ in self._staged])
                new_qi = np.concatenate([i for _, _, i in self._staged])
            few = new_key.shape[0] <= 8
            if not few or (new_key.shape[0] > 1 and not _ascending(new_key.tolist())):
                order = np.argsort(new_key, kind="stable")
                new_key = np.take(new_key, order)
                new_qf = np.take(new_qf, order, axis=0)
                new_qi = np.take(new_qi, order, axis=0)
            # (a few rows already in key order, as a scale-up's replicas are: a stable sort
            # would leave them as they are, so skip its four calls)
            if self._key.shape[0] == 0 and self._keep is None:  # nothing to merge with
                self._key, self._qf, self._qi = new_key, new_qf, new_qi
                self._staged, self._n_staged = [], 0
                self._release()
                return
        else:
            new_key = np.zeros(0, dtype=np.int64)
            new_qf = np.zeros((0, N_QF), dtype=np.float32)
            new_qi = np.zeros((0, N_QI), dtype=np.int32)
        if self._keep is not None:
            keep = self._keep
        else:  # keep every row: a view of a reused all-true buffer (the kernel only reads it)
            if self._all.shape[0] < self._key.shape[0]:
                self._all = np.ones(2 * self._key.shape[0], np.bool_)
            keep = self._all[: self._key.shape[0]]
        n = len(self)
        bufs = self._spare
        if bufs is None or bufs[0].shape[0] < n:
            cap = n + n // 4 + 64  # room to grow before the next allocation
            bufs = (
                np.empty(cap, dtype=np.int64),
                np.empty((cap, N_QF), dtype=np.float32),
                np.empty((cap, N_QI), dtype=np.int32),
            )
        out_key, out_qf, out_qi = bufs[0][:n], bufs[1][:n], bufs[2][:n]
        merge_rows(self._key, np.ascontiguousarray(self._qf), np.ascontiguousarray(self._qi),
                   keep, new_key, np.ascontiguousarray(new_qf), np.ascontiguousarray(new_qi),
                   out_key, out_qf, out_qi)  # fmt: skip
        # the rows just read become the spare (never the buffers being written)
        self._spare, self._bufs = self._bufs, bufs
        self._key, self._qf, self._qi = out_key, out_qf, out_qi
        self._keep, self._dropped, self._staged, self._n_staged = None, 0, [], 0

    def _release(self) -> None:
        """The rows now live outside the merge buffers: the current pair becomes the spare."""
        if self._bufs is not None:
            self._spare, self._bufs = self._bufs, None

    def nbytes(self) -> int:
        self._merge()
        return int(self._key.nbytes + self._qf.nbytes + self._qi.nbytes)


def _ascending(keys: list[int]) -> bool:
    return all(a <= b for a, b in pairwise(keys))


def queue_key(priority: npt.NDArray[np.integer], task_id: npt.NDArray[np.integer]) -> I64:
    return ((N_PRIO - 1 - priority.astype(np.int64)) << 32) | task_id.astype(np.int64)
