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
carries one label (small JSON, fast to parse), all in parallel (Prometheus evaluates them on its
own cores while this process parses). Machine ids (``autoinfra_machine_info``) change only when
the cell does and are fetched again only when the machine count changes.

A PromQL error (HTTP 400/422) is a ``PrometheusError`` naming the query and Prometheus' own
message; an unreachable server a ``StaleTelemetry`` naming the URL.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import numpy as np
import numpy.typing as npt

from autoinfra.core.clock import Clock
from autoinfra.core.errors import AutoinfraError
from autoinfra.core.observation import Observation
from autoinfra.telemetry.exporter import (
    CLUSTER_FIELDS,
    LINK_FIELDS,
    MACHINE_FIELDS,
    SERVICE_FIELDS,
)
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


class PrometheusError(AutoinfraError):
    """Prometheus answered with an error (a bad query): names the query and the reason."""


class StaleTelemetry(AutoinfraError):
    """No fresh data: Prometheus unreachable, the target down, or samples too old."""

    def __init__(self, message: str, *, reason: str, age_s: float = math.inf) -> None:
        super().__init__(message)
        self.reason = reason  # "unreachable" | "target_down" | "old_samples" | "no_data"
        self.age_s = age_s


class PrometheusClient:
    """The two query endpoints of the HTTP API, with timeouts and retries on transport errors."""

    def __init__(self, url: str, *, timeout_s: float = 2.0, retries: int = 2) -> None:
        self.url = url.rstrip("/")
        self.retries = retries
        self._http = httpx.Client(base_url=self.url, timeout=timeout_s)

    def close(self) -> None:
        self._http.close()

    def query(self, promql: str, at_s: float | None = None) -> list[dict[str, Any]]:
        params = {"query": promql} | ({"time": f"{at_s:.3f}"} if at_s is not None else {})
        data = self._get("/api/v1/query", params, promql)
        return list(data["result"]) if data["resultType"] == "vector" else [data]

    def query_range(
        self, promql: str, start_s: float, end_s: float, step_s: float
    ) -> list[dict[str, Any]]:
        params = {
            "query": promql,
            "start": f"{start_s:.3f}",
            "end": f"{end_s:.3f}",
            "step": f"{step_s:g}",
        }
        return list(self._get("/api/v1/query_range", params, promql)["result"])

    def _get(self, path: str, params: Mapping[str, str], promql: str) -> dict[str, Any]:
        last: Exception | None = None
        for attempt in range(self.retries + 1):
            try:
                resp = self._http.get(path, params=params)
            except httpx.HTTPError as exc:
                last = exc
                time.sleep(min(0.05 * 2**attempt, 0.5))
                continue
            if resp.status_code in (400, 422):
                raise PrometheusError(
                    f"Prometheus at {self.url} refused query {promql!r}: {_error_text(resp)}"
                )
            if resp.status_code >= 500:
                last = httpx.HTTPStatusError(
                    str(resp.status_code), request=resp.request, response=resp
                )
                time.sleep(min(0.05 * 2**attempt, 0.5))
                continue
            body = json.loads(resp.content)
            if body.get("status") != "success":
                raise PrometheusError(
                    f"Prometheus at {self.url}: query {promql!r} failed: {body.get('error', body)}"
                )
            return dict(body["data"])
        raise StaleTelemetry(
            f"Prometheus at {self.url} does not answer ({type(last).__name__}: {last}); "
            "expected a Prometheus HTTP API there",
            reason="unreachable",
        )


def _error_text(resp: httpx.Response) -> str:
    try:
        return str(resp.json().get("error", resp.text))
    except ValueError:
        return resp.text[:200]


def _by_label(result: list[dict[str, Any]], label: str, n: int | None = None) -> F64:
    """Values of a vector keyed by an index label into an array (NaN where missing)."""
    if not result:
        return np.zeros(0 if n is None else n)
    idx = np.fromiter((int(r["metric"][label]) for r in result), np.int64, len(result))
    vals = np.array([r["value"][1] for r in result], dtype=np.float64)
    size = int(idx.max()) + 1 if n is None else n
    out = np.full(size, np.nan)
    keep = idx < size
    out[idx[keep]] = vals[keep]
    return out


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
    ) -> None:
        self.client = PrometheusClient(url, timeout_s=timeout_s, retries=retries)
        self.clock = clock
        self.job = job
        self.scrape_interval_s = scrape_interval_s
        self.stale_after_s = stale_after_intervals * scrape_interval_s
        self.store = store
        self._pool = ThreadPoolExecutor(max_workers=max(1, parallel), thread_name_prefix="promql")
        self._ids: npt.NDArray[np.int64] | None = None
        self.collections = 0
        self.last_age_s: float = math.nan

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
        at = time.time()
        sel = f'{{job="{self.job}"}}'
        fresh = self.client.query(
            f"time() - timestamp(autoinfra_observation_time_seconds{sel})", at
        )
        up = self.client.query(f"up{sel}", at)
        if up and all(float(r["value"][1]) == 0 for r in up):
            raise StaleTelemetry(
                f"Prometheus at {self.url}: the exporter target of job "
                f"{self.job!r} is down (up == 0)",
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
        queries: dict[str, tuple[str, str]] = {}
        for fields, label in (
            (MACHINE_FIELDS, "machine"),
            (LINK_FIELDS, "link"),
            (SERVICE_FIELDS, "service"),
        ):
            for name, field in fields.items():
                queries[field] = (f"max by ({label}) ({name}{sel})", label)
        scalars = "|".join(CLUSTER_FIELDS)
        futures = {f: self._pool.submit(self.client.query, q, at) for f, (q, _) in queries.items()}
        cluster_future = self._pool.submit(
            self.client.query, f'{{__name__=~"{scalars}",job="{self.job}"}}', at
        )
        arrays: dict[str, Any] = {}
        for field, fut in futures.items():
            arrays[field] = _by_label(fut.result(), queries[field][1])
        n = arrays["machine_state"].shape[0]
        for field in MACHINE_FIELDS.values():
            if arrays[field].shape[0] != n:  # a series lost mid-scrape: same length for all
                arrays[field] = np.resize(arrays[field], n)
        cluster = {
            str(r["metric"]["__name__"]): float(r["value"][1]) for r in cluster_future.result()
        }
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
            extra={"source": "prometheus", "backend_time_s": scal["time_s"], "age_s": age},
            **arrays,
        )

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
