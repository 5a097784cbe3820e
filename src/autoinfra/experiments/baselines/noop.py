"""The control: a system with no agents. The world runs on its own, faults stay until they clear.

It still has a runtime (with nothing to run), so the harness treats it like any other system and
its report rows show what the cluster does when nobody acts: the floor every other system should
beat, and a check that the simulator's own behaviour is not credited to anyone.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from autoinfra.actuators import actuator_for
from autoinfra.agents import Runtime, System
from autoinfra.core.cluster import cluster_parts
from autoinfra.core.errors import ConfigError


def build(sim: Any, *, seed: int, params: Mapping[str, Any] | None = None) -> System:
    if params:
        raise ConfigError(
            f"the noop system takes no parameters, got {sorted(params)}", field="system_params.noop"
        )
    _, _, clock = cluster_parts(sim)  # a simulator or a core.cluster.Backend
    runtime = Runtime([], clock=clock, actuator=actuator_for(sim))
    return System("noop", runtime, {}, "no agents: nothing acts (the control)")
