"""What a live run is asked to do (``LiveSettings``), what it leaves (``SystemRun``), and the view
of a backend a system is built on (``BackendView``: the backend's writer and clock, with the
Prometheus-fed guard as its reader, so the agents perceive through Prometheus and act on the
cluster itself).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from autoinfra.agents import System
from autoinfra.backends import BACKENDS
from autoinfra.core.clock import Clock
from autoinfra.core.cluster import Backend, ClusterReader, ClusterWriter, FaultLike
from autoinfra.core.errors import ConfigError
from autoinfra.experiments.systems import ensure_registered
from autoinfra.live.safemode import SafeModeChange
from autoinfra.telemetry.store import MetricStore

__all__ = ["BackendView", "LiveSettings", "SystemRun"]


@dataclass(frozen=True, slots=True)
class LiveSettings:
    backend: str = "sim"
    duration_s: float = 60.0  # wall seconds per system
    faults: str = "none"
    systems: tuple[str, ...] = ("agents", "kubernetes-defaults", "noop")
    mode: Literal["act", "shadow"] = "act"
    dry_run: bool = False
    speed: float = 1.0  # sim only: simulated seconds per wall second
    seed: int = 0
    machines: int | None = None  # None: the backend's own default size
    prometheus_url: str | None = None
    alertmanager_url: str | None = None
    exporter_port: int = 0  # fixed when an existing Prometheus scrapes us
    scrape_interval_s: float = 1.0
    stale_after_intervals: float = 3.0
    # the CPU-hog detector learns each machine's normal load from its first 30 s of samples; a
    # fault injected sooner is learnt as normal, so the first fault comes after that warm-up
    fault_lead_s: float = 45.0
    loop_s: float | None = None  # wall seconds between loop passes (default: per backend)
    ready_timeout_s: float = 30.0
    out_dir: Path = Path("out/live")
    backend_options: Mapping[str, Any] = field(default_factory=dict)

    def check(self) -> None:
        if self.mode not in ("act", "shadow"):
            raise ConfigError(f"expected act or shadow, got {self.mode!r}", field="mode")
        if not self.duration_s > 0:
            raise ConfigError(f"expected seconds > 0, got {self.duration_s}", field="duration")
        if not (self.speed > 0 and math.isfinite(self.speed)):
            raise ConfigError(f"expected a speed > 0, got {self.speed}", field="speed")
        if not self.systems:
            raise ConfigError("expected at least one system", field="systems")
        if self.backend not in BACKENDS:
            raise ConfigError(
                f"unknown backend {self.backend!r}; expected one of {sorted(BACKENDS)}",
                field="backend",
            )
        known = set(ensure_registered())
        bad = [s for s in self.systems if s not in known]
        if bad:
            raise ConfigError(f"unknown system(s) {bad}; known: {sorted(known)}", field="systems")


class BackendView:
    """The backend as the system sees it: its writer and clock, Prometheus as its reader."""

    def __init__(self, backend: Backend, reader: ClusterReader) -> None:
        self.name = backend.name
        self._backend = backend
        self._reader = reader
        self.workload = getattr(backend, "workload", None)

    @property
    def clock(self) -> Clock:
        return self._backend.clock

    @property
    def writer(self) -> ClusterWriter:
        return self._backend.writer

    @property
    def reader(self) -> ClusterReader:
        return self._reader

    @property
    def done(self) -> bool:
        return self._backend.done

    def start(self) -> None:  # the runner owns the backend's lifecycle, not the system
        return None

    def stop(self) -> None:
        return None

    def advance(self) -> None:
        return None

    def inject(self, fault: FaultLike) -> str:
        return self._backend.inject(fault)

    def record_detection(self, target: str, by: str, kind: str | None = None) -> bool:
        return self._backend.record_detection(target, by, kind)

    def fault_rows(self) -> list[dict[str, Any]]:
        return list(self._backend.fault_rows())


@dataclass
class SystemRun:
    """What one system's live run left behind (input to the report)."""

    name: str
    description: str
    acting: System
    shadow: System | None
    faults: pd.DataFrame
    store: MetricStore
    guard_transitions: list[SafeModeChange]
    stale_s: float
    held: int
    false_alarms: int
    wall_s: float
    end_s: float  # backend clock at the end
    audit_ok: bool
    audit_records: int
    stopped_by_signal: bool
    shadow_detections: dict[str, float] = field(default_factory=dict)
    reconciled: list[dict[str, Any]] = field(default_factory=list)  # in flight at a kill -9
