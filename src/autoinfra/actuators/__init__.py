"""Actuators: the executor's hands. Each is idempotent by request id and reports outcomes through
``poll``; ``SimulatedActuator`` acts on the simulator, ``DryRunActuator`` only records.
"""

from autoinfra.actuators.dryrun import DryRunActuator
from autoinfra.actuators.simulated import SimBackend, SimulatedActuator

__all__ = ["DryRunActuator", "SimBackend", "SimulatedActuator"]
