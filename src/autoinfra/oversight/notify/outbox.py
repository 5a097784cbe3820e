"""The durable outbox: a notice is committed to SQLite before any attempt to send it.

So a crash (kill -9 included) loses no notification: whatever was enqueued is on disk, and a
restarted dispatcher picks up every row not yet delivered. Delivery is therefore at least once: a
crash after the receiver answered but before the row was marked delivered sends it again, which is
why every channel carries a stable id (webhook event id, PagerDuty dedup key) for the receiver to
fold duplicates. ``(channel, event_id)`` is unique, so enqueueing the same notice twice is a no-op.

WAL mode with ``synchronous=FULL``: each commit is on disk when ``enqueue`` returns. One connection
guarded by a lock; the dispatcher is the only reader that changes rows.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from autoinfra.core.errors import ConfigError

__all__ = ["Outbox", "OutboxRow", "RowState"]

RowState = Literal["pending", "delivered", "dead"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    channel TEXT NOT NULL,
    event_id TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_s REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_s REAL NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',
    last_error TEXT NOT NULL DEFAULT '',
    done_s REAL,
    UNIQUE (channel, event_id)
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (state, next_attempt_s);
"""


@dataclass(frozen=True, slots=True)
class OutboxRow:
    id: int
    channel: str
    event_id: str
    payload: dict[str, Any]
    created_s: float
    attempts: int
    next_attempt_s: float
    state: RowState
    last_error: str
    done_s: float | None


class Outbox:
    """Notices waiting to be sent, sent, or given up on, in one SQLite file (or ``:memory:``)."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise ConfigError(f"notification outbox unusable ({exc})", source=self.path) from exc
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def enqueue(
        self, channel: str, event_id: str, payload: dict[str, Any], *, now_s: float
    ) -> bool:
        """Commit one notice for ``channel``; False if this (channel, event) was already queued."""
        text = json.dumps(payload, separators=(",", ":"))
        with self._lock:
            cur = self._db.execute(
                "INSERT OR IGNORE INTO outbox"
                " (channel, event_id, payload, created_s, next_attempt_s) VALUES (?, ?, ?, ?, ?)",
                (channel, event_id, text, now_s, now_s),
            )
            return cur.rowcount == 1

    def due(self, *, now_s: float, limit: int = 50) -> list[OutboxRow]:
        """Pending rows whose next attempt is due, oldest first."""
        return self._select(
            "WHERE state = 'pending' AND next_attempt_s <= ? ORDER BY next_attempt_s, id LIMIT ?",
            (now_s, limit),
        )

    def next_due_s(self) -> float | None:
        with self._lock:
            row = self._db.execute(
                "SELECT MIN(next_attempt_s) FROM outbox WHERE state = 'pending'"
            ).fetchone()
        return None if row[0] is None else float(row[0])

    def mark_delivered(self, row_id: int, *, now_s: float) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE outbox SET state = 'delivered', attempts = attempts + 1, done_s = ?,"
                " last_error = '' WHERE id = ?",
                (now_s, row_id),
            )

    def mark_failed(
        self, row_id: int, *, error: str, now_s: float, retry_at_s: float | None
    ) -> None:
        """One more failed attempt; ``retry_at_s=None`` gives up on the row (state ``dead``)."""
        with self._lock:
            if retry_at_s is None:
                self._db.execute(
                    "UPDATE outbox SET state = 'dead', attempts = attempts + 1, last_error = ?,"
                    " done_s = ? WHERE id = ?",
                    (error[:500], now_s, row_id),
                )
            else:
                self._db.execute(
                    "UPDATE outbox SET attempts = attempts + 1, last_error = ?, next_attempt_s = ?"
                    " WHERE id = ?",
                    (error[:500], retry_at_s, row_id),
                )

    def rows(self, state: RowState | None = None) -> list[OutboxRow]:
        if state is None:
            return self._select("ORDER BY id", ())
        return self._select("WHERE state = ? ORDER BY id", (state,))

    def counts(self) -> dict[str, int]:
        with self._lock:
            got = dict(self._db.execute("SELECT state, COUNT(*) FROM outbox GROUP BY state"))
        return {state: int(got.get(state, 0)) for state in ("pending", "delivered", "dead")}

    def _select(self, where: str, args: tuple[Any, ...]) -> list[OutboxRow]:
        with self._lock:
            raw = self._db.execute(
                "SELECT id, channel, event_id, payload, created_s, attempts, next_attempt_s, state,"
                f" last_error, done_s FROM outbox {where}",
                args,
            ).fetchall()
        return [
            OutboxRow(r[0], r[1], r[2], json.loads(r[3]), r[4], r[5], r[6], r[7], r[8], r[9])
            for r in raw
        ]
