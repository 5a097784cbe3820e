"""Keeping numba's on-disk cache honest across the simulator's kernel modules.

numba caches each compiled kernel next to its module (``__pycache__/<module>.<function>-*.nbi``)
and invalidates it only when that module's own file changes. Our kernels also compile in code
from other files (the row numbers of ``layout.py``, the search helpers of ``search.py``),
so an edit there would leave a kernel running stale machine code. ``drop_stale_cache`` deletes a
kernel module's cache entries when any file it depends on is newer than they are; numba then
recompiles once and writes fresh entries. It only ever deletes cache files, never source.
"""

from __future__ import annotations

import os
from pathlib import Path
from types import ModuleType


def drop_stale_cache(module_file: str, *deps: ModuleType) -> int:
    """Delete cached kernels of ``module_file`` older than any of ``deps``; returns how many."""
    here = Path(module_file)
    cache = here.parent / "__pycache__"
    if not cache.is_dir():
        return 0
    try:
        newest = max(os.stat(str(d.__file__)).st_mtime for d in deps)
    except (OSError, TypeError):
        return 0
    dropped = 0
    for entry in cache.glob(f"{here.stem}.*.nb[ic]"):
        try:
            if entry.stat().st_mtime < newest:
                entry.unlink()
                dropped += 1
        except OSError:  # another process got there first, or the cache is read-only
            continue
    return dropped
