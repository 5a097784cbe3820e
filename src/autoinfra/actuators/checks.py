"""Completion checks of asynchronous actions, shared by every actuator.

A power transition takes a boot or shutdown delay on any cluster, so the actuator returns a
``Check`` the runtime polls until it says done (True), failed (False) or still waiting (None),
with a detail for the record. The simulator's actuator and the backend actuator poll the same
checks through the ``ClusterWriter`` they act on.
"""

from __future__ import annotations

from collections.abc import Callable

from autoinfra.core.cluster import ClusterWriter
from autoinfra.core.observation import MachineState

__all__ = ["Check", "emptied", "powered_on", "state_is"]

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
