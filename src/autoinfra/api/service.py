"""What the API needs of a cluster: the ``ClusterService`` protocol, and the errors it raises.

The routes depend on this protocol only, so a simulated cluster (``SimClusterService``) and a live
one are interchangeable behind the same app. Every method returns plain JSON-able data; every
method that changes something takes the acting person's subject and a written justification,
and records both in the audit chain.
"""

from __future__ import annotations

from typing import Any, Protocol

from autoinfra.core.errors import ActionError, AutoinfraError

__all__ = ["ClusterService", "Conflict", "Gone", "NotFound", "SelfApproval"]

JSON = dict[str, Any]


class NotFound(AutoinfraError):
    """No such agent, proposal, incident or pin (HTTP 404)."""


class Conflict(AutoinfraError):
    """The request does not fit the current state: digest changed, already voted (HTTP 409)."""


class Gone(AutoinfraError):
    """The thing asked about existed but has expired (an approval past its TTL: HTTP 410)."""


class SelfApproval(ActionError):
    """An approver voted on their own proposal, or twice (HTTP 403)."""


class ClusterService(Protocol):
    """A running cluster (simulated or live) with agents, as the operator's API sees it."""

    def status(self) -> JSON: ...
    def metrics(self, since_s: float | None, limit: int) -> list[JSON]: ...

    def agents(self) -> list[JSON]: ...
    def pause_agent(self, agent_id: str, *, by: str, why: str) -> JSON: ...
    def resume_agent(self, agent_id: str, *, by: str, why: str) -> JSON: ...

    def proposals(self, status: str | None, limit: int) -> list[JSON]: ...
    def proposal(self, request_id: str) -> JSON: ...
    def vote(
        self, request_id: str, *, approve: bool, by: str, digest: str, reason: str
    ) -> JSON: ...

    def stop_agent(self, agent_id: str, *, by: str, why: str) -> JSON: ...
    def revert(self, request_id: str, *, by: str, why: str) -> JSON: ...
    def pin(self, target: str, *, by: str, why: str) -> JSON: ...
    def unpin(self, target: str, *, by: str, why: str) -> JSON: ...
    def pins(self) -> list[JSON]: ...
    def overrides(self, limit: int) -> list[JSON]: ...

    def incidents(
        self, kind: str | None, target: str | None, since_s: float | None, until_s: float | None
    ) -> list[JSON]: ...
    def incident(self, incident_id: str) -> JSON: ...
    def recommendations(self) -> list[JSON]: ...

    def audit(self, offset: int, limit: int) -> JSON: ...
    def verify_audit(self) -> JSON: ...
    def record(self, event: str, *, actor: str, data: JSON) -> None: ...
