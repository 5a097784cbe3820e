"""Who is asking, and may they: tokens or sessions, the route -> role table, CSRF, lockout.

Every request to the app passes :meth:`Authorizer.authorize` (an app-wide FastAPI dependency),
which looks the matched route up in :data:`ROUTE_ROLES`. A route missing from the table is refused
(fail closed), and a test enumerates every route of the app against every role.

Credentials, in this order:

- ``Authorization: Bearer <token>`` (scripts, the CLI, tests): the token is checked against its
  salted hash (:mod:`autoinfra.security.tokens`). scrypt is slow on purpose (tens of ms), so a
  token whose secret was proven is remembered for ``cache_s`` (by its SHA-256, never in clear);
  its row (revocation, expiry) is still read on every request, so a revocation acts at once.
- the ``autoinfra_session`` cookie (the dashboard), set by ``POST /api/v1/session``. For any
  method other than GET/HEAD the request must also carry the session's CSRF token, in the
  ``X-CSRF-Token`` header or a ``csrf_token`` form field (the session-bound synchroniser-token
  pattern; the same value is readable by the page in the ``autoinfra_csrf`` cookie).

Failed credentials are counted per client address; ``max_failures`` within ``window_s`` lock the
client out for ``lockout_s`` (HTTP 429 with Retry-After), whatever it sends meanwhile.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from autoinfra.api.state import StateStore
from autoinfra.core.errors import PermissionDenied
from autoinfra.security.tokens import ROLE_ORDER, ApiRole, TokenInfo, TokenStore

__all__ = [
    "PUBLIC",
    "ROUTE_ROLES",
    "SIGNED",
    "TOKEN_IN_BODY",
    "Authorizer",
    "HttpRefusal",
    "Principal",
]

V, OP, A, ADM = ApiRole.VIEWER, ApiRole.OPERATOR, ApiRole.APPROVER, ApiRole.ADMIN
P = "/api/v1"
PUBLIC = "public"
TOKEN_IN_BODY = "token-in-body"  # the login route: authenticated by the token it is sent
SIGNED = "signed-callback"  # a third party's callback, authenticated by its request signature

# (method, route path) -> the least role allowed. Declared, not inferred, so review sees it whole.
ROUTE_ROLES: dict[tuple[str, str], ApiRole | str] = {
    ("GET", f"{P}/health"): PUBLIC,
    ("POST", f"{P}/session"): TOKEN_IN_BODY,
    ("DELETE", f"{P}/session"): V,
    ("GET", f"{P}/whoami"): V,
    ("GET", f"{P}/cluster/status"): V,
    ("GET", f"{P}/cluster/metrics"): V,
    ("GET", f"{P}/agents"): V,
    ("POST", f"{P}/agents/{{agent_id}}/pause"): OP,
    ("POST", f"{P}/agents/{{agent_id}}/resume"): OP,
    ("GET", f"{P}/proposals"): V,
    ("GET", f"{P}/proposals/{{request_id:path}}"): V,
    ("GET", f"{P}/approvals"): V,
    ("POST", f"{P}/approvals/{{request_id:path}}/approve"): A,
    ("POST", f"{P}/approvals/{{request_id:path}}/reject"): A,
    ("GET", f"{P}/overrides"): V,
    ("POST", f"{P}/overrides/stop-agent"): OP,
    ("POST", f"{P}/overrides/revert"): OP,
    ("GET", f"{P}/overrides/pins"): V,
    ("POST", f"{P}/overrides/pins"): OP,
    ("POST", f"{P}/overrides/unpin"): OP,
    ("GET", f"{P}/incidents"): V,
    ("GET", f"{P}/incidents/{{incident_id}}"): V,
    ("GET", f"{P}/recommendations"): V,
    ("GET", f"{P}/audit"): V,
    ("GET", f"{P}/audit/verify"): V,
    ("GET", f"{P}/learning/preferences"): V,
    ("GET", f"{P}/tokens"): ADM,
    ("POST", f"{P}/tokens/{{token_id}}/revoke"): ADM,
    # the OpenAPI document: behind a viewer token like everything else
    ("GET", f"{P}/openapi.json"): V,
}

SESSION_COOKIE = "autoinfra_session"
CSRF_COOKIE = "autoinfra_csrf"
CSRF_HEADER = "x-csrf-token"
_SAFE = frozenset({"GET", "HEAD", "OPTIONS"})


class HttpRefusal(Exception):
    """Refuse the request with ``status`` and a one-line reason."""

    def __init__(self, status: int, reason: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.headers = headers or {}


@dataclass(frozen=True, slots=True)
class Principal:
    subject: str
    role: ApiRole
    via: str  # "token" or "session"
    token_id: str

    def at_least(self, role: ApiRole) -> bool:
        return ROLE_ORDER[self.role] >= ROLE_ORDER[role]


@dataclass
class _Lockout:
    max_failures: int = 5
    window_s: float = 60.0
    lockout_s: float = 60.0
    failures: dict[str, deque[float]] = field(default_factory=dict)
    locked_until: dict[str, float] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def check(self, client: str) -> None:
        with self.lock:
            until = self.locked_until.get(client, 0.0)
        left = until - time.monotonic()
        if left > 0:
            raise HttpRefusal(
                429,
                f"too many failed logins; locked for {left:.0f} s more",
                {"Retry-After": str(int(left) + 1)},
            )

    def fail(self, client: str) -> None:
        now = time.monotonic()
        with self.lock:
            q = self.failures.setdefault(client, deque())
            q.append(now)
            while q and q[0] < now - self.window_s:
                q.popleft()
            if len(q) >= self.max_failures:
                self.locked_until[client] = now + self.lockout_s
                q.clear()


class Authorizer:
    def __init__(
        self,
        tokens: TokenStore,
        store: StateStore,
        *,
        tls: bool = False,
        session_ttl_s: float = 8 * 3600.0,
        cache_s: float = 600.0,
        max_failures: int = 5,
        lockout_s: float = 60.0,
    ) -> None:
        self.tokens = tokens
        self.store = store
        self.tls = tls
        self.session_ttl_s = session_ttl_s
        self.cache_s = cache_s
        self.lockout = _Lockout(max_failures=max_failures, lockout_s=lockout_s)
        self._cache: dict[str, tuple[TokenInfo, float]] = {}
        self._cache_lock = threading.Lock()

    # -- credentials -----------------------------------------------------------------------------
    def check_token(self, token: str, client: str) -> TokenInfo:
        self.lockout.check(client)
        key = hashlib.sha256(token.encode()).hexdigest()
        now = time.monotonic()
        with self._cache_lock:
            hit = self._cache.get(key)
        if hit is not None and hit[1] > now:
            # the secret was proven recently; revocation and expiry are read fresh every time
            row = self.tokens.get(hit[0].token_id)
            if row is not None and row.active(time.time()):
                return row
            self.lockout.fail(client)
            raise HttpRefusal(401, "invalid token: token revoked or expired")
        try:
            info = self.tokens.verify(token)
        except PermissionDenied as exc:
            self.lockout.fail(client)
            raise HttpRefusal(401, f"invalid token: {exc}") from exc
        with self._cache_lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[key] = (info, now + self.cache_s)
        return info

    def open_session(self, token: str, client: str) -> tuple[str, str, TokenInfo]:
        """(session id, CSRF token, token row) for a valid token; the id is stored hashed."""
        info = self.check_token(token, client)
        session = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(32)
        self.store.add_session(
            _h(session), info.name, info.role.value, csrf, info.token_id, self.session_ttl_s
        )
        return session, csrf, info

    def close_session(self, session: str) -> None:
        self.store.drop_session(_h(session))

    # -- the per-request check -------------------------------------------------------------------
    def principal(
        self, method: str, headers: Any, cookies: dict[str, str], client: str, form_csrf: str | None
    ) -> Principal:
        auth = headers.get("authorization")
        if auth is not None:
            scheme, _, token = auth.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise HttpRefusal(401, "Authorization must be 'Bearer <token>'")
            info = self.check_token(token.strip(), client)
            return Principal(info.name, info.role, "token", info.token_id)
        session = cookies.get(SESSION_COOKIE)
        if session is None:
            raise HttpRefusal(
                401,
                "authentication required: a Bearer token or a session cookie",
                {"WWW-Authenticate": "Bearer"},
            )
        self.lockout.check(client)
        row = self.store.session(_h(session))
        if row is None:
            self.lockout.fail(client)
            raise HttpRefusal(401, "session unknown or expired; log in again")
        subject, role, csrf, token_id = row
        tok = self.tokens.get(token_id)
        if tok is None or not tok.active(time.time()):
            raise HttpRefusal(401, "the session's token was revoked or expired")
        if method not in _SAFE:
            sent = headers.get(CSRF_HEADER) or form_csrf
            if sent is None or not secrets.compare_digest(sent, csrf):
                raise HttpRefusal(403, "CSRF token missing or wrong (send X-CSRF-Token)")
        return Principal(subject, ApiRole(role), "session", token_id)

    @staticmethod
    def allowed(principal: Principal, need: ApiRole | str) -> bool:
        if need in (PUBLIC, TOKEN_IN_BODY, SIGNED):
            return True
        return principal.at_least(ApiRole(need))


def _h(session: str) -> str:
    return hashlib.sha256(session.encode()).hexdigest()
