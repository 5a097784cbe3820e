"""Detectors: observations in, findings out. One class per kind of trouble, each with its settings.

All four look only at what monitoring would report (``core.Observation``), never at the
simulator's truth, and each states how long it takes to raise a finding:

- ``HeartbeatDetector`` -> ``node_failure``: a machine that should be reporting (ON or DRAINING)
  whose last heartbeat is older than ``threshold_s`` (15 s by default: three missed 5 s beats;
  Kubernetes waits 40 s, its ``node-monitor-grace-period``). Detects within ``threshold_s`` plus
  one agent period. When at least ``outage_share`` of the reporting machines (and at least
  ``outage_min_machines``) are late at once, that is one ``monitoring_outage`` on ``cluster``, not
  that many failures: in the shipped window the cell (12,495 machines) never loses more than 6
  within 10 minutes, and over the machine table's 29 days (12,583 machines) at most 76, so half a
  cell going silent together is the monitoring that failed (the runtime's trust check puts it in
  safe mode for the same reason, ``telemetry.trust``).
- ``CpuHogDetector`` -> ``cpu_hog``: CPU used that the machine's tasks do not explain. Expected use
  is the requested CPU times the cluster's current used/requested ratio; the unexplained rest is
  tracked per machine with an exponentially weighted mean and variance (EWMA z-score). A machine is
  flagged when that rest jumps ``z_threshold`` deviations above its own normal, is a real share of
  the machine (``min_excess_share``), and either starves tasks (throttling) or takes nearly the
  whole machine (``whole_machine_share``: a hog on an almost empty machine starves nobody yet), for
  ``confirm_s`` seconds. Tasks may use up to twice their request, so CPU above the requests alone
  is not evidence: a few busy tasks do that. While the rest is that far above its normal, a
  machine's baseline is frozen, flagged or not, so a long hog is not learned as normal (nor one
  that starves no task yet). It cannot tell a hog from a sudden burst of the machine's own tasks
  far above their requests (the observation has no per-task usage); such bursts are its false
  alarms.
- ``LinkCongestionDetector`` -> ``network_congestion``: uplink utilisation above ``threshold`` for
  ``confirm_s`` seconds.
- ``IntrusionDetector`` -> ``intrusion``: egress far above what the machine's CPU use explains.
  The cluster's egress per unit CPU is re-estimated every sample as a median ratio (robust to the
  few outliers it looks for); a machine is flagged when its unexplained egress exceeds both
  ``min_excess_mbps`` and ``z_threshold`` robust deviations (MAD) for ``confirm_s`` seconds.

Detectors keep per-machine arrays sized to the observation; a change of cluster size resets them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from autoinfra.core.incidents import IncidentKind
from autoinfra.core.observation import MachineState, Observation
from autoinfra.core.proposal import Finding

__all__ = [
    "CpuHogDetector",
    "CpuHogSettings",
    "HeartbeatDetector",
    "HeartbeatSettings",
    "IntrusionDetector",
    "IntrusionSettings",
    "LinkCongestionDetector",
    "LinkCongestionSettings",
]

F64 = npt.NDArray[np.float64]
Bool = npt.NDArray[np.bool_]


_MEDIAN_SAMPLE = 2048  # cluster-wide medians are taken over at most this many machines


def _median(values: npt.NDArray[np.floating[Any]]) -> float:
    """Median, over an even stride of at most ``_MEDIAN_SAMPLE`` values: a cluster-wide typical
    ratio does not need all 12,500 machines, and a full median is a sort's worth of time."""
    k = values.shape[0]
    if k == 0:
        return 0.0
    if k > _MEDIAN_SAMPLE:
        values = values[:: k // _MEDIAN_SAMPLE]
    return float(np.median(values))


def _reporting(obs: Observation) -> Bool:
    s = obs.machine_state
    return (s == MachineState.ON) | (s == MachineState.DRAINING)


class _Persistence:
    """For each index, since when its condition has held (NaN when it does not hold)."""

    def __init__(self) -> None:
        self.since: F64 = np.zeros(0)

    def update(self, now_s: float, condition: Bool, confirm_s: float) -> Bool:
        if self.since.shape != condition.shape:
            self.since = np.full(condition.shape, np.nan)
        start = condition & np.isnan(self.since)
        self.since[start] = now_s
        self.since[~condition] = np.nan
        with np.errstate(invalid="ignore"):
            return condition & (now_s - self.since >= confirm_s - 1e-9)


@dataclass(frozen=True, slots=True)
class HeartbeatSettings:
    threshold_s: float = 15.0  # three missed 5 s heartbeats
    outage_share: float = 0.5  # this share of reporting machines late at once: an outage
    outage_min_machines: int = 10  # ...among at least this many reporting machines


class HeartbeatDetector:
    def __init__(self, settings: HeartbeatSettings | None = None) -> None:
        self.settings = settings or HeartbeatSettings()

    def analyze(self, observation: Observation) -> list[Finding]:
        s = self.settings
        thr = s.threshold_s
        reporting = _reporting(observation)
        late = reporting & (observation.heartbeat_age_s > thr)
        n_late, n_reporting = int(late.sum()), int(reporting.sum())
        if n_reporting >= s.outage_min_machines and n_late >= s.outage_share * n_reporting:
            return [
                Finding(
                    "monitoring_outage",
                    "cluster",
                    1.0,
                    observation.time_s,
                    {"silent_machines": n_late, "reporting_machines": n_reporting},
                )
            ]
        out = []
        for m in np.flatnonzero(late):
            age = float(observation.heartbeat_age_s[m])
            out.append(
                Finding(
                    IncidentKind.NODE_FAILURE,
                    f"machine:{m}",
                    min(1.0, age / (4 * thr)),
                    observation.time_s,
                    {"heartbeat_age_s": age, "threshold_s": thr},
                )
            )
        return out


@dataclass(frozen=True, slots=True)
class CpuHogSettings:
    alpha: float = 0.1  # EWMA weight of a new sample (about the last 10 samples matter)
    z_threshold: float = 4.0
    std_floor: float = 0.01  # CPU units: below this, spread is noise of the model
    min_excess_share: float = 0.2  # unexplained CPU must be at least this share of capacity
    min_throttled_share: float = 0.05  # ...and starve the tasks this much,
    whole_machine_share: float = 0.9  # ...or be nearly the whole machine
    confirm_s: float = 10.0
    warmup_samples: int = 6


class CpuHogDetector:
    def __init__(self, settings: CpuHogSettings | None = None) -> None:
        self.settings = settings or CpuHogSettings()
        # float32 like the observation: at 12,500 machines the arithmetic is most of the cost
        self._mean = np.zeros(0, dtype=np.float32)
        self._var = np.zeros(0, dtype=np.float32)
        self._n = np.zeros(0, dtype=np.int32)
        self._persist = _Persistence()

    def _reset(self, n: int) -> None:
        self._mean = np.zeros(n, dtype=np.float32)
        self._var = np.zeros(n, dtype=np.float32)
        self._n = np.zeros(n, dtype=np.int32)

    def analyze(self, observation: Observation) -> list[Finding]:
        s = self.settings
        obs = observation
        if self._mean.shape[0] != obs.n_machines:
            self._reset(obs.n_machines)
        live = _reporting(obs) & (obs.heartbeat_age_s <= 60.0)
        req, used, cap = obs.cpu_requested, obs.cpu_used, obs.cpu_capacity
        busy = live & (req > 0)
        ratio = _median(used[busy] / req[busy]) if busy.any() else 1.0
        excess = used - req * np.float32(ratio)
        d = excess - self._mean
        std = np.sqrt(self._var)
        np.maximum(std, np.float32(s.std_floor), out=std)
        z = d / std
        suspect = live & (self._n >= s.warmup_samples) & (z >= s.z_threshold)
        suspect &= excess >= np.float32(s.min_excess_share) * cap
        suspect &= (obs.cpu_throttled_share >= s.min_throttled_share) | (
            excess >= np.float32(s.whole_machine_share) * cap
        )
        flagged = self._persist.update(obs.time_s, suspect, s.confirm_s)
        # learn the normal only from machines that look normal: a jump that harms no task yet
        # (a hog that leaves its machine's tasks just enough) is not normal either, or it would
        # be learned before the tasks it starves made it a suspect (a machine still warming up
        # learns every sample: its normal is not known yet)
        learn = live & ((self._n < s.warmup_samples) | (z < s.z_threshold))
        a = np.float32(s.alpha)
        self._mean = np.where(learn, self._mean + a * d, self._mean)
        self._var = np.where(learn, (1 - a) * (self._var + a * d * d), self._var)
        # a machine that stops reporting starts over when it comes back
        self._n = np.where(live, self._n + learn, 0).astype(np.int32)
        if not flagged.any():
            return []
        return [
            Finding(
                IncidentKind.CPU_HOG,
                f"machine:{m}",
                float(min(1.0, excess[m] / max(float(cap[m]), 1e-9))),
                obs.time_s,
                {
                    "unexplained_cpu": float(excess[m]),
                    "z": float(z[m]),
                    "throttled_share": float(obs.cpu_throttled_share[m]),
                    "cluster_used_per_requested": ratio,
                },
            )
            for m in np.flatnonzero(flagged)
        ]


@dataclass(frozen=True, slots=True)
class LinkCongestionSettings:
    threshold: float = 1.0  # offered load / capacity
    confirm_s: float = 10.0


class LinkCongestionDetector:
    def __init__(self, settings: LinkCongestionSettings | None = None) -> None:
        self.settings = settings or LinkCongestionSettings()
        self._persist = _Persistence()

    def analyze(self, observation: Observation) -> list[Finding]:
        s = self.settings
        util = observation.link_utilization
        flagged = self._persist.update(observation.time_s, util > s.threshold, s.confirm_s)
        out = []
        for link in np.flatnonzero(flagged):
            rack = int(observation.link_rack[link])
            siblings = np.flatnonzero(observation.link_rack == rack)
            out.append(
                Finding(
                    IncidentKind.NETWORK_CONGESTION,
                    f"link:{link}",
                    float(min(1.0, util[link] - s.threshold + 0.5)),
                    observation.time_s,
                    {
                        "utilization": float(util[link]),
                        "rack": rack,
                        "rack_links": [int(x) for x in siblings],
                        "rack_link_utilization": [float(util[x]) for x in siblings],
                    },
                )
            )
        return out


@dataclass(frozen=True, slots=True)
class IntrusionSettings:
    z_threshold: float = 6.0  # robust deviations (1.4826 x MAD) above the cluster's residuals
    min_excess_mbps: float = 200.0
    confirm_s: float = 10.0


class IntrusionDetector:
    def __init__(self, settings: IntrusionSettings | None = None) -> None:
        self.settings = settings or IntrusionSettings()
        self._persist = _Persistence()

    def analyze(self, observation: Observation) -> list[Finding]:
        s = self.settings
        obs = observation
        live = _reporting(obs)
        used = obs.cpu_used
        egress = obs.egress_mbps
        busy = live & (used > 1e-6)
        per_cpu = _median(egress[busy] / used[busy]) if busy.any() else 0.0
        resid = egress - per_cpu * used
        live_resid = resid[live]
        centre = _median(live_resid)
        spread = 1.4826 * _median(np.abs(live_resid - centre))
        excess = resid - centre
        threshold = np.maximum(s.min_excess_mbps, s.z_threshold * spread)
        suspect = live & (excess > threshold)
        flagged = self._persist.update(obs.time_s, suspect, s.confirm_s)
        return [
            Finding(
                IncidentKind.INTRUSION,
                f"machine:{m}",
                float(min(1.0, excess[m] / (4 * max(threshold, 1e-9)))),
                obs.time_s,
                {
                    "egress_mbps": float(egress[m]),
                    "explained_mbps": float(per_cpu * used[m] + centre),
                    "cluster_mbps_per_cpu": per_cpu,
                },
            )
            for m in np.flatnonzero(flagged)
        ]
