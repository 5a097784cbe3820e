"""The approval queue's file: an append-only JSON Lines log, one writer, replayed on open.

Every change to the queue is one appended line (``approval_events``), fsynced before the call
returns (``fsync=False`` trades that for speed in tests and benchmarks), so asking costs the same
at 5 pending requests as at 5,000: no whole-file rewrite per request. Opening the log:

1. takes the exclusive writer lock (``security.durable_files.WriterLock``): a second process that
   opens the same queue for writing is refused with an error naming the lock;
2. deletes temporary files a crash left behind mid-compaction (safe: we hold the lock);
3. reads every line; a *torn* last line (no newline: the process died inside ``write``, so the
   call never returned and nobody was told it happened) is cut off with a warning; any other bad
   line is an error naming the file and line, and nothing is appended to a log we cannot read;
4. hands the events to the queue to replay.

``rewrite`` compacts: the events still needed are written to a temporary file that replaces the
log by a rename, so a crash leaves either the old log or the new one, never a mix.
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from collections.abc import Iterable
from pathlib import Path

from autoinfra.core.atomic import remove_orphans, write_bytes
from autoinfra.core.errors import ConfigError
from autoinfra.oversight.approval_events import (
    HEADER,
    Answered,
    Asked,
    Closed,
    Executed,
    Expired,
    dump_event,
    parse_event,
)
from autoinfra.security.durable_files import WriterLock

__all__ = ["AnyEvent", "ApprovalLog", "ApprovalLogRecovered"]

log = logging.getLogger(__name__)

AnyEvent = Asked | Answered | Expired | Executed | Closed
_HEADER_LINE = (json.dumps(HEADER, separators=(",", ":")) + "\n").encode()


class ApprovalLogRecovered(UserWarning):
    """The approval log was repaired on open (a torn last line was cut off)."""


class ApprovalLog:
    """Append-only event log at ``path``, held by this object alone until ``close()``."""

    def __init__(self, path: Path, *, fsync: bool = True) -> None:
        self.path = path
        self.fsync = fsync
        self._fd: int | None = None
        self._lock = WriterLock(path, what="approval queue")
        try:
            self.orphans_removed = remove_orphans(path)
            self.replayed = self._read()
            self._fd = os.open(path, os.O_WRONLY | os.O_APPEND)
        except BaseException:
            self.close()
            raise

    def _read(self) -> list[AnyEvent]:
        source = str(self.path)
        if not self.path.exists() or self.path.stat().st_size == 0:
            write_bytes(self.path, _HEADER_LINE, fsync=self.fsync, mode=0o600)
            return []
        data = self.path.read_bytes()
        if _HEADER_LINE.startswith(data):  # a header torn while creating: nothing was ever asked
            write_bytes(self.path, _HEADER_LINE, fsync=self.fsync, mode=0o600)
            return []
        # the header is checked before anything is repaired: a file that is not ours is left alone
        if not data.startswith(_HEADER_LINE):
            raise ConfigError(
                f"line 1: not an approval log of format {HEADER} (a queue file of an older "
                "version, or another file): move it away to start a new queue",
                source=source,
            )
        lines = data.split(b"\n")
        torn = lines.pop()
        if torn:
            os.truncate(self.path, len(data) - len(torn))
            text = (f"{source}: approval log recovered: cut a torn last line ({len(torn)} bytes; "
                    "it was never acknowledged)")  # fmt: skip
            log.warning(text)
            warnings.warn(text, ApprovalLogRecovered, stacklevel=4)
        return [parse_event(line, lineno=n, source=source) for n, line in enumerate(lines[1:], 2)]

    def append(self, event: AnyEvent) -> None:
        if self._fd is None:
            raise ConfigError("approval queue is closed", source=str(self.path))
        os.write(self._fd, dump_event(event))
        if self.fsync:
            os.fsync(self._fd)

    def rewrite(self, events: Iterable[AnyEvent]) -> None:
        """Replace the log by one holding only ``events`` (compaction), atomically."""
        if self._fd is None:
            raise ConfigError("approval queue is closed", source=str(self.path))
        body = _HEADER_LINE + b"".join(dump_event(e) for e in events)
        write_bytes(self.path, body, fsync=self.fsync, mode=0o600)
        os.close(self._fd)  # the old inode is gone; append to the new file from now on
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        self._lock.release()
