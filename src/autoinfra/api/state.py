"""The API's durable state in SQLite (WAL): votes, decisions, executions, overrides, pins,
incidents and sessions.

Why SQLite in WAL mode: a committed transaction survives ``kill -9`` of the server (the WAL is
written before the commit returns; ``synchronous=NORMAL`` only risks the last commits on a power
loss, not on a process crash), readers never block the writer, and one file is easy to back up.

Exactly-once execution rests on two rules kept here: a vote and the decision it completes are
committed in one transaction (an approval is either wholly recorded or not at all), and an
approved action's execution *intent* is committed (``INSERT`` on its request id as the primary
key) before it is handed to the actuator. A request id that already has an intent is never
executed again, whatever restarts happened in between.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = ["StateStore"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS votes (
    request_id TEXT NOT NULL, subject TEXT NOT NULL, approve INTEGER NOT NULL,
    reason TEXT NOT NULL, digest TEXT NOT NULL, at_wall REAL NOT NULL,
    PRIMARY KEY (request_id, subject));
CREATE TABLE IF NOT EXISTS decisions (
    request_id TEXT PRIMARY KEY, approved INTEGER NOT NULL, by TEXT NOT NULL, why TEXT NOT NULL,
    digest TEXT NOT NULL, action TEXT NOT NULL, kind TEXT NOT NULL, state TEXT NOT NULL,
    at_wall REAL NOT NULL);
CREATE TABLE IF NOT EXISTS executions (
    request_id TEXT PRIMARY KEY, action TEXT NOT NULL, run_id TEXT NOT NULL,
    started_wall REAL NOT NULL, outcome TEXT, detail TEXT);
CREATE TABLE IF NOT EXISTS overrides (
    id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, target TEXT NOT NULL,
    subject TEXT NOT NULL, justification TEXT NOT NULL, data TEXT NOT NULL, at_wall REAL NOT NULL);
CREATE TABLE IF NOT EXISTS pins (
    target TEXT PRIMARY KEY, subject TEXT NOT NULL, justification TEXT NOT NULL,
    at_wall REAL NOT NULL);
CREATE TABLE IF NOT EXISTS incidents (
    incident_id TEXT PRIMARY KEY, run_id TEXT NOT NULL, kind TEXT NOT NULL, target TEXT NOT NULL,
    opened_s REAL NOT NULL, closed_s REAL, timeline TEXT NOT NULL, data TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS incidents_kind ON incidents (kind, target, opened_s);
CREATE TABLE IF NOT EXISTS sessions (
    session_hash TEXT PRIMARY KEY, subject TEXT NOT NULL, role TEXT NOT NULL,
    csrf TEXT NOT NULL, token_id TEXT NOT NULL, expires_wall REAL NOT NULL);
"""


class StateStore:
    """One SQLite file; every public method is one transaction, serialised by a lock."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, timeout=10.0, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._db.commit()
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock, self._db:
            yield self._db

    def _all(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    # -- votes and decisions ---------------------------------------------------------------------
    def votes(self, request_id: str) -> list[tuple[str, bool, str]]:
        rows = self._all(
            "SELECT subject, approve, reason FROM votes WHERE request_id = ? ORDER BY at_wall",
            (request_id,),
        )
        return [(r[0], bool(r[1]), r[2]) for r in rows]

    def cast(
        self,
        request_id: str,
        *,
        subject: str,
        approve: bool,
        reason: str,
        digest: str,
        required: int,
        action: dict[str, Any],
    ) -> tuple[bool, dict[str, Any] | None]:
        """Record a vote; when it completes a decision, record that in the same transaction.

        Returns (vote recorded, decision or None). A second vote by the same subject is refused
        (False); a rejection decides at once, approvals when ``required`` distinct people agree.
        """
        with self._tx() as db:
            if db.execute("SELECT 1 FROM decisions WHERE request_id = ?", (request_id,)).fetchone():
                return False, None
            try:
                db.execute(
                    "INSERT INTO votes VALUES (?,?,?,?,?,?)",
                    (request_id, subject, int(approve), reason, digest, time.time()),
                )
            except sqlite3.IntegrityError:
                return False, None
            rows = db.execute(
                "SELECT subject, approve, reason FROM votes WHERE request_id = ? AND digest = ?",
                (request_id, digest),
            ).fetchall()
            yes = [r for r in rows if r[1]]
            if approve and len(yes) < required:
                return True, None
            voters = [r[0] for r in (yes if approve else [r for r in rows if not r[1]])]
            decision = {
                "request_id": request_id,
                "approved": approve,
                "by": ",".join(voters),
                "why": "; ".join(f"{r[0]}: {r[2]}" for r in rows),
                "digest": digest,
                "kind": str(action.get("kind", "")),
            }
            db.execute(
                "INSERT INTO decisions VALUES (?,?,?,?,?,?,?,?,?)",
                (
                    request_id,
                    int(approve),
                    decision["by"],
                    decision["why"],
                    digest,
                    json.dumps(action, sort_keys=True),
                    decision["kind"],
                    "decided",
                    time.time(),
                ),
            )
            return True, decision

    def decision(self, request_id: str) -> dict[str, Any] | None:
        rows = self._all(
            "SELECT approved, by, why, digest, kind, state FROM decisions WHERE request_id = ?",
            (request_id,),
        )
        if not rows:
            return None
        r = rows[0]
        return {
            "request_id": request_id,
            "approved": bool(r[0]),
            "by": r[1],
            "why": r[2],
            "digest": r[3],
            "kind": r[4],
            "state": r[5],
        }

    def mark_delivered(self, request_id: str) -> None:
        """The decision reached the runtime (the gate's queue took the answer)."""
        with self._tx() as db:
            db.execute(
                "UPDATE decisions SET state = 'delivered' WHERE request_id = ?", (request_id,)
            )

    def decisions(self) -> list[dict[str, Any]]:
        rows = self._all("SELECT request_id, approved, by, kind, state, at_wall FROM decisions")
        return [
            {
                "request_id": r[0],
                "approved": bool(r[1]),
                "by": r[2],
                "kind": r[3],
                "state": r[4],
                "at_wall": r[5],
            }
            for r in rows
        ]

    # -- executions ------------------------------------------------------------------------------
    def claim_execution(self, request_id: str, action: dict[str, Any], run_id: str) -> bool:
        """Commit the intent to execute; False if this request id was ever claimed before."""
        with self._tx() as db:
            try:
                db.execute(
                    "INSERT INTO executions VALUES (?,?,?,?,NULL,NULL)",
                    (request_id, json.dumps(action, sort_keys=True), run_id, time.time()),
                )
            except sqlite3.IntegrityError:
                return False
            return True

    def finish_execution(self, request_id: str, succeeded: bool, detail: str) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE executions SET outcome = ?, detail = ? WHERE request_id = ?",
                ("succeeded" if succeeded else "failed", detail, request_id),
            )

    def executions(self) -> list[dict[str, Any]]:
        rows = self._all("SELECT request_id, action, run_id, outcome FROM executions")
        return [
            {"request_id": r[0], "action": json.loads(r[1]), "run_id": r[2], "outcome": r[3]}
            for r in rows
        ]

    # -- overrides and pins ----------------------------------------------------------------------
    def add_override(
        self, kind: str, target: str, subject: str, justification: str, data: dict[str, Any]
    ) -> int:
        with self._tx() as db:
            cur = db.execute(
                "INSERT INTO overrides (kind, target, subject, justification, data, at_wall) "
                "VALUES (?,?,?,?,?,?)",
                (kind, target, subject, justification, json.dumps(data), time.time()),
            )
            return int(cur.lastrowid or 0)

    def overrides(self, limit: int) -> list[dict[str, Any]]:
        rows = self._all(
            "SELECT id, kind, target, subject, justification, data, at_wall FROM overrides "
            "ORDER BY id DESC LIMIT ?",
            (limit,),
        )
        return [
            {
                "id": r[0],
                "kind": r[1],
                "target": r[2],
                "by": r[3],
                "justification": r[4],
                "data": json.loads(r[5]),
                "at_wall": r[6],
            }
            for r in rows
        ]

    def set_pin(self, target: str, subject: str, justification: str) -> bool:
        with self._tx() as db:
            cur = db.execute(
                "INSERT OR IGNORE INTO pins VALUES (?,?,?,?)",
                (target, subject, justification, time.time()),
            )
            return cur.rowcount == 1

    def drop_pin(self, target: str) -> bool:
        with self._tx() as db:
            return db.execute("DELETE FROM pins WHERE target = ?", (target,)).rowcount == 1

    def pins(self) -> list[dict[str, Any]]:
        rows = self._all("SELECT target, subject, justification, at_wall FROM pins")
        return [{"target": r[0], "by": r[1], "justification": r[2], "at_wall": r[3]} for r in rows]

    # -- incidents -------------------------------------------------------------------------------
    def save_incident(self, incident: dict[str, Any]) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO incidents VALUES (?,?,?,?,?,?,?,?)",
                (
                    incident["incident_id"],
                    incident["run_id"],
                    incident["kind"],
                    incident["target"],
                    incident["opened_s"],
                    incident.get("closed_s"),
                    json.dumps(incident["timeline"]),
                    json.dumps({k: v for k, v in incident.items() if k not in _INCIDENT_COLS}),
                ),
            )

    def incidents(
        self,
        kind: str | None = None,
        target: str | None = None,
        since_s: float | None = None,
        until_s: float | None = None,
        limit: int = 500,
    ) -> list[dict[str, Any]]:
        sql = "SELECT * FROM incidents WHERE 1=1"
        args: list[Any] = []
        for clause, value in (
            (" AND kind = ?", kind),
            (" AND target = ?", target),
            (" AND opened_s >= ?", since_s),
            (" AND opened_s <= ?", until_s),
        ):
            if value is not None:
                sql += clause
                args.append(value)
        rows = self._all(sql + " ORDER BY rowid DESC LIMIT ?", (*args, limit))
        return [_incident(r) for r in rows]

    def incident(self, incident_id: str) -> dict[str, Any] | None:
        rows = self._all("SELECT * FROM incidents WHERE incident_id = ?", (incident_id,))
        return _incident(rows[0]) if rows else None

    # -- sessions --------------------------------------------------------------------------------
    def add_session(
        self, session_hash: str, subject: str, role: str, csrf: str, token_id: str, ttl_s: float
    ) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM sessions WHERE expires_wall < ?", (time.time(),))
            db.execute(
                "INSERT INTO sessions VALUES (?,?,?,?,?,?)",
                (session_hash, subject, role, csrf, token_id, time.time() + ttl_s),
            )

    def session(self, session_hash: str) -> tuple[str, str, str, str] | None:
        rows = self._all(
            "SELECT subject, role, csrf, token_id FROM sessions "
            "WHERE session_hash = ? AND expires_wall > ?",
            (session_hash, time.time()),
        )
        return (rows[0][0], rows[0][1], rows[0][2], rows[0][3]) if rows else None

    def drop_session(self, session_hash: str) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM sessions WHERE session_hash = ?", (session_hash,))


_INCIDENT_COLS = {"incident_id", "run_id", "kind", "target", "opened_s", "closed_s", "timeline"}


def _incident(row: tuple[Any, ...]) -> dict[str, Any]:
    out = {
        "incident_id": row[0],
        "run_id": row[1],
        "kind": row[2],
        "target": row[3],
        "opened_s": row[4],
        "closed_s": row[5],
        "timeline": json.loads(row[6]),
    }
    out.update(json.loads(row[7]))
    return out
