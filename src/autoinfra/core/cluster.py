"""The cluster seam: what agents need of a cluster: simulated, local processes or Kubernetes.

Three sides, each a small protocol, so a sensor, an actuator and the live runner each depend on
only the part they use:

- ``ClusterReader``: the cluster's time and a snapshot of what monitoring sees
  (``observe() -> Observation``). Sensors build on it (``SimSensor`` reads it directly, the
  Prometheus sensor reads the same numbers through an exporter and PromQL).
- ``ClusterWriter``: the mutators the actuator drives. Every call takes ``by`` (the request id of
  the action, so the backend's fault timeline can say which action mitigated a fault), takes effect
  when the call returns (or raises), and raises an ``AutoinfraError`` (``ActionError`` or the
  simulator's ``SimulationError``) when the cluster cannot do it: an unknown machine, a power-off
  of a busy machine, a reroute from a rack that has no such uplink. Two read-backs
  (``machine_state``, ``machine_task_count``) tell an actuator when an action has had its effect;
  they report the truth, FAILED included, as a control plane's API would.
- ``Backend``: a running cluster under test. It bundles a reader, a writer and the ``Clock`` the
  runtime is driven by, is started and stopped (processes, servers), lets the cluster move
  (``advance``: the simulator steps up to its paced time; a real cluster moves by itself and only
  applies faults that are due), injects faults (``inject``), and keeps the ground truth of each
  fault's timeline (``record_detection``, ``fault_rows``) for the report. Detection is judged by
  the backend, never by the agent that claims it.

Backends live in ``autoinfra.backends`` (``sim`` here; ``local`` and ``kubernetes`` beside it);
``autoinfra.testing`` has a tiny in-memory one and the conformance suite every backend passes.

Fault rows use the simulator's fault-timeline columns (``FAULT_COLUMNS``), so the experiment's
metrics (``experiments.metrics.fault_metrics``) read a live run's faults unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from autoinfra.core.clock import Clock
from autoinfra.core.observation import MachineState, Observation

__all__ = [
    "FAULT_COLUMNS",
    "WRITE_OPS",
    "Backend",
    "Cluster",
    "ClusterHandle",
    "ClusterReader",
    "ClusterWriter",
    "FaultLike",
    "ReaderOf",
    "RequestResizing",
    "RouteRestoring",
    "cluster_parts",
]

# the ClusterWriter methods that change the cluster, by the name the fault timeline records
WRITE_OPS: tuple[str, ...] = (
    "set_service_replicas",
    "power_on",
    "power_off",
    "cordon",
    "drain",
    "evict_stranded",
    "kill_rogue",
    "isolate",
    "reroute",
)

# one row per fault, as ``autoinfra.sim`` writes them (times in seconds of the backend's clock;
# NaN when the step did not happen)
FAULT_COLUMNS: tuple[str, ...] = (
    "fault_id",
    "kind",
    "origin",
    "target",
    "injected_s",
    "detected_s",
    "detected_by",
    "mitigated_s",
    "mitigated_by",
    "mitigated_op",
    "recovered_s",
    "cleared_s",
    "self_cleared",
    "active",
    "detect_s",
    "mitigate_s",
    "recovery_s",
    "tasks_affected",
    "detail",
)


@runtime_checkable
class ClusterReader(Protocol):
    """Time and a snapshot of the cluster as monitoring sees it."""

    @property
    def now_s(self) -> float: ...

    def observe(self) -> Observation: ...


@runtime_checkable
class ClusterWriter(Protocol):
    """The mutators an actuator drives; each raises an ``AutoinfraError`` when impossible.

    ``power_off`` refuses a machine that still runs anything (tasks, replicas, pods): only a
    drained or empty machine is switched off. The gate relies on it: a power-off of a machine a
    picture shows empty is judged on capacity alone (``core.observation.runs_nothing``).

    What a mutator returns (the simulator returns counts) is the backend's own; callers ignore it.
    """

    def set_service_replicas(self, service: int, replicas: int, by: str) -> object: ...
    def power_on(self, machine: int, by: str) -> object: ...
    def power_off(self, machine: int, by: str) -> object: ...
    def cordon(self, machine: int, schedulable: bool, by: str) -> object: ...
    def drain(self, machine: int, by: str) -> object: ...
    def evict_stranded(self, machine: int, by: str) -> object: ...
    def kill_rogue(self, machine: int, by: str) -> object: ...
    def isolate(self, machine: int, by: str) -> object: ...
    def reroute(self, rack: int, away_from_link: int, by: str) -> object: ...
    def machine_state(self, machine: int) -> MachineState: ...
    def machine_task_count(self, machine: int) -> int: ...


@runtime_checkable
class RequestResizing(Protocol):
    """A writer that can give a service's replicas new requests (right-sizing), in the
    observation's normalised units. Optional: only clusters that model per-replica requests have
    it (the simulator, Kubernetes); an actuator checks for it with ``isinstance``."""

    def resize_service_requests(
        self, service: int, cpu_request: float, mem_request: float, by: str
    ) -> object: ...


@runtime_checkable
class RouteRestoring(Protocol):
    """A writer that can spread a rack's traffic equally over all its uplinks again, undoing
    its reroutes. Optional: only backends whose uplinks an action can steer have it (the
    simulator, the local network lab); an actuator checks for it with ``isinstance``."""

    def restore_routes(self, rack: int, by: str) -> object: ...


@runtime_checkable
class Cluster(ClusterReader, ClusterWriter, Protocol):
    """Both sides in one object (the simulator, the fake cluster)."""


class FaultLike(Protocol):
    """What a backend needs of a fault to inject (``autoinfra.faults.FaultSpec`` is one)."""

    @property
    def kind(self) -> Any: ...  # a FaultKind (a str enum) or its string
    @property
    def at_s(self) -> float: ...
    @property
    def target(self) -> str: ...  # "random", "machine:<slot>" or "link:<idx>"
    @property
    def duration_s(self) -> float | None: ...


@runtime_checkable
class ClusterHandle(Protocol):
    """A cluster's three parts, each a property: the simulator is one, every ``Backend`` too."""

    @property
    def clock(self) -> Clock: ...
    @property
    def reader(self) -> ClusterReader: ...
    @property
    def writer(self) -> ClusterWriter: ...


@runtime_checkable
class Backend(ClusterHandle, Protocol):
    """A cluster under test: reader, writer, clock, lifecycle, faults and their ground truth.

    ``start`` brings it up (idempotent), ``stop`` tears everything it started down (idempotent,
    safe after a failed ``start``). ``advance`` is called by the runner before every runtime tick:
    the cluster catches up with its clock and injects the faults of its scenario that are due.
    ``done`` is True when the backend has nothing more to run (the simulator's window ended);
    real clusters are never done. ``inject`` applies one fault now and returns the target it hit
    ("" when nothing was eligible). ``fault_rows`` returns one mapping per fault with the keys of
    ``FAULT_COLUMNS``.
    """

    name: str

    @property
    def done(self) -> bool: ...

    def start(self) -> None: ...
    def stop(self) -> None: ...
    def advance(self) -> None: ...
    def inject(self, fault: FaultLike) -> str: ...
    def record_detection(self, target: str, by: str, kind: str | None = None) -> bool: ...
    def fault_rows(self) -> Sequence[dict[str, Any]]: ...


def cluster_parts(cluster: Any) -> tuple[ClusterReader, ClusterWriter, Clock]:
    """Reader, writer and clock of a ``ClusterHandle`` (the simulator, every ``Backend``), or of
    an object that is all three itself (a test's fake cluster). Presets build on either."""
    if isinstance(cluster, ClusterHandle):
        return cluster.reader, cluster.writer, cluster.clock
    return cluster, cluster, cluster.clock


class _Observing(Protocol):
    @property
    def clock(self) -> Clock: ...

    def observe(self) -> Observation: ...


class ReaderOf:
    """The read side of a backend whose ``observe()`` and ``clock`` make its ``ClusterReader``."""

    def __init__(self, backend: _Observing) -> None:
        self._backend = backend

    @property
    def now_s(self) -> float:
        return self._backend.clock.now_s()

    def observe(self) -> Observation:
        return self._backend.observe()
