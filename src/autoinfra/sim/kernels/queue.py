"""numba kernel of the pending queue: one pass that drops placed rows and merges new ones in.

The queue is thousands of rows on a busy cell and changes every tick (arrivals, evictions,
placements). Re-sorting it with NumPy, or inserting into it, costs milliseconds at that size;
a single linear merge of two sorted runs costs one copy.
"""

from __future__ import annotations

import numpy as np
from numba import njit

Arr = np.ndarray


@njit(cache=True)
def merge_rows(key: Arr, qf: Arr, qi: Arr, keep: Arr, new_key: Arr, new_qf: Arr, new_qi: Arr,
               out_key: Arr, out_qf: Arr, out_qi: Arr) -> int:
    """Merge the kept rows of a sorted queue with sorted new rows (ties: old rows first) into
    the ``out_*`` arrays; returns the number of rows written."""
    n = key.shape[0]
    k = new_key.shape[0]
    nf = qf.shape[1]
    ni = qi.shape[1]
    i = 0
    j = 0
    w = 0
    while True:
        while i < n and not keep[i]:
            i += 1
        if i >= n and j >= k:
            break
        if j >= k or (i < n and key[i] <= new_key[j]):
            out_key[w] = key[i]
            for c in range(nf):  # explicit loops: a slice copy per row costs more than the row
                out_qf[w, c] = qf[i, c]
            for c in range(ni):
                out_qi[w, c] = qi[i, c]
            i += 1
        else:
            out_key[w] = new_key[j]
            for c in range(nf):
                out_qf[w, c] = new_qf[j, c]
            for c in range(ni):
                out_qi[w, c] = new_qi[j, c]
            j += 1
        w += 1
    return w
