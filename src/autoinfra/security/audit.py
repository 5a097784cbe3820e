"""The audit log: an append-only, hash-chained record of every step the agents take.

Each record carries the SHA-256 of the record before it, and its own hash over its content and that
link, so changing, dropping or reordering any record breaks every hash after it; ``verify()`` finds
the first broken record. On disk the log is JSON Lines, one record per ``write`` on a file opened in
append mode and fsynced (so a crash leaves at most a missing last line, never a half-merged one);
in experiments it lives in memory, where the same chain is kept so tests and reports can verify it.

The chain protects against silent edits by anyone who cannot also rewrite every later hash; it is
not a signature. Anchoring the head hash elsewhere (a second log, a ticket) is what makes a full
rewrite detectable, and ``head`` is exposed for that.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autoinfra.core.errors import ConfigError

__all__ = ["GENESIS", "AuditLog", "AuditRecord"]

GENESIS = "0" * 64  # the "previous hash" of the first record


def _jsonable(value: Any) -> Any:
    """JSON fallback for NumPy scalars, enums, sets and dataclass-like objects in record data."""
    if hasattr(value, "item"):  # NumPy scalar
        return value.item()
    if hasattr(value, "tolist"):  # NumPy array
        return value.tolist()
    if isinstance(value, set | frozenset):
        return sorted(value)
    return str(value)


def _canonical(body: Mapping[str, Any]) -> str:
    return json.dumps(body, sort_keys=True, separators=(",", ":"), default=_jsonable)


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One step: who (``actor``) did what (``event``) when (``at_s``, simulated seconds)."""

    seq: int
    at_s: float
    actor: str
    event: str
    data: dict[str, Any]
    prev_hash: str
    hash: str

    def body(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "at_s": self.at_s,
            "actor": self.actor,
            "event": self.event,
            "data": self.data,
            "prev_hash": self.prev_hash,
        }

    def expected_hash(self) -> str:
        return hashlib.sha256(_canonical(self.body()).encode()).hexdigest()

    def to_json(self) -> str:
        return _canonical({**self.body(), "hash": self.hash})


class AuditLog:
    """Hash-chained append-only log, in memory (``path=None``) or JSONL on disk.

    Opening an existing file continues its chain after verifying it; a broken file is refused with
    the line that breaks it.
    """

    def __init__(self, path: str | Path | None = None, *, fsync: bool = True) -> None:
        self.path = Path(path) if path is not None else None
        self.fsync = fsync
        self._records: list[AuditRecord] = []
        self._fd: int | None = None
        if self.path is not None:
            if self.path.exists():
                self._records = list(_read(self.path))
                bad = _first_invalid(self._records)
                if bad is not None:
                    raise ConfigError(
                        f"audit chain broken at record {bad} (line {bad + 1}); refusing to append",
                        source=str(self.path),
                    )
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    # -- writing ---------------------------------------------------------------------------------
    def append(
        self, event: str, *, actor: str, at_s: float, data: Mapping[str, Any] | None = None
    ) -> AuditRecord:
        prev = self._records[-1].hash if self._records else GENESIS
        # round-trip the data through JSON now so the stored record is exactly what is hashed
        clean = json.loads(_canonical(dict(data or {})))
        body = {
            "seq": len(self._records),
            "at_s": float(at_s),
            "actor": actor,
            "event": event,
            "data": clean,
            "prev_hash": prev,
        }
        digest = hashlib.sha256(_canonical(body).encode()).hexdigest()
        record = AuditRecord(len(self._records), float(at_s), actor, event, clean, prev, digest)
        self._records.append(record)
        if self._fd is not None:
            os.write(self._fd, (record.to_json() + "\n").encode())
            if self.fsync:
                os.fsync(self._fd)
        return record

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __del__(self) -> None:
        self.close()

    # -- reading ---------------------------------------------------------------------------------
    @property
    def records(self) -> tuple[AuditRecord, ...]:
        return tuple(self._records)

    @property
    def head(self) -> str:
        """Hash of the last record (GENESIS when empty): anchor it elsewhere to pin the chain."""
        return self._records[-1].hash if self._records else GENESIS

    def __len__(self) -> int:
        return len(self._records)

    def __iter__(self) -> Iterator[AuditRecord]:
        return iter(self._records)

    def where(self, event: str) -> list[AuditRecord]:
        return [r for r in self._records if r.event == event]

    def first_invalid(self) -> int | None:
        """Index of the first record whose hash or link is wrong, or None if the chain holds.

        For a log on disk the file is re-read, so edits made to it behind our back are found.
        """
        records = list(_read(self.path)) if self.path is not None else self._records
        bad = _first_invalid(records)
        if bad is None and self.path is not None and len(records) != len(self._records):
            return min(len(records), len(self._records))  # lines dropped from or added to the tail
        return bad

    def verify(self) -> bool:
        return self.first_invalid() is None


def _first_invalid(records: list[AuditRecord]) -> int | None:
    prev = GENESIS
    for i, record in enumerate(records):
        if record.seq != i or record.prev_hash != prev or record.expected_hash() != record.hash:
            return i
        prev = record.hash
    return None


def _read(path: Path) -> Iterator[AuditRecord]:
    with path.open("r", encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                raw = json.loads(line)
                yield AuditRecord(
                    int(raw["seq"]),
                    float(raw["at_s"]),
                    str(raw["actor"]),
                    str(raw["event"]),
                    dict(raw["data"]),
                    str(raw["prev_hash"]),
                    str(raw["hash"]),
                )
            except (ValueError, KeyError, TypeError) as exc:
                raise ConfigError(
                    f"line {lineno}: not an audit record ({exc})", source=str(path)
                ) from exc
