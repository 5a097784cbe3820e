"""The metric store: recent history of the cluster in ring buffers, and its export to Parquet.

Paper section 5.1: observations are "stored in a time-series database, ready for quick access by
the decision-making component". Here that is an in-memory store of fixed size: cluster-wide series
(utilisation, power, queue, throttling, worst link) and per-machine series (a matrix per series,
one row per sample), both ring buffers so memory stays bounded however long a run is. At 12,500
machines five per-machine series of 120 samples take 30 MB, which is why per-machine history is
shorter than cluster history by default.

``to_parquet`` writes what the buffers hold (cluster series as one wide table, per-machine series
long: time, machine, one column per series), each file written under a temporary name and renamed.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd

from autoinfra.core.atomic import atomic_path
from autoinfra.core.errors import ConfigError
from autoinfra.core.observation import MachineState, Observation

__all__ = ["CLUSTER_SERIES", "MACHINE_SERIES", "MetricStore"]

F64 = npt.NDArray[np.float64]
F32 = npt.NDArray[np.float32]

CLUSTER_SERIES: tuple[str, ...] = (
    "cpu_util",
    "mem_util",
    "cpu_requested",
    "power_w",
    "pending_tasks",
    "pending_cpu",
    "machines_powered",
    "throttled_share",
    "max_link_util",
)
MACHINE_SERIES: tuple[str, ...] = (
    "cpu_used",
    "cpu_requested",
    "cpu_throttled_share",
    "heartbeat_age_s",
    "egress_mbps",
)


def _cluster_row(obs: Observation) -> list[float]:
    powered = obs.powered
    on = obs.machine_state == MachineState.ON
    return [
        obs.cpu_utilization(),
        obs.mem_utilization(),
        float(obs.cpu_requested.sum()),
        float(obs.power_w),
        float(obs.pending_tasks),
        float(obs.pending_cpu),
        float(powered.sum()),
        float(obs.cpu_throttled_share[on].mean()) if on.any() else 0.0,
        float(obs.link_utilization.max()) if obs.link_utilization.size else 0.0,
    ]


class _Ring:
    """A ring of rows of a fixed width; ``view`` returns them oldest first."""

    def __init__(self, capacity: int, width: int, dtype: type[np.generic]) -> None:
        self.times: F64 = np.zeros(capacity, dtype=np.float64)
        self.data = np.zeros((capacity, width), dtype=dtype)
        self.count = 0

    def push(self, t: float, row: npt.ArrayLike) -> None:
        i = self.count % self.times.shape[0]
        self.times[i] = t
        self.data[i] = row
        self.count += 1

    def order(self) -> npt.NDArray[np.intp]:
        cap = self.times.shape[0]
        if self.count <= cap:
            return np.arange(self.count)
        start = self.count % cap
        return (np.arange(cap) + start) % cap


class MetricStore:
    def __init__(
        self,
        *,
        capacity: int = 720,
        machine_capacity: int = 120,
        machine_series: Sequence[str] = MACHINE_SERIES,
    ) -> None:
        if capacity < 1 or machine_capacity < 1:
            raise ConfigError(f"capacities must be >= 1, got {capacity}, {machine_capacity}")
        unknown = set(machine_series) - set(MACHINE_SERIES)
        if unknown:
            raise ConfigError(
                f"unknown machine series {sorted(unknown)}; known: {list(MACHINE_SERIES)}",
                field="machine_series",
            )
        self.capacity = capacity
        self.machine_capacity = machine_capacity
        self.machine_series = tuple(machine_series)
        self._cluster = _Ring(capacity, len(CLUSTER_SERIES), np.float64)
        self._machines: dict[str, _Ring] = {}
        self._last_t: float | None = None

    def record(self, obs: Observation) -> None:
        """Add one observation (a second one at the same time is ignored)."""
        if self._last_t is not None and obs.time_s <= self._last_t:
            return
        self._last_t = obs.time_s
        self._cluster.push(obs.time_s, _cluster_row(obs))
        n = obs.n_machines
        for name in self.machine_series:
            ring = self._machines.get(name)
            if ring is None or ring.data.shape[1] != n:
                ring = self._machines[name] = _Ring(self.machine_capacity, n, np.float32)
            ring.push(obs.time_s, getattr(obs, name))

    def __len__(self) -> int:
        return min(self._cluster.count, self.capacity)

    def cluster(self, name: str) -> tuple[F64, F64]:
        """(times, values) of a cluster series, oldest first."""
        if name not in CLUSTER_SERIES:
            raise ConfigError(f"unknown cluster series {name!r}; known: {list(CLUSTER_SERIES)}")
        order = self._cluster.order()
        col = CLUSTER_SERIES.index(name)
        return self._cluster.times[order], self._cluster.data[order, col].astype(np.float64)

    def machines(self, name: str) -> tuple[F64, F32]:
        """(times, samples x machines matrix) of a per-machine series, oldest first."""
        ring = self._machines.get(name)
        if ring is None:
            if name not in self.machine_series:
                raise ConfigError(f"series {name!r} is not kept; kept: {list(self.machine_series)}")
            return np.zeros(0), np.zeros((0, 0), dtype=np.float32)
        order = ring.order()
        return ring.times[order], ring.data[order]

    def machine(self, name: str, slot: int) -> tuple[F64, F32]:
        times, matrix = self.machines(name)
        return times, matrix[:, slot] if matrix.size else np.zeros(0, dtype=np.float32)

    def to_parquet(self, out_dir: str | Path) -> list[Path]:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        order = self._cluster.order()
        cluster = pd.DataFrame(self._cluster.data[order], columns=list(CLUSTER_SERIES))
        cluster.insert(0, "time_s", self._cluster.times[order])
        paths = [_write(cluster, out / "metrics_cluster.parquet")]
        if self._machines:
            first = self._machines[self.machine_series[0]]
            idx = first.order()
            t = first.times[idx]
            n = first.data.shape[1]
            frame = {
                "time_s": np.repeat(t, n),
                "machine": np.tile(np.arange(n, dtype=np.int32), t.shape[0]),
            }
            for name, ring in self._machines.items():
                frame[name] = ring.data[ring.order()].reshape(-1)
            paths.append(_write(pd.DataFrame(frame), out / "metrics_machines.parquet"))
        return paths


def _write(frame: pd.DataFrame, path: Path) -> Path:
    with atomic_path(path) as tmp:
        frame.to_parquet(tmp, index=False)
    return path
