"""Leader election with an etcd lease, and the fencing token that keeps a deposed leader quiet.

Several executor processes run; the one whose key ``<election>/leader`` exists under its lease
acts, the others wait. The leader's **fencing token** is that key's ``create_revision``: every
write the leader makes to the execution journal is a transaction that succeeds only while the
leader key still has that revision (:meth:`LeaderLease.fenced_put`). A leader that lost its lease
(killed, paused, or cut off from etcd) and comes back cannot record an intent, so it cannot act:
the new leader's key has another revision.

The leader also keeps a **local deadline**: the time it *sent* its last successful renewal plus
the TTL, less a margin. Cut off from etcd it stops acting by its own clock before etcd lets a
standby take over, so two leaders never act at once even before the fence is checked.
Standbys retry :meth:`try_acquire`; etcd frees the key when the lease expires, so failover takes
at most the TTL plus one retry interval.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from autoinfra.coordination.etcd import CoordinationUnavailable, EtcdGateway
from autoinfra.core.errors import ConfigError

__all__ = ["LeaderLease", "LeaseSettings"]

_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class LeaseSettings:
    ttl_s: int = 2  # etcd's lease TTL: failover takes about this long (goal <= 5 s)
    margin_s: float = 0.5  # stop acting this long before the lease could expire at etcd

    def __post_init__(self) -> None:
        if self.ttl_s < 1:
            raise ConfigError(
                "lease ttl_s must be at least 1 s (etcd's granularity)", field="ttl_s"
            )
        if not 0 <= self.margin_s < self.ttl_s:
            raise ConfigError("lease margin_s must be in [0, ttl_s)", field="margin_s")


@dataclass
class LeaderLease:
    etcd: EtcdGateway
    election: str  # a key prefix, e.g. "/autoinfra/eu-west/executor"
    holder: str  # who we are, stored as the leader key's value
    settings: LeaseSettings = field(default_factory=LeaseSettings)
    clock: Callable[[], float] = time.monotonic
    lease_id: int = 0
    revision: int = 0  # the fencing token while we lead; 0 otherwise
    _deadline: float = 0.0

    @property
    def key(self) -> str:
        return f"{self.election}/leader"

    def is_leader(self) -> bool:
        return self.revision != 0 and self.clock() < self._deadline

    def try_acquire(self) -> bool:
        """Become leader if nobody is; True while we lead. Never raises for an etcd outage."""
        if self.is_leader():
            return self.renew()
        self.revision = 0
        try:
            sent = self.clock()
            lease = self.etcd.grant(self.settings.ttl_s)
            revision = self.etcd.put_if_absent(self.key, self.holder.encode(), lease=lease)
            if revision is None:
                self.etcd.revoke(lease)
                return False
        except CoordinationUnavailable:
            return False
        self.lease_id, self.revision = lease, revision
        self._deadline = sent + self.settings.ttl_s - self.settings.margin_s
        return True

    def renew(self) -> bool:
        """Keep the lease alive; on any failure we stop leading at once."""
        if self.revision == 0:
            return False
        try:
            sent = self.clock()
            ttl = self.etcd.keepalive(self.lease_id)
        except CoordinationUnavailable:
            # keep the old deadline: we may lead until it passes, but cannot extend it
            return self.is_leader()
        if ttl <= 0:
            self.revision = 0
            return False
        self._deadline = sent + ttl - self.settings.margin_s
        return self.is_leader()

    def fenced_put(self, puts: list[tuple[str, bytes]]) -> bool:
        """Write ``puts`` only if we still lead by etcd's own record (the fencing token)."""
        if not self.is_leader():
            return False
        try:
            ok = self.etcd.put_if_revision(self.key, self.revision, puts)
        except CoordinationUnavailable:
            return False
        if not ok:
            _log.warning("%s: fenced out of %s (token %d is stale); not acting", self.holder,
                         self.key, self.revision)  # fmt: skip
            self.revision = 0  # someone else holds the key: we are deposed
        return ok

    def resign(self) -> None:
        if self.lease_id:
            with contextlib.suppress(CoordinationUnavailable):  # else it expires by itself
                self.etcd.revoke(self.lease_id)
        self.revision = 0
        self.lease_id = 0
