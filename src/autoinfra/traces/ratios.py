"""Usage/request ratios conditional on the request's size within its priority band.

Why conditional: in the shipped task_usage excerpt the ratio is not independent of the request.
Its Spearman correlation with the CPU request is about 0.43 (0.31 for memory); the largest tenth
of CPU requests use about 0.66 of them while tasks near the median use about 0.12, and in the free
band (priorities 0-1) the relation reverses (large free requests use almost nothing). Drawing the
ratio from one distribution per band, as the model did before, spread the heavy users' ratios over
small requests: the cell's aggregate usage/request came out at 0.15 where the data say 0.28.

The model: within each priority band, the measured tasks are split into bins by request size
(``request_bins``: as many equal-count bins as leave at least ``MIN_BIN_SAMPLES`` measured tasks in
each, at most ``MAX_BINS``; tied requests never straddle a bin edge). A task's CPU ratio is drawn
from the empirical distribution of its band's bin of its CPU request, its memory ratio from its
band's bin of its memory request (inverse CDF over a 201-point quantile table). The two draws are
independent given the bins; the requests' own correlation carries some of the CPU-memory coupling
(0.27 in the data). A band with fewer than ``MIN_BAND_SAMPLES`` measured tasks uses all tasks' bins.

Clipping (stated in :mod:`autoinfra.traces.usage`): CPU ratios to [0, ``CPU_RATIO_MAX``], memory to
[0, ``MEM_RATIO_MAX``].
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]

BAND_NAMES = ("free", "middle", "production")
CPU_RATIO_MAX = 2.0
MEM_RATIO_MAX = 1.0
MIN_BAND_SAMPLES = 50
# a bin's p90 rests on at least 20 measured tasks above it; 16 bins resolve the steep top of the
# production band's requests (its largest tenth alone holds most of the requested CPU)
MIN_BIN_SAMPLES = 200
MAX_BINS = 16
QUANTILE_PROBS = np.linspace(0.0, 1.0, 201)
RESOURCES = ("cpu", "mem")


def priority_band(priority: npt.ArrayLike) -> npt.NDArray[np.int8]:
    """0 free (priorities 0-1), 1 middle (2-8), 2 production (9-11)."""
    p = np.asarray(priority)
    return np.where(p >= 9, 2, np.where(p >= 2, 1, 0)).astype(np.int8)


def request_bins(
    requests: F64, min_samples: int = MIN_BIN_SAMPLES, max_bins: int = MAX_BINS
) -> F64:
    """Inner bin edges over ``requests``: bin i is [edge[i-1], edge[i]) (open at both ends).

    Equal-count bins of about len / max_bins requests, none with fewer than ``min_samples``; an
    edge always falls between two distinct values, so tied requests share one bin."""
    vals, counts = np.unique(requests[np.isfinite(requests)], return_counts=True)
    total = int(counts.sum())
    target = max(total / max_bins, float(min_samples))
    edges: list[float] = []
    acc, remaining = 0, total
    for v, c in zip(vals.tolist(), counts.tolist(), strict=True):
        if acc >= target and remaining >= min_samples:
            edges.append(v)  # v opens the next bin
            acc = 0
        acc += c
        remaining -= c
    return np.asarray(edges, dtype=np.float64)


def _quantiles(values: F64) -> F64:
    v = values[np.isfinite(values)]
    if v.size == 0:  # nothing measured: usage equal to request is the neutral assumption
        return np.ones_like(QUANTILE_PROBS)
    return np.quantile(v, QUANTILE_PROBS)


@dataclass(frozen=True, slots=True, eq=False)
class RatioTables:
    """Quantile tables of the clipped ratios per (band, request bin), for inverse-CDF draws.

    ``edges[res][b]`` are band b's inner bin edges on the ``res`` request; ``tables[res][b]`` is a
    (bins, q) array, one quantile row per bin."""

    probs: F64  # (q,)
    edges: dict[str, tuple[F64, ...]]  # resource -> per band
    tables: dict[str, tuple[F64, ...]]  # resource -> per band, (bins, q)
    samples: tuple[int, ...]  # measured tasks per band
    pooled: tuple[bool, ...]  # True where a band uses all tasks' bins (too few samples)

    @classmethod
    def from_ratios(cls, ratios: pd.DataFrame) -> RatioTables:
        """From ``observed_ratios`` rows: ``band, cpu_ratio, mem_ratio, cpu_request, mem_request``
        (a frame without request columns gives one bin per band)."""
        clip = {"cpu": CPU_RATIO_MAX, "mem": MEM_RATIO_MAX}
        bands = ratios["band"].to_numpy()
        edges: dict[str, list[F64]] = {r: [] for r in RESOURCES}
        tables: dict[str, list[F64]] = {r: [] for r in RESOURCES}
        samples, pooled = [], []
        for b in range(len(BAND_NAMES)):
            in_band = bands == b
            n = int(in_band.sum())
            use = in_band if n >= MIN_BAND_SAMPLES else np.ones_like(in_band)
            samples.append(n)
            pooled.append(n < MIN_BAND_SAMPLES)
            for res in RESOURCES:
                ratio = np.clip(ratios[f"{res}_ratio"].to_numpy(np.float64)[use], 0.0, clip[res])
                ok = np.isfinite(ratio)
                col = f"{res}_request"
                if col in ratios:
                    req = ratios[col].to_numpy(np.float64)[use][ok]
                    inner = request_bins(req)
                else:
                    req, inner = np.zeros(int(ok.sum())), np.zeros(0)
                which = np.searchsorted(inner, req, side="right")
                rows = [_quantiles(ratio[ok][which == k]) for k in range(inner.size + 1)]
                edges[res].append(inner)
                tables[res].append(np.vstack(rows))
        return cls(
            QUANTILE_PROBS.copy(),
            {r: tuple(v) for r, v in edges.items()},
            {r: tuple(v) for r, v in tables.items()},
            tuple(samples),
            tuple(pooled),
        )

    def draw(
        self,
        priority: npt.ArrayLike,
        cpu_request: npt.ArrayLike,
        mem_request: npt.ArrayLike,
        rng: np.random.Generator,
    ) -> tuple[F32, F32]:
        """One (cpu, mem) ratio per task, from its band's bin of each of its requests."""
        band = priority_band(priority)
        n = int(band.shape[0])
        # both uniforms first, in a fixed order: the draw does not depend on the bins' layout
        u = {res: rng.random(size=n) for res in RESOURCES}
        req = {
            "cpu": np.asarray(cpu_request, np.float64),
            "mem": np.asarray(mem_request, np.float64),
        }
        out = {res: np.empty(n, dtype=np.float32) for res in RESOURCES}
        for b in range(len(BAND_NAMES)):
            m = band == b
            if not m.any():
                continue
            for res in RESOURCES:
                table = self.tables[res][b]
                which = np.searchsorted(self.edges[res][b], req[res][m], side="right")
                vals = np.empty(int(m.sum()), dtype=np.float64)
                um = u[res][m]
                for k in np.unique(which).tolist():
                    sel = which == k
                    vals[sel] = np.interp(um[sel], self.probs, table[k])
                out[res][m] = vals
        return out["cpu"], out["mem"]

    def bins(self) -> dict[str, list[int]]:
        """Bins per band, per resource (for reports)."""
        return {res: [int(t.shape[0]) for t in self.tables[res]] for res in RESOURCES}

    def to_dict(self) -> dict[str, Any]:
        return {
            "probs": [round(float(p), 6) for p in self.probs],
            "conditional_on": "request-size bin within priority band",
            **{
                res: {
                    n: {
                        "edges": [float(e) for e in self.edges[res][b]],
                        "quantiles": [[float(v) for v in row] for row in self.tables[res][b]],
                    }
                    for b, n in enumerate(BAND_NAMES)
                }
                for res in RESOURCES
            },
            "samples": dict(zip(BAND_NAMES, self.samples, strict=True)),
            "pooled": dict(zip(BAND_NAMES, self.pooled, strict=True)),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RatioTables:
        edges: dict[str, tuple[F64, ...]] = {}
        tables: dict[str, tuple[F64, ...]] = {}
        for res in RESOURCES:
            per = data[res]
            edges[res] = tuple(np.asarray(per[n]["edges"], dtype=np.float64) for n in BAND_NAMES)
            tables[res] = tuple(
                np.atleast_2d(np.asarray(per[n]["quantiles"], dtype=np.float64)) for n in BAND_NAMES
            )
        return cls(
            np.asarray(data["probs"], dtype=np.float64),
            edges,
            tables,
            tuple(int(data["samples"][n]) for n in BAND_NAMES),
            tuple(bool(data["pooled"][n]) for n in BAND_NAMES),
        )
