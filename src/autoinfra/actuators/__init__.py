"""Actuators: the executor's hands. Each is idempotent by request id and reports outcomes through
``poll``; ``SimulatedActuator`` acts on the simulator, ``BackendActuator`` on any
``core.cluster`` backend, ``DryRunActuator`` only records.
"""

from autoinfra.actuators.backend import BackendActuator, actuator_for
from autoinfra.actuators.dryrun import DryRunActuator
from autoinfra.actuators.simulated import SimBackend, SimulatedActuator

__all__ = [
    "BackendActuator",
    "DryRunActuator",
    "SimBackend",
    "SimulatedActuator",
    "actuator_for",
]
