"""API tokens for people: created once, shown once, stored only as salted hashes.

A token is ``ai_<id>_<secret>``: ``id`` (public, 8 hex) finds the row, ``secret`` (32 random
bytes, URL-safe) proves possession. The row keeps ``scrypt(secret, salt)`` and never the secret,
so a copy of the database does not let anyone in. Each token has a role (viewer < operator <
approver < admin), a name (the *subject* the API records as the actor, and checks against
self-approval), an expiry and a revocation time.

Rows live in SQLite (WAL) at ``$AUTOINFRA_HOME/tokens.db`` (default ``~/.autoinfra``), so the
CLI that creates tokens and a running server that checks them share one store safely.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import os
import secrets
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from autoinfra.core.errors import ConfigError, PermissionDenied

__all__ = ["ROLE_ORDER", "ApiRole", "TokenInfo", "TokenStore", "autoinfra_home"]

# scrypt work factor: n=2**14, r=8 is ~16 MB and ~40 ms per check; checks are rare (a page login
# or a CLI call), the API caches verified tokens for a few seconds (see api.auth)
_N, _R, _P = 2**14, 8, 1
_PREFIX = "ai"


class ApiRole(enum.StrEnum):
    """What a person may do through the API, from least to most."""

    VIEWER = "viewer"  # read everything
    OPERATOR = "operator"  # + pause/resume agents, overrides, pins
    APPROVER = "approver"  # + vote on approvals
    ADMIN = "admin"  # + everything, token management


ROLE_ORDER: dict[ApiRole, int] = {r: i for i, r in enumerate(ApiRole)}


def autoinfra_home() -> Path:
    """``$AUTOINFRA_HOME`` or ``~/.autoinfra``: where tokens and server state live."""
    raw = os.environ.get("AUTOINFRA_HOME")
    return Path(raw).expanduser() if raw else Path.home() / ".autoinfra"


def parse_role(value: str) -> ApiRole:
    try:
        return ApiRole(value)
    except ValueError as exc:
        raise ConfigError(
            f"unknown role {value!r}; expected one of {[r.value for r in ApiRole]}", field="role"
        ) from exc


@dataclass(frozen=True, slots=True)
class TokenInfo:
    token_id: str
    name: str
    role: ApiRole
    created_s: float
    expires_s: float | None
    revoked_s: float | None

    @property
    def subject(self) -> str:
        return self.name

    def active(self, now_s: float) -> bool:
        return self.revoked_s is None and (self.expires_s is None or now_s < self.expires_s)


def _hash(secret: str, salt: bytes) -> bytes:
    return hashlib.scrypt(secret.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)


class TokenStore:
    """Create, check, list and revoke tokens in one SQLite file."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else autoinfra_home() / "tokens.db"
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._db = sqlite3.connect(self.path, timeout=10.0, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")  # WAL: survives a process crash
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS tokens (token_id TEXT PRIMARY KEY, name TEXT NOT NULL,"
            " role TEXT NOT NULL, salt BLOB NOT NULL, hash BLOB NOT NULL, created_s REAL NOT NULL,"
            " expires_s REAL, revoked_s REAL)"
        )
        self._db.commit()
        os.chmod(self.path, 0o600)
        self._lock = threading.Lock()  # one connection shared by the server's threads

    def close(self) -> None:
        self._db.close()

    def create(
        self, role: str | ApiRole, *, name: str | None = None, ttl_days: float | None = 90.0
    ) -> tuple[str, TokenInfo]:
        """A new token (returned once, never stored) and its public row."""
        r = parse_role(str(role))
        if ttl_days is not None and ttl_days <= 0:
            raise ConfigError(f"ttl_days must be > 0, got {ttl_days}", field="ttl_days")
        token_id = secrets.token_hex(4)
        secret = secrets.token_urlsafe(32)
        salt = secrets.token_bytes(16)
        now = time.time()
        expires = now + ttl_days * 86400.0 if ttl_days is not None else None
        subject = name or f"{r.value}-{token_id}"
        if not subject.replace("-", "").replace("_", "").replace(".", "").isalnum():
            raise ConfigError(f"name must be letters, digits, - _ . only, got {subject!r}")
        with self._lock, self._db:
            self._db.execute(
                "INSERT INTO tokens VALUES (?,?,?,?,?,?,?,NULL)",
                (token_id, subject, r.value, salt, _hash(secret, salt), now, expires),
            )
        return f"{_PREFIX}_{token_id}_{secret}", TokenInfo(token_id, subject, r, now, expires, None)

    def verify(self, token: str, *, now_s: float | None = None) -> TokenInfo:
        """The token's row if it is well formed, known, matching, unexpired and not revoked."""
        parts = token.split("_", 2)
        if len(parts) != 3 or parts[0] != _PREFIX or len(parts[1]) != 8:
            raise PermissionDenied("malformed token")
        with self._lock:
            row = self._db.execute(
                "SELECT token_id, name, role, salt, hash, created_s, expires_s, revoked_s "
                "FROM tokens WHERE token_id = ?",
                (parts[1],),
            ).fetchone()
        if row is None:
            raise PermissionDenied("unknown token")
        if not hmac.compare_digest(_hash(parts[2], row[3]), row[4]):
            raise PermissionDenied("token does not match")
        info = TokenInfo(row[0], row[1], ApiRole(row[2]), row[5], row[6], row[7])
        now = time.time() if now_s is None else now_s
        if info.revoked_s is not None:
            raise PermissionDenied("token revoked")
        if not info.active(now):
            raise PermissionDenied("token expired")
        return info

    def get(self, token_id: str) -> TokenInfo | None:
        with self._lock:
            row = self._db.execute(
                "SELECT token_id, name, role, created_s, expires_s, revoked_s FROM tokens "
                "WHERE token_id = ?",
                (token_id,),
            ).fetchone()
        return None if row is None else TokenInfo(row[0], row[1], ApiRole(row[2]), *row[3:])

    def list(self) -> list[TokenInfo]:
        with self._lock:
            rows = self._db.execute(
                "SELECT token_id, name, role, created_s, expires_s, revoked_s FROM tokens "
                "ORDER BY created_s"
            ).fetchall()
        return [TokenInfo(r[0], r[1], ApiRole(r[2]), r[3], r[4], r[5]) for r in rows]

    def revoke(self, token_id: str) -> TokenInfo:
        with self._lock, self._db:
            cur = self._db.execute(
                "UPDATE tokens SET revoked_s = ? WHERE token_id = ? AND revoked_s IS NULL",
                (time.time(), token_id),
            )
        info = self.get(token_id)
        if info is None:
            raise ConfigError(f"no token with id {token_id!r}", field="token_id")
        if cur.rowcount == 0:
            raise ConfigError(f"token {token_id!r} was already revoked", field="token_id")
        return info
