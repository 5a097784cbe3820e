"""What-if for an approver: the world forked and run ahead, with and without the action.

Before a person answers, they see what the simulator predicts: two forks of the current world
(``sim.fork()``, independent deep copies) are run ``horizon_s`` ahead, one with the action applied
through a zero-latency ``SimulatedActuator``, one without, and compared on usable CPU capacity,
pending tasks and the share of services violating their SLO. Nobody else acts in the forks (no
agents), so the difference is the action's own effect, not the agents' reactions to it. A fork
is cheap (milliseconds); running ahead costs one simulator step per tick.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from autoinfra.actuators.simulated import SimulatedActuator
from autoinfra.core.actions import Action
from autoinfra.core.observation import MachineState, Observation

__all__ = ["what_if"]


def _measure(obs: Observation) -> dict[str, float]:
    usable = (obs.machine_state == MachineState.ON) & obs.schedulable
    n_services = int(obs.service_ids.shape[0])
    short = obs.service_running < obs.service_replicas
    return {
        "usable_cpu": round(float(obs.cpu_capacity[usable].sum()), 4),
        "pending_tasks": float(obs.pending_tasks),
        "slo_violating_share": round(float(short.sum()) / n_services, 4) if n_services else 0.0,
        "cpu_utilization": round(obs.cpu_utilization(), 4),
        "power_w": round(float(obs.power_w), 1),
    }


def what_if(sim: Any, action: Action, *, horizon_s: float = 300.0) -> dict[str, Any]:
    """Predicted effect of ``action`` on ``sim`` ``horizon_s`` ahead (``sim`` is not touched)."""
    with_action, without = sim.fork(), sim.fork()
    actuator = SimulatedActuator(with_action, latency_s=0.0)
    actuator.submit("what-if", action)
    until = float(sim.now_s) + horizon_s
    applied = None
    for world in (with_action, without):
        while world.now_s + 1e-9 < until and not world.done:
            world.step()
            if world is with_action:
                for outcome in actuator.poll():
                    applied = outcome
    after, base = _measure(with_action.observe()), _measure(without.observe())
    delta = {k: round(after[k] - base[k], 4) for k in after}
    return {
        "horizon_s": horizon_s,
        "from_s": float(sim.now_s),
        "with_action": after,
        "without_action": base,
        "delta": delta,
        "action_outcome": None
        if applied is None
        else {"succeeded": applied.succeeded, "detail": applied.detail},
        "note": "forks of the simulated world with no agents acting; the difference is the "
        "action's own predicted effect",
        "finite": bool(np.isfinite(list(delta.values())).all()),
    }
