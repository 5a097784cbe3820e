"""Prometheus pushes, autoinfra keeps the latest scrape: a remote-write receiver for perception.

Why push: at cell scale (12,500 machines, about 160,000 series per scrape) reading every
per-machine series back out of Prometheus costs Prometheus about a CPU-second per read through
the JSON query API, and about as much through ``/federate`` (measured in ``bench/RESULTS.md``):
encoding 160,000 series is the cost, whichever format. With remote write, Prometheus sends each
scraped sample once, as it ingests it, and ``PushedSamples`` keeps the newest complete scrape in
numpy arrays, so ``PrometheusSensor.collect`` reads memory instead of querying. History (range
queries) and rarely-needed series still come from PromQL.

A scrape is complete when as many series have arrived for its timestamp as the previous complete
scrape had (all samples of one scrape share its timestamp), or when none have arrived for it for
``settle_s`` (the first scrape, a cell that shrank). The sensor only ever sees complete scrapes,
so every field of an Observation comes from one scrape, as with the instant queries.

``RemoteWriteReceiver`` is the HTTP endpoint Prometheus posts to: 127.0.0.1 only, a bearer token
compared in constant time (Prometheus sends it through ``authorization: credentials``), a body
limit, and a malformed body answered 400 with the reason and counted, never a crash. The
Prometheus side is configured by ``live.servers.start_prometheus(remote_write=...)``: only the
``autoinfra_*`` series and ``up`` are sent, with the ``instance`` and ``job`` labels dropped.
"""

from __future__ import annotations

import hmac
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np
import numpy.typing as npt

from autoinfra.telemetry.wire import DecodedSamples, decode_write_request

__all__ = ["PushedSamples", "PushedScrape", "RemoteWriteReceiver", "start_receiver"]

F64 = npt.NDArray[np.float64]
MAX_BODY_BYTES = 64 * 1024 * 1024  # one cell scrape is about 2 MB compressed


@dataclass(frozen=True)
class PushedScrape:
    """One complete scrape: per-entity series as arrays by index (NaN where absent), scalars."""

    timestamp_ms: int
    series: dict[str, F64]
    scalars: dict[str, float]
    rows: int

    def age_s(self, now_unix_s: float | None = None) -> float:
        return (time.time() if now_unix_s is None else now_unix_s) - self.timestamp_ms / 1000.0


@dataclass
class _Stage:
    rows: int = 0
    touched: float = 0.0
    parts: dict[str, list[tuple[npt.NDArray[np.int64], F64]]] = field(default_factory=dict)
    scalars: dict[str, float] = field(default_factory=dict)


class PushedSamples:
    """The newest complete scrape of what Prometheus pushed (see the module docstring)."""

    def __init__(self, *, settle_s: float = 1.5) -> None:
        self.settle_s = settle_s
        self._lock = threading.Lock()
        self._names: dict[int, str] = {}
        self._stages: dict[int, _Stage] = {}
        self._complete: PushedScrape | None = None
        self.rows_received = 0

    def apply(self, decoded: DecodedSamples, raw: bytes, *, now: float | None = None) -> None:
        """Add one request's rows (``raw`` is the body they point into, for the names)."""
        now = time.monotonic() if now is None else now
        keep = decoded.index != -2  # a series with a label we do not export is not ours
        hashes = decoded.name_hash[keep]
        if hashes.size == 0:
            return
        uniq, first = np.unique(hashes, return_index=True)
        starts, lens = decoded.name_start[keep], decoded.name_len[keep]
        index, value, stamp = decoded.index[keep], decoded.value[keep], decoded.timestamp_ms[keep]
        with self._lock:
            self.rows_received += int(index.shape[0])
            for h, i in zip(uniq.tolist(), first.tolist(), strict=True):
                if h not in self._names:
                    s = int(starts[i])
                    self._names[h] = raw[s : s + int(lens[i])].decode("utf-8", "replace")
            done = self._complete.timestamp_ms if self._complete else -1
            for ts in np.unique(stamp).tolist():
                if ts < done:
                    continue  # a late sample of a scrape already superseded
                rows = stamp == ts
                if ts == done:  # a late part of the scrape the sensor already has
                    self._complete = _patched(
                        self._complete, self._group(hashes[rows], index[rows], value[rows])
                    )
                    continue
                stage = self._stages.setdefault(ts, _Stage())
                stage.rows += int(rows.sum())
                stage.touched = now
                for name, (idx, val) in self._group(hashes[rows], index[rows], value[rows]).items():
                    if idx.shape[0] == 1 and idx[0] == -1:
                        stage.scalars[name] = float(val[0])
                    else:
                        stage.parts.setdefault(name, []).append((idx, val))
            self._promote(now)

    def latest(self, *, now: float | None = None) -> PushedScrape | None:
        """The newest complete scrape, or None before the first one."""
        with self._lock:
            self._promote(time.monotonic() if now is None else now)
            return self._complete

    def _group(
        self, hashes: npt.NDArray[np.uint64], index: npt.NDArray[np.int64], value: F64
    ) -> dict[str, tuple[npt.NDArray[np.int64], F64]]:
        order = np.argsort(hashes, kind="stable")
        hashes, index, value = hashes[order], index[order], value[order]
        cuts = np.flatnonzero(np.diff(hashes)) + 1
        out: dict[str, tuple[npt.NDArray[np.int64], F64]] = {}
        for lo, hi in zip(
            np.r_[0, cuts].tolist(), np.r_[cuts, hashes.shape[0]].tolist(), strict=True
        ):
            out[self._names[int(hashes[lo])]] = (index[lo:hi], value[lo:hi])
        return out

    def _promote(self, now: float) -> None:
        expected = self._complete.rows if self._complete else 0
        for ts in sorted(self._stages):
            stage = self._stages[ts]
            full = expected > 0 and stage.rows >= expected
            settled = now - stage.touched >= self.settle_s
            if full or settled:
                self._complete = _assemble(ts, stage)
                expected = stage.rows
                for old in [t for t in self._stages if t <= ts]:
                    del self._stages[old]


def _assemble(ts: int, stage: _Stage) -> PushedScrape:
    series: dict[str, F64] = {}
    for name, parts in stage.parts.items():
        idx = np.concatenate([p[0] for p in parts])
        val = np.concatenate([p[1] for p in parts])
        good = idx >= 0
        out = np.full(int(idx[good].max()) + 1 if good.any() else 0, np.nan)
        out[idx[good]] = val[good]
        series[name] = out
    return PushedScrape(
        timestamp_ms=ts, series=series, scalars=dict(stage.scalars), rows=stage.rows
    )


def _patched(
    scrape: PushedScrape | None, groups: dict[str, tuple[npt.NDArray[np.int64], F64]]
) -> PushedScrape | None:
    """A copy of ``scrape`` with late rows of the same scrape written in (copy on write)."""
    if scrape is None:
        return None
    series, scalars, rows = dict(scrape.series), dict(scrape.scalars), scrape.rows
    for name, (idx, val) in groups.items():
        rows += int(idx.shape[0])
        if idx.shape[0] == 1 and idx[0] == -1:
            scalars[name] = float(val[0])
            continue
        good = idx >= 0
        old = series.get(name, np.zeros(0))
        size = max(old.shape[0], int(idx[good].max()) + 1 if good.any() else 0)
        new = np.full(size, np.nan)
        new[: old.shape[0]] = old
        new[idx[good]] = val[good]
        series[name] = new
    return PushedScrape(scrape.timestamp_ms, series, scalars, rows)


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:
        srv = self.server
        if self.path.split("?", 1)[0] != "/api/v1/write":
            self._answer(404, "only POST /api/v1/write is served")
            return
        given = self.headers.get("Authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {srv.token}".encode()):
            srv.refused += 1
            self._answer(401, "a bearer token is required")
            return
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            self._answer(411, "Content-Length is required")
            return
        if length < 0 or length > MAX_BODY_BYTES:
            self._answer(413, f"body of {length} bytes; at most {MAX_BODY_BYTES}")
            return
        body = self.rfile.read(length)
        try:
            raw = bytes(srv.snappy.decompress_raw(body))
            decoded = decode_write_request(raw)
        except Exception as exc:  # WireError from the walker; cramjam raises its own types
            srv.errors += 1
            srv.last_error = f"{type(exc).__name__}: {exc}"
            self._answer(400, f"not a snappy-compressed prometheus.WriteRequest: {exc}")
            return
        srv.samples.apply(decoded, raw)
        self._answer(204, "")

    def _answer(self, status: int, text: str) -> None:
        data = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if data:
            self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        return  # Prometheus posts every second; the counters say what happened


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], samples: PushedSamples, token: str) -> None:
        super().__init__(address, _Handler)
        import cramjam  # the `live` extra; imported here so the telemetry package stays light

        self.snappy: Any = cramjam.snappy
        self.samples = samples
        self.token = token
        self.refused = 0
        self.errors = 0
        self.last_error = ""


class RemoteWriteReceiver:
    """A running receiver: its URL for Prometheus' ``remote_write``, its samples, ``stop()``."""

    def __init__(self, server: _Server) -> None:
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, name="remote-write", daemon=True
        )
        self._thread.start()

    @property
    def samples(self) -> PushedSamples:
        return self._server.samples

    @property
    def token(self) -> str:
        return self._server.token

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/api/v1/write"

    @property
    def errors(self) -> int:
        return self._server.errors

    @property
    def refused(self) -> int:
        return self._server.refused

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def start_receiver(
    token: str, *, port: int = 0, samples: PushedSamples | None = None
) -> RemoteWriteReceiver:
    """A receiver on 127.0.0.1 (``port`` 0: a free one) requiring ``Bearer <token>``."""
    if not token:
        raise ValueError("the remote-write receiver needs a non-empty bearer token")
    server = _Server(("127.0.0.1", port), samples or PushedSamples(), token)
    return RemoteWriteReceiver(server)

