"""Perception through a real Prometheus: PromQL over the HTTP API in, an ``Observation`` out.

``PrometheusSensor`` is a ``core.cluster.ClusterReader`` and a ``Sensor``: ``observe()`` builds
the same ``Observation`` the backend exported (``telemetry.exporter`` names the series) from
instant queries at one evaluation time, so every field comes from the same scrape; ``collect()``
also records it in the time-series store (``MetricStore``, written to Parquet by the runner);
``range()`` runs range queries for history (a detector's warm-up, a report's plots).

Stale telemetry is an error, not old numbers: when Prometheus does not answer (after retries),
the target is down (``up == 0``), or the newest sample is older than ``stale_after_intervals``
scrape intervals, ``observe()`` raises ``StaleTelemetry`` saying which. The live runner turns that
into safe mode (no capacity-removing action, an alert) until data is fresh again.

Queries: per-machine series are fetched as ``max by (machine) (NAME{job="..."})`` so the answer
carries one label (small JSON, parsed by one regular expression), all in parallel with the
freshness check (Prometheus evaluates them on its cores while this process parses). What changes
only with the cell (capacities, racks, uplinks' racks, services' requests and minimums: see
``STATIC_FIELDS``) is fetched every ``static_every_s`` and when the machine count changes; machine
ids (``autoinfra_machine_info``) when the count changes. The per-service arrays some backends put
in ``extra`` (``exporter.SERVICE_EXTRA_FIELDS``: right-sizing's memory request and peak) are read
on both paths into ``extra`` when every service has them, and left out otherwise, as the backend
left them out (a policy then knows it has nothing to size from).

With ``pushed`` (a ``telemetry.remote_write.PushedSamples`` that Prometheus remote-writes into),
``observe()`` reads the newest complete pushed scrape from memory instead of querying: the same
fields, the same freshness rules (its timestamp against ``stale_after_intervals``, ``up``), and
machine ids still from one PromQL query when the machine count changes. That is the path for cell
scale, where reading every per-machine series back through the query API costs Prometheus about
a CPU-second per collect (``bench/prometheus_collect.py`` measures both).

A PromQL error (HTTP 400/422) is a ``PrometheusError`` naming the query and Prometheus' own
message; an unreachable server a ``StaleTelemetry`` naming the URL.
"""

from __future__ import annotations

import math
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np
import numpy.typing as npt

from autoinfra.core.clock import Clock
from autoinfra.core.observation import Observation
from autoinfra.telemetry.exporter import (
    CLUSTER_FIELDS,
    LINK_FIELDS,
    MACHINE_FIELDS,
    SERVICE_EXTRA_FIELDS,
    SERVICE_FIELDS,
)
from autoinfra.telemetry.promql import PrometheusClient, PrometheusError, StaleTelemetry
from autoinfra.telemetry.remote_write import PushedSamples
from autoinfra.telemetry.store import MetricStore

__all__ = ["PrometheusClient", "PrometheusError", "PrometheusSensor", "StaleTelemetry"]
F64 = npt.NDArray[np.float64]

_DTYPES: dict[str, type[np.generic]] = {
    "machine_state": np.int8,
    "schedulable": np.bool_,
    "tasks_running": np.int32,
    "rack": np.int32,
    "link_rack": np.int32,
    "service_replicas": np.int32,
    "service_running": np.int32,
    "service_min_replicas": np.int32,
}


# fields that change only when the cell does: fetched every ``static_every_s``, not every collect
STATIC_FIELDS: frozenset[str] = frozenset(
    {
        "cpu_capacity",
        "mem_capacity",
        "rack",
        "link_rack",
        "service_cpu_request",
        "service_min_replicas",
    }
)


class PrometheusSensor:
    """``ClusterReader`` and ``Sensor`` over Prometheus (see the module docstring)."""

    def __init__(
        self,
        url: str,
        *,
        clock: Clock,
        job: str = "autoinfra",
        scrape_interval_s: float = 1.0,
        stale_after_intervals: float = 3.0,
        timeout_s: float = 2.0,
        retries: int = 2,
        store: MetricStore | None = None,
        parallel: int = 4,
        static_every_s: float = 60.0,
        pushed: PushedSamples | None = None,
    ) -> None:
        self.client = PrometheusClient(url, timeout_s=timeout_s, retries=retries)
        self.clock = clock
        self.job = job
        self.scrape_interval_s = scrape_interval_s
        self.stale_after_s = stale_after_intervals * scrape_interval_s
        self.store = store
        self._pool = ThreadPoolExecutor(max_workers=max(1, parallel), thread_name_prefix="promql")
        self._ids: npt.NDArray[np.int64] | None = None
        self.static_every_s = static_every_s
        self._static: dict[str, F64] | None = None
        self._static_at = 0.0
        self.collections = 0
        self.last_age_s: float = math.nan
        self.pushed = pushed

    @property
    def url(self) -> str:
        return self.client.url

    @property
    def now_s(self) -> float:
        return self.clock.now_s()

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self.client.close()

    def collect(self) -> Observation:
        obs = self.observe()
        if self.store is not None:
            self.store.record(obs)
        return obs

    def observe(self) -> Observation:
        if self.pushed is not None:
            return self._observe_pushed(self.pushed)
        at = time.time()
        sel = f'{{job="{self.job}"}}'
        static_due = self._static is None or at - self._static_at >= self.static_every_s
        queries: dict[str, tuple[str, str]] = {}
        for fields, label in (
            (MACHINE_FIELDS, "machine"),
            (LINK_FIELDS, "link"),
            (SERVICE_FIELDS, "service"),
        ):
            for name, field in fields.items():
                if static_due or field not in STATIC_FIELDS:
                    queries[field] = (f"max by ({label}) ({name}{sel})", label)
        for name, key in SERVICE_EXTRA_FIELDS.items():
            queries[key] = (f"max by (service) ({name}{sel})", "service")
        # everything at once: Prometheus evaluates on its cores while this process parses
        pool = self._pool
        fresh_f = pool.submit(
            self.client.query, f"time() - timestamp(autoinfra_observation_time_seconds{sel})", at
        )
        up_f = pool.submit(self.client.query, f"up{sel}", at)
        futures = {
            f: pool.submit(self.client.vector_by, q, lb, at) for f, (q, lb) in queries.items()
        }
        scalars = "|".join(CLUSTER_FIELDS)
        cluster_f = pool.submit(
            self.client.query, f'{{__name__=~"{scalars}",job="{self.job}"}}', at
        )
        try:
            age = self._check_fresh(fresh_f.result(), up_f.result())
            arrays: dict[str, Any] = {f: fut.result() for f, fut in futures.items()}
            cluster_rows = cluster_f.result()
        finally:
            pending: list[Future[Any]] = [*futures.values(), cluster_f]
            for fut in pending:
                fut.cancel()
        n = arrays["machine_state"].shape[0]
        if static_due or self._static is None or self._static["cpu_capacity"].shape[0] != n:
            if not static_due:  # the cell changed size: fetch what never changes again now
                return self._refetch_static()
            self._static = {f: arrays[f] for f in STATIC_FIELDS}
            self._static_at = at
        else:
            arrays |= self._static
        for field in MACHINE_FIELDS.values():
            if arrays[field].shape[0] != n:  # a series lost mid-scrape: same length for all
                arrays[field] = np.resize(arrays[field], n)
        cluster = {str(r["metric"]["__name__"]): float(r["value"][1]) for r in cluster_rows}
        return self._build(arrays, cluster, n, at, age, read="promql")

    def _observe_pushed(self, pushed: PushedSamples) -> Observation:
        at = time.time()
        scrape = pushed.latest()
        if scrape is None or scrape.age_s(at) > self.stale_after_s:
            self.client.query("1", at)  # a Prometheus that is gone says so: "unreachable"
        if scrape is None:
            raise StaleTelemetry(
                f"no scrape pushed by Prometheus at {self.url} yet (remote write) for job "
                f"{self.job!r}",
                reason="no_data",
            )
        age = scrape.age_s(at)
        self.last_age_s = age
        if age > self.stale_after_s:
            raise StaleTelemetry(
                f"Prometheus at {self.url}: the newest pushed scrape is {age:.1f} s old, more "
                f"than {self.stale_after_s:g} s "
                f"({self.stale_after_s / self.scrape_interval_s:g} scrape intervals)",
                reason="old_samples",
                age_s=age,
            )
        up = scrape.scalars.get("up", math.nan)
        if up == 0:
            raise StaleTelemetry(
                f"Prometheus at {self.url}: the exporter target of job {self.job!r} is down "
                "(up == 0)",
                reason="target_down",
            )
        arrays: dict[str, Any] = {}
        for fields in (MACHINE_FIELDS, LINK_FIELDS, SERVICE_FIELDS, SERVICE_EXTRA_FIELDS):
            for name, field in fields.items():
                arrays[field] = scrape.series.get(name, np.zeros(0))
        n = max(arrays[f].shape[0] for f in MACHINE_FIELDS.values())
        for field in MACHINE_FIELDS.values():
            have = arrays[field]
            if have.shape[0] != n:  # a series missing from the scrape: NaN here, 0 in _build
                padded = np.full(n, np.nan)
                padded[: have.shape[0]] = have
                arrays[field] = padded
        cluster = {name: scrape.scalars[name] for name in CLUSTER_FIELDS if name in scrape.scalars}
        return self._build(arrays, cluster, n, at, age, read="remote_write")

    def _build(
        self,
        arrays: dict[str, Any],
        cluster: dict[str, float],
        n: int,
        at: float,
        age: float,
        *,
        read: str,
    ) -> Observation:
        k = arrays["service_replicas"].shape[0]
        extras: dict[str, Any] = {}
        for key in SERVICE_EXTRA_FIELDS.values():
            values = arrays.pop(key)
            # all services or none: a partial array would read as zeros for the missing ones
            if k and values.shape == (k,) and not np.isnan(values).any():
                extras[key] = values.astype(np.float32)
        for field, values in list(arrays.items()):
            arrays[field] = np.nan_to_num(values, nan=0.0).astype(_DTYPES.get(field, np.float32))
        scal = {field: cluster.get(name, 0.0) for name, field in CLUSTER_FIELDS.items()}
        self.collections += 1
        return Observation(
            time_s=self.clock.now_s(),
            machine_ids=self._machine_ids(n, at),
            service_ids=np.arange(arrays["service_replicas"].shape[0], dtype=np.int64),
            pending_tasks=int(scal["pending_tasks"]),
            pending_cpu=float(scal["pending_cpu"]),
            pending_mem=float(scal["pending_mem"]),
            power_w=float(scal["power_w"]),
            extra={
                "source": "prometheus",
                "read": read,
                "backend_time_s": scal["time_s"],
                "age_s": age,
                **extras,
            },
            **arrays,
        )

    def _refetch_static(self) -> Observation:
        self._static = None
        return self.observe()

    def _check_fresh(self, fresh: list[dict[str, Any]], up: list[dict[str, Any]]) -> float:
        if up and all(float(r["value"][1]) == 0 for r in up):
            raise StaleTelemetry(
                f"Prometheus at {self.url}: the exporter target of job {self.job!r} is down "
                "(up == 0)",
                reason="target_down",
            )
        if not fresh:
            raise StaleTelemetry(
                f"Prometheus at {self.url} has no recent autoinfra samples for job {self.job!r}",
                reason="no_data",
            )
        age = float(fresh[0]["value"][1])
        self.last_age_s = age
        if age > self.stale_after_s:
            raise StaleTelemetry(
                f"Prometheus at {self.url}: newest sample is {age:.1f} s old, more than "
                f"{self.stale_after_s:g} s ({self.stale_after_s / self.scrape_interval_s:g} scrape "
                "intervals)",
                reason="old_samples",
                age_s=age,
            )
        return age

    def _machine_ids(self, n: int, at: float) -> npt.NDArray[np.int64]:
        if self._ids is None or self._ids.shape[0] != n:
            result = self.client.query(f'autoinfra_machine_info{{job="{self.job}"}}', at)
            ids = np.arange(n, dtype=np.int64)
            for r in result:
                slot = int(r["metric"]["machine"])
                if slot < n:
                    ids[slot] = int(r["metric"]["id"])
            self._ids = ids
        return self._ids

    def range(
        self, metric: str, label: str, start_s: float, end_s: float, step_s: float
    ) -> tuple[F64, F64]:
        """History of a per-entity series: (unix times, matrix time x entity), NaN where absent."""
        result = self.client.query_range(
            f'max by ({label}) ({metric}{{job="{self.job}"}})', start_s, end_s, step_s
        )
        times = np.arange(start_s, end_s + step_s / 2, step_s)
        width = 1 + max((int(r["metric"][label]) for r in result), default=-1)
        out = np.full((times.shape[0], width), np.nan)
        for r in result:
            j = int(r["metric"][label])
            for ts, value in r["values"]:
                i = round((float(ts) - start_s) / step_s)
                if 0 <= i < times.shape[0]:
                    out[i, j] = float(value)
        return times, out
