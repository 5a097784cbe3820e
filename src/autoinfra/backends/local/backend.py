"""``LocalBackend``: the local fleet behind the ``core.cluster.Backend`` seam.

``start`` brings up, in order, the CPU limiter's groups, the egress tap, the network lab (two
namespaces and the uplinks), the machines' supervisors, the replicas, the health prober and the
load generator; a failure anywhere tears down what was started and raises an ``ActionError``
naming the part. ``stop`` kills every process group and process the backend started (and the
exit hooks do the same if the interpreter exits or is signalled first), deletes the namespaces and
the cgroups, and is safe to call twice or after a failed start.

``advance`` (before every runtime tick) injects the scenario's faults that are due on the wall
clock, lets the scheduler place pending replicas, and asks the injector which faults the world
shows healed. The clock is a ``WallClock`` from construction.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from autoinfra.backends.ledger import FaultLedger
from autoinfra.backends.local.config import LocalSettings
from autoinfra.backends.local.egress import EgressTap
from autoinfra.backends.local.faults import Injector
from autoinfra.backends.local.fleet import Fleet
from autoinfra.backends.local.limits import CpuLimiter, detect_cpu_limiter, remove_root
from autoinfra.backends.local.netlab import NetLab
from autoinfra.backends.local.observe import Observer
from autoinfra.backends.local.procs import ProcessTable, forget, install_exit_handlers
from autoinfra.backends.local.targets import seeded_targets
from autoinfra.backends.local.traffic import HealthProber, LoadGenerator
from autoinfra.backends.local.writer import LocalWriter
from autoinfra.core.clock import Clock, WallClock
from autoinfra.core.cluster import ClusterReader, ClusterWriter, FaultLike, ReaderOf
from autoinfra.core.errors import ActionError, AutoinfraError
from autoinfra.core.observation import Observation

__all__ = ["LocalBackend"]

_GRACE_S = 30.0  # processes outlive the run's duration by this much at most


class LocalBackend:
    name = "local"

    def __init__(
        self,
        config: LocalSettings | None = None,
        *,
        seed: int = 0,
        scenario: Any = None,
        journal_path: str | Path | None = None,
    ) -> None:
        self.config = config or LocalSettings()
        self.seed = seed
        self.scenario = scenario
        self.journal_path = Path(journal_path) if journal_path is not None else None
        self.run_id = secrets.token_hex(3)
        self._clock = WallClock()
        self.rng = np.random.default_rng(seed)
        self.ledger = FaultLedger()
        self.procs = ProcessTable()
        self._pending_faults: list[Any] = seeded_targets(
            list(getattr(scenario, "faults", []) or []), self.config, seed
        )
        self.limiter: CpuLimiter | None = None
        self.fleet: Fleet | None = None
        self.net: NetLab | None = None
        self.tap: EgressTap | None = None
        self.prober: HealthProber | None = None
        self.load: LoadGenerator | None = None
        self.injector: Injector | None = None
        self._writer: LocalWriter | None = None
        self._observer: Observer | None = None
        self._reader = ReaderOf(self)
        self._last_obs: Observation | None = None
        self.started = False

    # -- seam ------------------------------------------------------------------------------------
    @property
    def clock(self) -> Clock:
        return self._clock

    @property
    def reader(self) -> ClusterReader:
        return self._reader

    @property
    def writer(self) -> ClusterWriter:
        if self._writer is None:
            raise ActionError("the local backend is not started")
        return self._writer

    @property
    def done(self) -> bool:
        return False

    # -- life ------------------------------------------------------------------------------------
    def start(self) -> None:
        if self.started:
            return
        cfg = self.config
        install_exit_handlers(self.procs)
        deadline = time.time() + cfg.duration_s + _GRACE_S
        try:
            self.limiter = detect_cpu_limiter(self.run_id, cfg.cpu_limiter)
            self.tap = EgressTap(cfg.machines)
            if cfg.network:
                self.net = NetLab(
                    self.run_id, cfg.racks, cfg.links_per_rack, self.procs, deadline,
                    capacity_mbps=cfg.link_capacity_mbps, rack_mbps=cfg.rack_mbps,
                )  # fmt: skip
                self.net.start()
            self.fleet = Fleet(cfg, self.limiter, self.procs, deadline)
            self.fleet.boot_all()
            fleet = self.fleet
            self.prober = HealthProber(self._endpoints, period_s=1.0)
            self.prober.probe_now()
            self.prober.start()
            prober = self.prober
            self.load = LoadGenerator(
                cfg.services, self._endpoints, lambda: prober.healthy,
                rps_per_service=cfg.rps_per_service,
                deadline_monotonic=time.monotonic() + cfg.duration_s,
            )  # fmt: skip
            self.load.start()
            self.injector = Injector(fleet, self.net, self.tap, self.ledger, self.rng,
                                     deadline, lambda: prober.healthy)  # fmt: skip
            self._writer = LocalWriter(fleet, self.net, self.ledger, self._clock.now_s,
                                       self.journal_path)  # fmt: skip
            self._observer = Observer(
                fleet, self.prober, self.load, self.tap, self.net, self.meta()
            )
        except AutoinfraError:
            self.stop()
            raise
        except OSError as exc:
            self.stop()
            raise ActionError(f"local backend: a worker would not start: {exc}") from exc
        self.started = True

    def meta(self) -> dict[str, Any]:
        lim = self.limiter
        net = self.net
        return {
            "backend": "local",
            "run_id": self.run_id,
            "cpu_limiter": lim.kind if lim else "none",
            "cpu_limiter_why": lim.why if lim else "",
            "network_lab": bool(net and net.available),
            "network_lab_why": (net.why_not if net else "disabled by option network=false"),
            "power": "model: 60 W idle + 40 W x CPU share per live machine",
            "cores_per_machine": self.config.cores_per_machine,
        }

    def stop(self) -> None:
        for part in (self.load, self.prober):
            if part is not None:
                part.stop()
        self.procs.kill_all()
        if self.net is not None:
            self.net.stop()
        if self.tap is not None:
            self.tap.close()
        if self.fleet is not None:
            for m in self.fleet.machines:
                m.group.remove()
        if self.limiter is not None:
            remove_root(self.limiter)
        forget(self.procs)
        self.started = False

    def _endpoints(self) -> dict[str, tuple[int, int]]:
        if self.fleet is None:
            return {}
        return {r.key: (r.service, r.port) for m in self.fleet.machines
                for r in list(m.replicas.values())}  # fmt: skip

    # -- the world moving ------------------------------------------------------------------------
    def observe(self) -> Observation:
        if self._observer is None:
            raise ActionError("the local backend is not started")
        with self.writer_lock():
            obs = self._observer.observe(self._clock.now_s())
        self._last_obs = obs
        return obs

    def writer_lock(self) -> Any:
        assert self._writer is not None
        return self._writer.lock

    def advance(self) -> None:
        if not self.started:
            return
        assert self.fleet is not None and self.injector is not None
        now = self._clock.now_s()
        while self._pending_faults and float(self._pending_faults[0].at_s) <= now:
            self.inject(self._pending_faults.pop(0))
        self.procs.reap()
        with self.writer_lock():
            self.fleet.reconcile()
        util = (
            self.net.utilization()[0]
            if self.net is not None and self.net.available and self.injector.live
            else np.zeros(0, np.float32)
        )
        self.injector.tick(self._clock.now_s(), util)

    def inject(self, fault: FaultLike) -> str:
        if self.injector is None:
            raise ActionError("the local backend is not started")
        with self.writer_lock():
            return self.injector.inject(fault, self._clock.now_s())

    def record_detection(self, target: str, by: str, kind: str | None = None) -> bool:
        return self.ledger.detect(target, by, kind, self._clock.now_s())

    def fault_rows(self) -> Sequence[dict[str, Any]]:
        return self.ledger.rows()

    @property
    def skipped_faults(self) -> list[dict[str, Any]]:
        return self.injector.skipped if self.injector is not None else []
