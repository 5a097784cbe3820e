"""numba kernel of the pending queue: one pass that drops placed rows and merges new ones in.

The queue is thousands of rows on a busy cell and changes every tick (arrivals, evictions,
placements). Re-sorting it with NumPy, or inserting into it, costs milliseconds at that size;
a single linear merge of two sorted runs costs one copy. Between changes the rows mostly stay
in order (a tick places or adds a few hundred of 30,000), so the pass copies *runs* of rows,
each run as one contiguous block, rather than row by row and column by column: on the full
cell-day that took the merge from about 0.28 ms to 0.18 ms a tick (cProfile), which is about
what copying the queue's 1.6 MB costs on this machine.
"""

from __future__ import annotations

import numpy as np
from numba import njit

Arr = np.ndarray


@njit(cache=True)
def _copy_rows(src_key: Arr, src_f: Arr, src_i: Arr, lo: int, hi: int, out_key: Arr,
               out_f: Arr, out_i: Arr, w: int, nf: int, ni: int) -> None:
    """Rows lo..hi of a source into the output from row w (the 2-D blocks as flat views)."""
    out_key[w : w + hi - lo] = src_key[lo:hi]
    out_f[w * nf : (w + hi - lo) * nf] = src_f[lo * nf : hi * nf]
    out_i[w * ni : (w + hi - lo) * ni] = src_i[lo * ni : hi * ni]


@njit(cache=True)
def merge_rows(key: Arr, qf: Arr, qi: Arr, keep: Arr, new_key: Arr, new_qf: Arr, new_qi: Arr,
               out_key: Arr, out_qf: Arr, out_qi: Arr) -> int:
    """Merge the kept rows of a sorted queue with sorted new rows (ties: old rows first) into
    the ``out_*`` arrays; returns the number of rows written. Every 2-D block is C-contiguous
    (rows of ``nf``/``ni`` values), so a run of rows is one contiguous stretch of memory."""
    n = key.shape[0]
    k = new_key.shape[0]
    nf = out_qf.shape[1]
    ni = out_qi.shape[1]
    old_f, old_i = qf.reshape(qf.size), qi.reshape(qi.size)  # flat views of the same memory
    new_f, new_i = new_qf.reshape(new_qf.size), new_qi.reshape(new_qi.size)
    out_f, out_i = out_qf.reshape(out_qf.size), out_qi.reshape(out_qi.size)
    i = 0
    j = 0
    w = 0
    while True:
        while i < n and not keep[i]:
            i += 1
        if i >= n:
            if j < k:
                _copy_rows(new_key, new_f, new_i, j, k, out_key, out_f, out_i, w, nf, ni)
                w += k - j
            break
        if j >= k or key[i] <= new_key[j]:
            # a run of kept old rows, up to the next dropped row or the next new row's place
            e = i + 1
            if j >= k:
                while e < n and keep[e]:
                    e += 1
            else:
                bound = new_key[j]
                while e < n and keep[e] and key[e] <= bound:
                    e += 1
            _copy_rows(key, old_f, old_i, i, e, out_key, out_f, out_i, w, nf, ni)
            w += e - i
            i = e
        else:
            # a run of new rows that go before the next kept old row
            bound = key[i]
            f = j + 1
            while f < k and new_key[f] < bound:
                f += 1
            _copy_rows(new_key, new_f, new_i, j, f, out_key, out_f, out_i, w, nf, ni)
            w += f - j
            j = f
    return w
