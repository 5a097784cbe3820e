"""Demand on the local services and their health: a bounded load generator and a health prober.

``LoadGenerator`` sends ``rps_per_service`` GET requests a second to each service, spread over its
healthy replicas (a client-side load balancer, as kube-proxy spreads over ready endpoints), until
its deadline; rates above 200 requests/s per service are refused. It keeps each service's recent
latencies and errors, so a slow or dead service shows in the observation.

``HealthProber`` asks every replica's ``/health`` once per ``period_s`` (timeout 0.5 s) and keeps
the set of replicas that answered on their last probe: the readiness a kubelet would report.
"""

from __future__ import annotations

import http.client
import threading
import time
from collections import deque
from collections.abc import Callable

import numpy as np

from autoinfra.core.errors import ConfigError

__all__ = ["HealthProber", "LoadGenerator"]

Endpoints = Callable[[], dict[str, tuple[int, int]]]  # replica key -> (service, port)

_MAX_RPS = 200.0


def _get(port: int, path: str, timeout_s: float) -> bool:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout_s)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        resp.read()
        return resp.status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()


class HealthProber:
    def __init__(self, endpoints: Endpoints, period_s: float = 1.0) -> None:
        self.endpoints = endpoints
        self.period_s = period_s
        self.healthy: set[str] = set()
        self.probed_at: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def probe_now(self) -> None:
        eps = self.endpoints()
        ok = {key for key, (_svc, port) in eps.items() if _get(port, "/health", 0.5)}
        now = time.monotonic()
        self.probed_at.update({key: now for key in eps})
        self.healthy = ok

    def _run(self) -> None:
        while not self._stop.wait(self.period_s):
            self.probe_now()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=3.0)


class LoadGenerator:
    def __init__(
        self,
        n_services: int,
        endpoints: Endpoints,
        healthy: Callable[[], set[str]],
        *,
        rps_per_service: float,
        deadline_monotonic: float,
        timeout_s: float = 1.0,
    ) -> None:
        if not 0 <= rps_per_service <= _MAX_RPS:
            raise ConfigError(
                f"rps_per_service must be in 0..{_MAX_RPS:g}, got {rps_per_service}",
                field="rps_per_service",
            )
        self.n = n_services
        self.endpoints = endpoints
        self.healthy = healthy
        self.rps = rps_per_service
        self.deadline = deadline_monotonic
        self.timeout_s = timeout_s
        self._lat: list[deque[float]] = [deque(maxlen=200) for _ in range(n_services)]
        self._err: list[deque[float]] = [deque(maxlen=200) for _ in range(n_services)]
        self._rr = [0] * n_services
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._run, args=(s,), daemon=True) for s in range(n_services)
        ]
        self.sent = 0

    def start(self) -> None:
        if self.rps > 0:
            for t in self._threads:
                t.start()

    def _run(self, svc: int) -> None:
        gap = 1.0 / self.rps
        next_t = time.monotonic()
        while not self._stop.is_set() and time.monotonic() < self.deadline:
            eps = self.endpoints()
            ready = self.healthy()
            ports = sorted(p for k, (s, p) in eps.items() if s == svc and k in ready)
            t0 = time.monotonic()
            if ports:
                self._rr[svc] += 1
                ok = _get(ports[self._rr[svc] % len(ports)], "/", self.timeout_s)
                self.sent += 1
                (self._lat[svc] if ok else self._err[svc]).append(time.monotonic() - t0)
            else:  # no ready endpoint: the request fails at the balancer
                self._err[svc].append(0.0)
            next_t = max(next_t + gap, time.monotonic() - 1.0)
            self._stop.wait(max(0.0, next_t - time.monotonic()))

    def latency_ms(self, q: float) -> np.ndarray:
        """Per service, the ``q`` quantile of the recent request latencies (NaN if none)."""
        out = np.full(self.n, np.nan, dtype=np.float32)
        for s, lat in enumerate(self._lat):
            if lat:
                out[s] = float(np.quantile(np.fromiter(lat, float), q)) * 1000
        return out

    def error_share(self) -> np.ndarray:
        out = np.zeros(self.n, dtype=np.float32)
        for s in range(self.n):
            n_ok, n_err = len(self._lat[s]), len(self._err[s])
            if n_ok + n_err:
                out[s] = n_err / (n_ok + n_err)
        return out

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            if t.is_alive():
                t.join(timeout=3.0)
