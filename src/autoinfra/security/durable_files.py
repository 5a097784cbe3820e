"""The file primitives the audit chain and the approval queue rest on: one writer, whole files.

- :class:`WriterLock` holds an exclusive ``fcntl.flock`` on a lock file beside the data file, so
  a second process (or a second object in this one) that opens the same log for writing gets a
  clear error instead of interleaving its lines with ours. The lock lives in its own file because
  the data file may be replaced by a rename (compaction), which would silently drop a lock held on
  the old inode. The kernel releases the lock when the process dies, so a crash never leaves a
  stale lock behind.
- :func:`replace_atomically` writes a whole file through a temporary file, fsync and rename (and
  an fsync of the directory, so the rename itself survives a power cut).
- :func:`remove_orphans` deletes temporary files a crash left behind; call it only while holding
  the writer lock, so it cannot delete a temporary file another writer is still filling.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
from pathlib import Path

from autoinfra.core.errors import ConfigError

__all__ = ["TEMP_SUFFIX", "WriterLock", "fsync_dir", "remove_orphans", "replace_atomically"]

TEMP_SUFFIX = ".tmp"  # every temporary file made here is ".<name>.<random>.tmp"


class WriterLock:
    """An exclusive, non-blocking lock on ``<path>.lock``, freed by ``release()`` or exit."""

    def __init__(self, path: Path, *, what: str) -> None:
        self.lock_path = path.with_name(path.name + ".lock")
        self.lock_path.parent.mkdir(parents=True, exist_ok=True)
        self._fd: int | None = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._fd)
            self._fd = None
            raise ConfigError(
                f"{what} is already open for writing by another process or object "
                f"(lock {self.lock_path} is held); close it first, one writer at a time",
                source=str(path),
            ) from None
        # who holds it, for a person reading the lock file; the lock itself is the flock
        os.ftruncate(self._fd, 0)
        os.write(self._fd, f"{os.getpid()}\n".encode())

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def fsync_dir(directory: Path) -> None:
    """Make a rename or a new file in ``directory`` durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def replace_atomically(
    path: Path, data: bytes, *, fsync: bool = True, mode: int = 0o644, sync_dir: bool = True
) -> None:
    """Put ``data`` at ``path`` whole or not at all (temp file, fsync, rename, fsync the dir).

    ``sync_dir=False`` skips the directory fsync: the file is still whole, but after a power cut
    the rename may be lost and the previous version found instead (for files that may lag).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TEMP_SUFFIX)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            if fsync:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    if fsync and sync_dir:
        fsync_dir(path.parent)


def remove_orphans(path: Path) -> list[Path]:
    """Delete ``.<name>.*.tmp`` files beside ``path`` (left by a crash mid-replace); say which."""
    if not path.parent.is_dir():
        return []
    removed = []
    for orphan in path.parent.glob(f".{path.name}.*{TEMP_SUFFIX}"):
        orphan.unlink(missing_ok=True)
        removed.append(orphan)
    return removed
