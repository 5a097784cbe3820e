"""Agents: the tick template, the runtime that drives agents on a clock through arbitration,
review and execution, the ``System`` an experiment compares, and the registry of systems.

The concrete agents (scaling, healing, energy, security) and the autonomous preset live in their
own modules and are imported on demand (``autoinfra.agents.presets``), so importing this package
stays cheap.
"""

from autoinfra.agents.base import Agent, AgentTickResult, OutcomeAware
from autoinfra.agents.registry import list_systems, make_system, register_system
from autoinfra.agents.runtime import INCIDENT_KINDS, Runtime, RuntimeSettings, RuntimeTick
from autoinfra.agents.system import System

__all__ = [
    "INCIDENT_KINDS",
    "Agent",
    "AgentTickResult",
    "OutcomeAware",
    "Runtime",
    "RuntimeSettings",
    "RuntimeTick",
    "System",
    "list_systems",
    "make_system",
    "register_system",
]
