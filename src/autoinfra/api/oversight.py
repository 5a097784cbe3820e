"""The one adapter between the API and the oversight and security internals it drives.

The API reads and writes the audit chain and the approval queue only through this module, so when
those internals change (a keyed HMAC chain with its head stored apart, a durable append-only
approval queue) the change is made here and nowhere else in the package. The chain is keyed: its
HMAC key lives in ``$AUTOINFRA_HOME/keys/serve-audit.key`` (0600), outside the state folder that
holds the log and its head, so whoever can rewrite the log cannot also forge its MACs. The other
API modules import the queue's item and answer types from here too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autoinfra.oversight.approval import Answer, ApprovalItem, ApprovalQueue
from autoinfra.security.audit import AuditLog
from autoinfra.security.audit_key import AuditKey
from autoinfra.security.tokens import autoinfra_home

__all__ = ["Answer", "AuditEntry", "Oversight", "PendingItem", "open_audit", "queue_of"]


@dataclass(frozen=True, slots=True)
class AuditEntry:
    seq: int
    at_s: float
    actor: str
    event: str
    data: dict[str, Any]
    hash: str  # the record's HMAC (what chains it to the next)


PendingItem = ApprovalItem


def open_audit(path: Path, *, fsync: bool, key_dir: Path | None = None) -> AuditLog:
    """The served runtime's chain on disk, continued (and verified) if the file exists."""
    keys = key_dir if key_dir is not None else autoinfra_home() / "keys"
    key = AuditKey.load_or_create(name="serve-audit", key_dir=keys)
    return AuditLog(path, key=key, fsync=fsync)


def queue_of(gate: Any) -> ApprovalQueue:
    """The approval queue of the runtime's gate (the preset's ``Gate`` always has one)."""
    queue = getattr(gate, "queue", None)
    if not isinstance(queue, ApprovalQueue):
        raise TypeError(f"gate {type(gate).__name__} has no approval queue")
    return queue


class Oversight:
    """Audit chain and approval queue, as the API needs them."""

    def __init__(self, audit: AuditLog, queue: ApprovalQueue) -> None:
        self._audit = audit
        self._queue = queue

    # -- audit -----------------------------------------------------------------------------------
    def record(
        self, event: str, *, actor: str, at_s: float, data: Mapping[str, Any] | None = None
    ) -> int:
        return self._audit.append(event, actor=actor, at_s=at_s, data=data).seq

    def entries(self, offset: int, limit: int) -> tuple[int, list[AuditEntry]]:
        records = self._audit.records
        page = records[offset : offset + limit]
        return len(records), [
            AuditEntry(r.seq, r.at_s, r.actor, r.event, r.data, r.mac) for r in page
        ]

    def verify(self) -> tuple[bool, int | None, int]:
        """(chain holds, first broken record or None, records checked)."""
        bad = self._audit.first_invalid()
        return bad is None, bad, len(self._audit.records)

    # -- approvals -------------------------------------------------------------------------------
    def pending(self) -> list[ApprovalItem]:
        return self._queue.pending()

    def find(self, request_id: str) -> ApprovalItem | None:
        for item in self._queue.pending():
            if item.request_id == request_id:
                return item
        return None

    def answer(self, request_id: str, *, approved: bool, by: str, why: str, at_s: float) -> None:
        self._queue.answer(request_id, approved=approved, by=by, why=why, at_s=at_s)
