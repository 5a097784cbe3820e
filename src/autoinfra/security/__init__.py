"""Security: agent identities with roles and scopes, and the keyed, hash-chained audit log.

The runtime checks each proposal against its agent's :class:`Scope` and writes every step (what
was seen, found, proposed, refused, approved, submitted and what came of it) to an
:class:`AuditLog` whose chain (HMAC under an :class:`AuditKey` kept outside the log, with its head
stored apart) ``verify()`` can check.
"""

from autoinfra.security.audit import (
    GENESIS,
    AuditKey,
    AuditLog,
    AuditRecord,
    AuditRecovered,
    verify_file,
)
from autoinfra.security.identity import Identity, Role, Scope, scope_for

__all__ = [
    "GENESIS",
    "AuditKey",
    "AuditLog",
    "AuditRecord",
    "AuditRecovered",
    "Identity",
    "Role",
    "Scope",
    "scope_for",
    "verify_file",
]
