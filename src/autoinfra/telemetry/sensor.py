"""Perception from the simulator: ``SimSensor`` turns ``sim.observe()`` into ``Sensor.collect``.

The telemetry layer sits below the simulator in the layering, so it does not import
``autoinfra.sim``: it needs only something with ``observe()`` and ``now_s`` (``core.cluster``'s
``ClusterReader``), which the simulator, every live backend,
the Prometheus sensor and the fake cluster of ``autoinfra.testing`` all are.

Several agents usually perceive in the same runtime tick. Building an observation of a 12,500-
machine cell costs real time, so the sensor keeps the last one and hands it out again while the
cluster's clock has not moved. Observations are immutable snapshots, so sharing is safe. The runtime
perceives before it acts in a tick and the cluster only moves between ticks, so within one instant
everyone sees the same state; pass ``cache=False`` when something else mutates the cluster without
moving its clock.
"""

from __future__ import annotations

from autoinfra.core.cluster import ClusterReader
from autoinfra.core.observation import Observation
from autoinfra.telemetry.store import MetricStore

__all__ = ["SimSensor"]


class SimSensor:
    """``Sensor`` over a simulator (or any ``core.cluster.ClusterReader``)."""

    def __init__(
        self, cluster: ClusterReader, *, cache: bool = True, store: MetricStore | None = None
    ) -> None:
        self.cluster = cluster
        self.cache = cache
        self.store = store  # each fresh observation is also recorded here (the time-series store)
        self._last: Observation | None = None
        self._last_at_s: float | None = None
        self.collections = 0  # observations actually built (not served from the cache)

    def collect(self) -> Observation:
        now = float(self.cluster.now_s)
        if self.cache and self._last is not None and self._last_at_s == now:
            return self._last
        obs = self.cluster.observe()
        self.collections += 1
        if self.store is not None:
            self.store.record(obs)
        self._last, self._last_at_s = obs, now
        return obs

    def invalidate(self) -> None:
        """Forget the cached snapshot (after a change to the cluster at the same instant)."""
        self._last = None
        self._last_at_s = None
