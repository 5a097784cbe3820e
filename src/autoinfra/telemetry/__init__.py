"""Telemetry: perception (``SimSensor``), the time-series ``MetricStore``, and the detectors that
turn observations into findings (machine down, CPU hog, link congestion, intrusion), and the
trust check that decides whether an observation may be believed at all.
"""

from autoinfra.telemetry.detectors import (
    CpuHogDetector,
    CpuHogSettings,
    HeartbeatDetector,
    HeartbeatSettings,
    IntrusionDetector,
    IntrusionSettings,
    LinkCongestionDetector,
    LinkCongestionSettings,
)
from autoinfra.telemetry.sensor import SimSensor
from autoinfra.telemetry.store import CLUSTER_SERIES, MACHINE_SERIES, MetricStore
from autoinfra.telemetry.trust import TrustCheck, TrustMonitor, TrustSettings, TrustVerdict

__all__ = [
    "CLUSTER_SERIES",
    "MACHINE_SERIES",
    "CpuHogDetector",
    "CpuHogSettings",
    "HeartbeatDetector",
    "HeartbeatSettings",
    "IntrusionDetector",
    "IntrusionSettings",
    "LinkCongestionDetector",
    "LinkCongestionSettings",
    "MetricStore",
    "SimSensor",
    "TrustCheck",
    "TrustMonitor",
    "TrustSettings",
    "TrustVerdict",
]
