"""What an agent may ask the cluster to do: frozen dataclasses, units in field names.

Each action names one target so that scopes (which machines or services an identity may touch),
conflicts between agents (two actions on one machine) and fault timelines (which action mitigated
which fault) can all be worked out from ``target``. ``kind`` is the stable name used in audit
records, Parquet output and registries.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, ClassVar

from autoinfra.core.errors import ConfigError


@dataclass(frozen=True, slots=True, kw_only=True)
class Action:
    """Base of all actions.

    ``target`` is ``"machine:<slot>"``, ``"service:<idx>"`` or ``"rack:<idx>"``.
    """

    kind: ClassVar[str] = "action"
    # which field names the target, and what kind of thing it is ("machine", "service", "rack")
    target_field: ClassVar[str] = ""
    target_kind: ClassVar[str] = ""

    @property
    def target(self) -> str:
        return f"{self.target_kind}:{getattr(self, self.target_field)}"


@dataclass(frozen=True, slots=True, kw_only=True)
class ScaleService(Action):
    """Change the replica count of a long-running service by ``delta_replicas`` (may be < 0)."""

    kind: ClassVar[str] = "scale_service"
    service: int
    delta_replicas: int
    target_kind: ClassVar[str] = "service"
    target_field: ClassVar[str] = "service"


@dataclass(frozen=True, slots=True, kw_only=True)
class SetMachinePower(Action):
    """Power a machine on (it boots, then becomes schedulable) or off (it must be empty)."""

    kind: ClassVar[str] = "set_machine_power"
    machine: int
    on: bool
    target_kind: ClassVar[str] = "machine"
    target_field: ClassVar[str] = "machine"


@dataclass(frozen=True, slots=True, kw_only=True)
class DrainMachine(Action):
    """Cordon a machine and move its tasks elsewhere (they are evicted and placed again)."""

    kind: ClassVar[str] = "drain_machine"
    machine: int
    target_kind: ClassVar[str] = "machine"
    target_field: ClassVar[str] = "machine"


@dataclass(frozen=True, slots=True, kw_only=True)
class EvictTasks(Action):
    """Declare a machine lost and resubmit the tasks stranded on it (node-lifecycle eviction)."""

    kind: ClassVar[str] = "evict_tasks"
    machine: int
    target_kind: ClassVar[str] = "machine"
    target_field: ClassVar[str] = "machine"


@dataclass(frozen=True, slots=True, kw_only=True)
class KillProcess(Action):
    """Stop the process on a machine that no task accounts for (a CPU hog)."""

    kind: ClassVar[str] = "kill_process"
    machine: int
    target_kind: ClassVar[str] = "machine"
    target_field: ClassVar[str] = "machine"


@dataclass(frozen=True, slots=True, kw_only=True)
class IsolateMachine(Action):
    """Quarantine a machine: cut its network, stop unknown processes, drain its tasks."""

    kind: ClassVar[str] = "isolate_machine"
    machine: int
    target_kind: ClassVar[str] = "machine"
    target_field: ClassVar[str] = "machine"


@dataclass(frozen=True, slots=True, kw_only=True)
class Reroute(Action):
    """Shift a rack's traffic off one of its uplinks onto the others."""

    kind: ClassVar[str] = "reroute"
    rack: int
    away_from_link: int
    target_kind: ClassVar[str] = "rack"
    target_field: ClassVar[str] = "rack"


ACTION_KINDS: dict[str, type[Action]] = {
    cls.kind: cls
    for cls in (
        ScaleService,
        SetMachinePower,
        DrainMachine,
        EvictTasks,
        KillProcess,
        IsolateMachine,
        Reroute,
    )
}


def action_to_dict(action: Action) -> dict[str, Any]:
    """A JSON-able form: ``{"kind": ..., <fields>}`` (audit records, Parquet, the API)."""
    return {"kind": action.kind, **asdict(action)}


def action_from_dict(data: dict[str, Any], *, source: str = "<dict>") -> Action:
    """Inverse of :func:`action_to_dict`, with errors that name the bad field."""
    kind = data.get("kind")
    cls = ACTION_KINDS.get(str(kind))
    if cls is None:
        raise ConfigError(
            f"unknown action kind {kind!r}; expected one of {sorted(ACTION_KINDS)}",
            source=source,
            field="kind",
        )
    fields = {k: v for k, v in data.items() if k != "kind"}
    try:
        return cls(**fields)
    except TypeError as exc:
        raise ConfigError(f"bad fields for {kind}: {exc}", source=source) from exc
