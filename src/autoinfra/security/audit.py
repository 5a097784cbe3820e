"""The audit log: an append-only, keyed chain of every step the agents take.

Each record carries the HMAC-SHA256 (under a key kept outside the log, see ``audit_key``) of its
content and of the record before it, so changing, dropping, reordering or inventing a record
breaks the chain for anyone without the key; the head (count and last MAC, MAC'd too) is kept in
a file of its own so cutting the tail off, or swapping in an older copy, is found as well.

On disk the log is JSON Lines, one ``write`` per record on a file opened in append mode and
fsynced, then the head file is replaced atomically. A fresh open checks everything before
appending:

- a *torn last line* (the process died inside a ``write``) sits beyond the head, so it was never
  acknowledged: it is cut off, a warning says so, and a ``recovered`` record in the chain keeps
  what was cut (length and SHA-256) for anyone reading the log later;
- whole records beyond the head (died between the log write and the head replace, or a head
  replace lost in a power cut) are valid under the key, which nobody else holds, so they are kept
  and the head caught up, with a warning;
- anything else that does not match (a bad MAC, a broken link, a head ahead of the log, a head
  that is not ours) is refused with the file and line, and nothing is appended.

Only one writer at a time: the log takes an exclusive lock file (``durable_files.WriterLock``).
``verify_file`` checks a log from another process without taking the lock. In experiments the log
lives in memory with a random per-log key, and ``verify()`` checks the same chain.

What the chain cannot catch alone: someone holding the key, and a rollback of the log *and* its
head together to an earlier consistent pair. Anchoring ``head`` elsewhere (a ticket, a second
host) closes the second gap.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autoinfra.core.atomic import remove_orphans, write_bytes
from autoinfra.core.errors import ConfigError
from autoinfra.security.audit_format import (
    GENESIS,
    AuditRecord,
    Head,
    check_chain,
    parse_line,
    read_head,
    seal,
)
from autoinfra.security.audit_key import AuditKey
from autoinfra.security.durable_files import WriterLock

__all__ = ["GENESIS", "AuditKey", "AuditLog", "AuditRecord", "AuditRecovered", "verify_file"]

log = logging.getLogger(__name__)


class AuditRecovered(UserWarning):
    """An audit log was repaired on open (a torn last line cut, a lagging head caught up)."""


def head_path_of(path: Path) -> Path:
    return path.with_name(path.name + ".head")


def _as_key(key: AuditKey | bytes | str | Path | None, path: Path | None) -> AuditKey:
    if isinstance(key, AuditKey):
        return key
    if isinstance(key, bytes):
        return AuditKey(key)
    if isinstance(key, str | Path):
        return AuditKey.load(key)
    if path is not None:
        raise ConfigError(
            "an audit log on disk needs its key (an AuditKey, bytes or a key file path, e.g. "
            "AuditKey.load_or_create()); a log without a key could be rewritten by anyone",
            source=str(path),
            field="key",
        )
    return AuditKey.generate()


@dataclass(frozen=True, slots=True)
class _Scan:
    """What is on disk: the whole records, the bytes of a torn last line, the head."""

    records: list[AuditRecord]
    good_bytes: int  # length of the file up to the end of the last whole line
    torn: bytes
    head: Head


def _scan(path: Path, key: AuditKey) -> _Scan:
    """Read and check the log and its head; raise a ConfigError for anything not recoverable."""
    source = str(path)
    head = read_head(head_path_of(path), key)
    data = path.read_bytes() if path.exists() else b""
    if not path.exists() and head.count > 0:
        raise ConfigError(f"audit log is missing but its head says {head.count} records",
                          source=source)  # fmt: skip
    lines = data.split(b"\n")
    torn = lines.pop()  # b"" when the file ends with a newline, as every whole write does
    records = []
    for lineno, line in enumerate(lines, start=1):
        records.append(parse_line(line, lineno=lineno, source=source))
    broken = check_chain(records, key)
    if broken is not None:
        index, why = broken
        raise ConfigError(f"line {index + 1}: audit chain broken: {why}", source=source)
    n = len(records)
    if n < head.count:
        raise ConfigError(
            f"audit log has {n} whole records but its head says {head.count}: records were cut "
            "off the end (or the log replaced by an older copy)",
            source=source,
        )
    at_head = records[head.count - 1].mac if head.count > 0 else GENESIS
    if at_head != head.mac:
        raise ConfigError(
            f"line {head.count}: record {head.count - 1} does not match the head's MAC",
            source=source,
        )
    return _Scan(records, len(data) - len(torn), torn, head)


class AuditLog:
    """Keyed, hash-chained, append-only log, in memory (``path=None``) or JSONL on disk.

    ``key``: an :class:`AuditKey`, raw bytes or a key file path; required on disk, random in memory.
    """

    def __init__(
        self,
        path: str | Path | None = None,
        *,
        key: AuditKey | bytes | str | Path | None = None,
        fsync: bool = True,
    ) -> None:
        self._fd: int | None = None
        self._lock: WriterLock | None = None
        self.path = Path(path) if path is not None else None
        self.key = _as_key(key, self.path)
        self.fsync = fsync
        self._records: list[AuditRecord] = []
        if self.path is not None:
            self._open(self.path)

    def _open(self, path: Path) -> None:
        self._lock = WriterLock(path, what="audit log")
        try:
            head_path = head_path_of(path)
            remove_orphans(head_path)  # a crash mid head-replace; we hold the lock, so it is safe
            if not head_path.exists() and not (path.exists() and path.stat().st_size > 0):
                # a new log: the head comes first, so a log without a head is always tampering
                self._write_head(Head(0, GENESIS, self.key.key_id))
            scan = _scan(path, self.key)
            self._records = scan.records
            self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            if scan.torn:
                self._recover_torn(path, scan)
            elif len(self._records) > scan.head.count:
                lag = len(self._records) - scan.head.count
                self._warn(f"the head lagged {lag} record(s) behind the log (a crash between the "
                           f"two writes); caught up at {len(self._records)} records")  # fmt: skip
                self._write_head(self._head())
        except BaseException:
            self.close()
            raise

    def _recover_torn(self, path: Path, scan: _Scan) -> None:
        os.truncate(path, scan.good_bytes)
        digest = hashlib.sha256(scan.torn).hexdigest()
        self._warn(f"cut a torn last line ({len(scan.torn)} bytes, sha256 {digest[:16]}...) "
                   f"after record {len(self._records) - 1}")  # fmt: skip
        self.append("recovered", actor="audit", at_s=self._records[-1].at_s if self._records
                    else 0.0, data={"torn_bytes": len(scan.torn), "torn_sha256": digest,
                                    "after_seq": len(self._records) - 1})  # fmt: skip

    def _warn(self, message: str) -> None:
        text = f"{self.path}: audit log recovered: {message}"
        log.warning(text)
        warnings.warn(text, AuditRecovered, stacklevel=3)

    def _head(self) -> Head:
        return Head(len(self._records), self.head, self.key.key_id)

    def _write_head(self, head: Head) -> None:
        assert self.path is not None
        # the head may lag after a power cut (no directory fsync: a third of an append's cost);
        # a lagging head is harmless, since records past it still need the key to be valid
        write_bytes(head_path_of(self.path), head.to_bytes(self.key), fsync=self.fsync,
                           sync_dir=False)  # fmt: skip

    # -- writing ---------------------------------------------------------------------------------
    def append(
        self, event: str, *, actor: str, at_s: float, data: Mapping[str, Any] | None = None
    ) -> AuditRecord:
        if self.path is not None and self._fd is None:
            raise ConfigError("audit log is closed", source=str(self.path))
        record = seal(self.key, seq=len(self._records), at_s=at_s, actor=actor, event=event,
                      data=data, prev_mac=self.head)  # fmt: skip
        if self._fd is not None:
            os.write(self._fd, (record.to_json() + "\n").encode())
            if self.fsync:
                os.fsync(self._fd)
        self._records.append(record)
        if self._fd is not None:
            self._write_head(self._head())
        return record

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def __enter__(self) -> AuditLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        self.close()

    # -- reading ---------------------------------------------------------------------------------
    @property
    def records(self) -> tuple[AuditRecord, ...]:
        return tuple(self._records)

    @property
    def head(self) -> str:
        """MAC of the last record (GENESIS when empty): anchor it elsewhere to pin the chain."""
        return self._records[-1].mac if self._records else GENESIS

    def __len__(self) -> int:
        return len(self._records)

    def __iter__(self) -> Iterator[AuditRecord]:
        return iter(self._records)

    def where(self, event: str) -> list[AuditRecord]:
        return [r for r in self._records if r.event == event]

    def problem(self) -> tuple[int, str] | None:
        """(index, why) of the first thing wrong, or None. On disk the file and head are re-read,
        so edits made behind our back are found, and the disk must match what we wrote."""
        if self.path is None:
            return check_chain(self._records, self.key)
        try:
            scan = _scan(self.path, self.key)
        except ConfigError as exc:
            return min(len(self._records), _index_in(exc)), str(exc)
        if scan.torn:
            return len(scan.records), f"{self.path}: a partial line follows the last record"
        ours = len(self._records)
        if len(scan.records) != ours or scan.head.count != ours or scan.head.mac != self.head:
            return min(len(scan.records), ours), (
                f"{self.path}: holds {len(scan.records)} records (head {scan.head.count}), "
                f"this writer wrote {ours}"
            )
        return None

    def first_invalid(self) -> int | None:
        """Index of the first record that is wrong or missing, or None if everything holds."""
        found = self.problem()
        return found[0] if found is not None else None

    def verify(self) -> bool:
        return self.problem() is None


def _index_in(exc: ConfigError) -> int:
    # our messages say "line N:" (1-based) where they know the line; otherwise count from 0
    found = re.search(r"line (\d+):", str(exc))
    return int(found.group(1)) - 1 if found else 0


def verify_file(path: str | Path, key: AuditKey | bytes | str | Path) -> tuple[int, str] | None:
    """Check a log on disk without taking its writer lock: None if it holds, else (index, why).

    A torn last line counts as a problem here (only the writer's open may repair it).
    """
    path = Path(path)
    try:
        scan = _scan(path, _as_key(key, path))
    except ConfigError as exc:
        return _index_in(exc), str(exc)
    if scan.torn:
        return len(scan.records), f"{path}: a partial line follows the last record"
    return None
