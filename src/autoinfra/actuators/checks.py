"""Completion checks of asynchronous actions, shared by every actuator.

A power transition takes a boot or shutdown delay on any cluster, so the actuator returns a
``Check`` the runtime polls until it says done (True), failed (False) or still waiting (None),
with a detail for the record. The simulator's actuator and the backend actuator poll the same
checks through the ``ClusterWriter`` they act on; a check of what only the observation shows (a
service's requests) reads the ``ClusterReader`` it was built with.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from numbers import Real

from autoinfra.core.cluster import ClusterReader, ClusterWriter
from autoinfra.core.observation import MachineState

__all__ = ["Check", "cpu_request_is", "emptied", "powered_on", "state_is"]

Check = Callable[[ClusterWriter], "tuple[bool | None, str]"]


def state_is(machine: int, want: MachineState) -> Check:
    """Done when ``machine`` reaches ``want``; failed if it FAILED on the way."""

    def check(cluster: ClusterWriter) -> tuple[bool | None, str]:
        state = MachineState(int(cluster.machine_state(machine)))
        if state == want:
            return True, f"machine:{machine} is {want.name}"
        if state == MachineState.FAILED:
            return False, f"machine:{machine} FAILED while waiting for {want.name}"
        return None, f"machine:{machine} is {state.name}, waiting for {want.name}"

    return check


def powered_on(machine: int, rid: str) -> Check:
    """Done when ``machine`` is ON, and then its cordon lifted.

    A machine powered on is meant to take work: the cordon a consolidating drain left before it
    was powered off outlives the power, so it is lifted here.
    """
    wait = state_is(machine, MachineState.ON)

    def check(cluster: ClusterWriter) -> tuple[bool | None, str]:
        done, detail = wait(cluster)
        if done:
            cluster.cordon(machine, True, rid)
        return done, detail

    return check


def emptied(machine: int) -> Check:
    """Done when ``machine`` runs no tasks (a drain or an evacuation finished)."""

    def check(cluster: ClusterWriter) -> tuple[bool | None, str]:
        n = int(cluster.machine_task_count(machine))
        if n == 0:
            return True, f"machine:{machine} has no tasks"
        return None, f"machine:{machine} still has {n} tasks"

    return check


def cpu_request_is(
    reader: ClusterReader, service: int, cpu_request: float, rel_tol: float = 0.01
) -> Check:
    """Done when ``service``'s CPU request, read back from the observation, is within ``rel_tol``
    of ``cpu_request``, or within the backend's request quantum when that is coarser (a
    Kubernetes request is whole millicores: ``extra["cpu_request_quantum"]``, normalised)."""

    def check(_cluster: ClusterWriter) -> tuple[bool | None, str]:
        obs = reader.observe()
        if not 0 <= service < obs.service_cpu_request.shape[0]:
            return False, f"service:{service} is no longer reported"
        got = float(obs.service_cpu_request[service])
        quantum = obs.extra.get("cpu_request_quantum", 0.0)
        step = float(quantum) if isinstance(quantum, Real) and math.isfinite(quantum) else 0.0
        if abs(got - cpu_request) <= max(rel_tol * abs(cpu_request), step):
            return True, f"service:{service} requests cpu {got:.4f}"
        return None, f"service:{service} requests cpu {got:.4f}, waiting for {cpu_request:.4f}"

    return check
