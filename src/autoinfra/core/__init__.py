"""The vocabulary every layer speaks: errors, ids, clocks, observations, actions, proposals,
the action lifecycle and the seams (protocols) between the layers.

Nothing here imports another autoinfra package; everything else may import this.
"""

from autoinfra.core.actions import (
    Action,
    DrainMachine,
    EvictTasks,
    IsolateMachine,
    KillProcess,
    Reroute,
    ResizeRequests,
    RestoreRoutes,
    ScaleService,
    SetMachinePower,
    action_from_dict,
    action_to_dict,
)
from autoinfra.core.clock import Clock, SimClock, WallClock
from autoinfra.core.errors import (
    ActionError,
    AutoinfraError,
    ConfigError,
    IllegalTransition,
    PermissionDenied,
    SimulationError,
    TraceError,
)
from autoinfra.core.lifecycle import TRANSITIONS, ActionRecord, ActionStatus
from autoinfra.core.observation import MachineState, Observation
from autoinfra.core.proposal import Decision, Finding, Justification, Outcome, Proposal, Verdict

__all__ = [
    "TRANSITIONS",
    "Action",
    "ActionError",
    "ActionRecord",
    "ActionStatus",
    "AutoinfraError",
    "Clock",
    "ConfigError",
    "Decision",
    "DrainMachine",
    "EvictTasks",
    "Finding",
    "IllegalTransition",
    "IsolateMachine",
    "Justification",
    "KillProcess",
    "MachineState",
    "Observation",
    "Outcome",
    "PermissionDenied",
    "Proposal",
    "Reroute",
    "ResizeRequests",
    "RestoreRoutes",
    "ScaleService",
    "SetMachinePower",
    "SimClock",
    "SimulationError",
    "TraceError",
    "Verdict",
    "WallClock",
    "action_from_dict",
    "action_to_dict",
]
