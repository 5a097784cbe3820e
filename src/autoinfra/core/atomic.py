"""The one way autoinfra writes a whole file: a temporary file beside it, fsync, rename, fsync dir.

A reader (a person, CI, a later run's cache check, a process restarting after a crash) never sees
a half-written report, table, model, key or settings file: it finds either the previous version or
the complete new one. Why each step:

- the temporary file lives in the target's own directory, so ``os.replace`` is a rename within one
  file system (atomic on POSIX) and never a copy;
- its name is ``.<target name>.<random>.tmp`` (hidden, and recognisable by :func:`remove_orphans`
  after a crash mid-write);
- the data is fsynced before the rename, or a power cut could leave the new name pointing at an
  empty file; the directory is fsynced after it, or the rename itself may be lost;
- the mode is set before anything is written, so a private file (an approval queue, a key) is
  never readable by others, not even for a moment.

``fsync=False`` keeps the rename (the file is still whole) but skips both fsyncs: for tests and for
files that may lag behind after a power cut. Append-only logs (the audit chain, the approval
queue's JSONL) append with their own fsync; only their whole-file rewrites (compaction, a new head)
come through here. :func:`create_exclusive` is the other whole-file operation: write a file once,
never overwriting one that exists (an HMAC key two processes may create at the same moment).
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

__all__ = [
    "TEMP_SUFFIX",
    "atomic_path",
    "create_exclusive",
    "fsync_dir",
    "remove_orphans",
    "write_bytes",
    "write_json",
    "write_text",
]

TEMP_SUFFIX = ".tmp"  # every temporary file made here is ".<name>.<random>.tmp"
SHARED_MODE = 0o644  # outputs are for reading, as open() would make them under the usual umask


def fsync_dir(directory: Path) -> None:
    """Make a rename or a new file in ``directory`` durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_file(path: Path) -> None:
    # fsync through any descriptor flushes the inode's data: writers that only take a path
    # (pyarrow, matplotlib, Stable-Baselines3) closed theirs already
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _temp_beside(path: Path, mode: int, suffix: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    try:
        os.fchmod(fd, mode)  # mkstemp makes 0600; set the final mode before any byte is written
    finally:
        os.close(fd)
    return Path(name)


@contextlib.contextmanager
def atomic_path(
    path: str | Path,
    *,
    mode: int = SHARED_MODE,
    fsync: bool = True,
    sync_dir: bool = True,
    suffix: str = TEMP_SUFFIX,
) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; when the block succeeds it replaces ``path``.

    For writers that take a path (``frame.to_parquet(tmp)``, ``fig.savefig(tmp)``). If the block
    raises, the temporary file is removed and ``path`` is untouched. ``suffix`` is for writers
    that insist on an extension (Stable-Baselines3 adds ``.zip`` to a name without one).
    """
    target = Path(path)
    tmp = _temp_beside(target, mode, suffix)
    try:
        yield tmp
        if fsync:
            _fsync_file(tmp)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if fsync and sync_dir:
        fsync_dir(target.parent)


def write_bytes(
    path: str | Path,
    data: bytes,
    *,
    mode: int = SHARED_MODE,
    fsync: bool = True,
    sync_dir: bool = True,
) -> Path:
    """Put ``data`` at ``path`` whole or not at all; returns the path."""
    target = Path(path)
    with atomic_path(target, mode=mode, fsync=fsync, sync_dir=sync_dir) as tmp:
        tmp.write_bytes(data)
    return target


def write_text(
    path: str | Path,
    text: str,
    *,
    mode: int = SHARED_MODE,
    fsync: bool = True,
    sync_dir: bool = True,
) -> Path:
    """Put ``text`` (UTF-8) at ``path`` whole or not at all; returns the path."""
    return write_bytes(path, text.encode("utf-8"), mode=mode, fsync=fsync, sync_dir=sync_dir)


def write_json(
    path: str | Path,
    doc: Any,
    *,
    indent: int | None = 2,
    sort_keys: bool = False,
    default: Callable[[Any], Any] | None = None,
    allow_nan: bool = False,
    mode: int = SHARED_MODE,
    fsync: bool = True,
) -> Path:
    """``doc`` as JSON plus a final newline, written whole; NaN refused unless ``allow_nan``.

    NaN is not JSON: a file holding it is refused by strict readers (browsers, ``jq``).
    """
    text = json.dumps(doc, indent=indent, sort_keys=sort_keys, default=default, allow_nan=allow_nan)
    return write_text(path, text + "\n", mode=mode, fsync=fsync)


def create_exclusive(path: str | Path, data: bytes, *, mode: int = 0o600) -> bool:
    """Create ``path`` holding ``data`` unless it exists; True if this call created it.

    The data is written and fsynced under a temporary name, then hard-linked to ``path``: the
    link fails if another process created ``path`` meanwhile, so two processes starting at once
    agree on one file instead of each overwriting the other's.
    """
    target = Path(path)
    tmp = _temp_beside(target, mode, TEMP_SUFFIX)
    try:
        tmp.write_bytes(data)
        _fsync_file(tmp)
        try:
            os.link(tmp, target)
        except FileExistsError:
            return False
        fsync_dir(target.parent)
        return True
    finally:
        tmp.unlink(missing_ok=True)


def remove_orphans(path: str | Path) -> list[Path]:
    """Delete ``.<name>.*.tmp`` files beside ``path`` (left by a crash mid-write); say which.

    Call it only while holding the file's writer lock, so it cannot delete a temporary file
    another writer is still filling.
    """
    target = Path(path)
    if not target.parent.is_dir():
        return []
    removed = []
    for orphan in target.parent.glob(f".{target.name}.*{TEMP_SUFFIX}"):
        orphan.unlink(missing_ok=True)
        removed.append(orphan)
    return removed
