"""Security: agent identities with roles and scopes, and the hash-chained audit log.

The runtime checks each proposal against its agent's :class:`Scope` and writes every step (what
was seen, found, proposed, refused, approved, submitted and what came of it) to an
:class:`AuditLog` whose chain ``verify()`` can check.
"""

from autoinfra.security.audit import GENESIS, AuditLog, AuditRecord
from autoinfra.security.identity import Identity, Role, Scope, scope_for

__all__ = ["GENESIS", "AuditLog", "AuditRecord", "Identity", "Role", "Scope", "scope_for"]
