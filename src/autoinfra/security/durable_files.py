"""The writer lock the audit chain and the approval queue rest on: one writer per file.

:class:`WriterLock` holds an exclusive ``fcntl.flock`` on a lock file beside the data file, so
a second process (or a second object in this one) that opens the same log for writing gets a
clear error instead of interleaving its lines with ours. The lock lives in its own file because
the data file may be replaced by a rename (compaction), which would silently drop a lock held on
the old inode. The kernel releases the lock when the process dies, so a crash never leaves a
stale lock behind.

Whole-file rewrites (compaction, a new head) and the clean-up of temporary files a crash left
behind are :mod:`autoinfra.core.atomic`'s, the one writer of the project; call its
``remove_orphans`` only while holding this lock, so it cannot delete a temporary file another
writer is still filling.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from autoinfra.core.errors import ConfigError

__all__ = ["WriterLock"]


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
