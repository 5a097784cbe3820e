"""One tree of exceptions for the whole project, so callers can catch at the depth they mean.

    AutoinfraError                 anything autoinfra raises on purpose
    ├── ConfigError                a settings file, scenario or spec is wrong (names file and field)
    ├── TraceError                 trace input is wrong (names file, line and field)
    ├── SimulationError            the simulator was asked something impossible
    └── ActionError                an action cannot be carried out
        ├── IllegalTransition      an action's status cannot move that way
        └── PermissionDenied       an identity acted outside its role or scope

The command line turns any AutoinfraError into a one-line message and a non-zero exit code;
anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class AutoinfraError(Exception):
    """Base of every error autoinfra raises on purpose."""


class ConfigError(AutoinfraError):
    """A configuration, scenario or experiment spec is invalid.

    ``source`` names the file (or ``<dict>``), ``field`` the dotted path of the offending key.
    """

    def __init__(self, message: str, *, source: str | None = None, field: str | None = None):
        self.message = message  # without the location, so a caller can re-place it
        self.source = source
        self.field = field
        where = ", ".join(p for p in (source, f"field {field!r}" if field else None) if p)
        super().__init__(f"{where}: {message}" if where else message)


class TraceError(AutoinfraError):
    """A trace file is malformed. Names the file, the 1-based line and the field when known."""

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        line: int | None = None,
        field: str | None = None,
        kind: str = "invalid",
    ):
        self.path = path
        self.line = line
        self.field = field
        self.kind = kind
        parts = []
        if path is not None:
            parts.append(str(path))
        if line is not None:
            parts.append(f"line {line}")
        if field is not None:
            parts.append(f"field {field!r}")
        where = ", ".join(parts)
        super().__init__(f"{where}: {message}" if where else message)


class SimulationError(AutoinfraError):
    """The simulator was asked to do something its state does not allow."""


class ActionError(AutoinfraError):
    """An action cannot be carried out (unknown target, wrong state, backend refused)."""


class IllegalTransition(ActionError):
    """An action's status was asked to move along an edge the transition table does not have."""


class PermissionDenied(ActionError):
    """An identity tried to act outside its role or its scope."""
