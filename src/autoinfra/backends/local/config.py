"""Settings of one local fleet, as one frozen dataclass with units in the field names.

The defaults fit a shared 2-core machine: 4 machines of a quarter core each (2 racks of 2), 3
services of 2 replicas, a few requests a second each. Every process the fleet starts carries an
absolute deadline of ``duration_s`` (plus a grace) from the start, so nothing outlives a run even
if every other safety net failed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from autoinfra.core.documents import UNKNOWN_KEYS_REFUSED, validate_into
from autoinfra.core.errors import ConfigError

__all__ = ["LocalSettings"]


@dataclass(frozen=True, slots=True)
class LocalSettings:
    __pydantic_config__ = UNKNOWN_KEYS_REFUSED  # a misspelt option is an error

    machines: int = 4
    racks: int = 2
    links_per_rack: int = 2
    cores_per_machine: float = (
        0.25  # CPU limit of one machine (a quarter core: reachable on a busy host)
    )
    mem_per_machine_mb: float = 512.0  # memory capacity reported (not enforced)
    services: int = 3
    replicas: int = 2  # initial replicas of each service
    max_replicas: int = 6
    # share of one machine a replica asks for: two fit a machine, so the 6 replicas need 3 machines
    # (detectors that compare machines need more than one busy machine to compare)
    replica_cpu_request: float = 0.4
    work_ms: float = 2.0  # CPU a request costs a replica
    rps_per_service: float = 5.0  # load generator rate
    duration_s: float = (
        3600.0  # hard bound on the life of every process (the runner passes its own)
    )
    heartbeat_s: float = 0.5
    heartbeat_lost_s: float = 3.0  # the scheduler avoids machines silent this long
    link_capacity_mbps: float = 40.0
    rack_mbps: float = 12.0  # traffic each rack offers its uplinks
    intrusion_mbps: float = 400.0  # egress of the intruder
    network: bool = True  # build the netns link lab (False: no links, congestion refused)
    cpu_limiter: str = "auto"  # auto (cgroup v2, else v1, else psutil) | psutil
    dry_run: bool = False  # the runner's dry run covers it; accepted for a uniform CLI

    def __post_init__(self) -> None:
        checks = [
            ("machines", 1 <= self.machines <= 16, "1..16"),
            ("racks", 1 <= self.racks <= self.machines, f"1..machines ({self.machines})"),
            ("links_per_rack", 1 <= self.links_per_rack <= 4, "1..4"),
            ("cores_per_machine", 0.05 <= self.cores_per_machine <= 4, "0.05..4"),
            ("services", 0 <= self.services <= 8, "0..8"),
            ("replicas", 0 <= self.replicas <= self.max_replicas, "0..max_replicas"),
            ("duration_s", 1 <= self.duration_s <= 7200, "1..7200 s"),
            ("rps_per_service", 0 <= self.rps_per_service <= 200, "0..200"),
            ("heartbeat_s", 0.05 <= self.heartbeat_s <= 5, "0.05..5 s"),
            ("intrusion_mbps", 0 <= self.intrusion_mbps <= 800, "0..800"),
            ("cpu_limiter", self.cpu_limiter in ("auto", "psutil"), "auto or psutil"),
        ]
        for name, ok, expected in checks:
            if not ok:
                raise ConfigError(
                    f"expected {expected}, got {getattr(self, name)!r}",
                    field=f"backend_options.{name}",
                )

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> LocalSettings:
        """Options as the command line gives them (``machines=3``: strings are converted)."""
        return validate_into(cls, dict(options), source="local backend", prefix="backend_options")

    @property
    def machines_per_rack(self) -> int:
        return -(-self.machines // self.racks)
