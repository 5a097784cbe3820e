"""What an agent may ask the cluster to do: a closed set of frozen dataclasses with units in names.

Each action names one target so that scopes (which machines or services an identity may touch),
conflicts between agents (two actions on one machine) and fault timelines (which action mitigated
which fault) can all be worked out from ``target``. ``kind`` is the stable name used in audit
records, Parquet output and registries.

The set is **closed**, because everything downstream trusts ``kind``: the scope check of
``security.identity``, the risk and blast-radius guards of ``oversight`` and the actuators' dispatch
must all agree on what an action is. A policy that could subclass ``DrainMachine`` and label it
``scale_service`` would pass a scaler's scope and the low risk of a scaling step while the actuator
drained a machine. So:

- the nine classes below are final: defining a subclass of any of them (or of ``Action``) raises
  ``TypeError`` once this module has been imported;
- ``kind``, ``target_kind`` and ``target_field`` are class constants that cannot be set on an
  instance (frozen, not fields) nor on the class (the metaclass refuses once the set is sealed);
- ``ACTION_TYPES`` maps each exact class to its kind, and :func:`kind_of` reads it by
  ``type(action)``, never by ``isinstance``;
- fields are checked on construction (:class:`InvalidAction`, naming the field): slots and replica
  deltas are integers, never ``bool``, floats, ``None`` or NaN; slots are non-negative; ``on`` is a
  bool; requests are finite floats in (0, 1] (never ``bool`` or NaN). NumPy integers are
  accepted and stored as ``int`` (policies index arrays);
- :func:`rebuild` re-checks an action a policy handed over and returns a fresh copy nobody else
  holds, so a value forced in with ``object.__setattr__`` after construction is caught, and the
  object the runtime admits cannot be changed behind its back.

This cannot stop code that runs in the same process from patching the interpreter itself (that
is what a process boundary is for); it stops a buggy or hostile policy that uses the ordinary API.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from types import MappingProxyType
from typing import Any, ClassVar, cast

import numpy as np

from autoinfra.core.errors import ActionError, ConfigError

__all__ = [
    "ACTION_KINDS",
    "ACTION_TYPES",
    "MAX_DELTA_REPLICAS",
    "MAX_REQUEST",
    "MAX_SLOT",
    "Action",
    "DrainMachine",
    "EvictTasks",
    "InvalidAction",
    "IsolateMachine",
    "KillProcess",
    "Reroute",
    "ResizeRequests",
    "RestoreRoutes",
    "ScaleService",
    "SetMachinePower",
    "action_from_dict",
    "action_to_dict",
    "kind_of",
    "rebuild",
]

# the simulator keeps slots and replica counts in int32 arrays; a slot past that is no slot, and a
# step of more than a million replicas is no scaling decision any policy of ours makes
MAX_SLOT = 2**31 - 1
MAX_DELTA_REPLICAS = 1_000_000
# requests are in the trace's normalised units (1.0 = the cell's largest machine): a replica asking
# for more than a whole machine of either resource could never be placed
MAX_REQUEST = 1.0

_sealed = False  # set at the end of this module: from then on the set is closed


class InvalidAction(ActionError, ValueError):
    """An action's field has the wrong type or an impossible value (the message names the field).

    Also a ``ValueError``, so generic decoders that catch bad values catch this one too.
    """


class _Final(type):
    """Metaclass of the actions: once the set is sealed, no class attribute may change."""

    def __setattr__(cls, name: str, value: Any) -> None:
        if _sealed:
            raise TypeError(f"{cls.__name__}.{name}: action classes are final and read-only")
        super().__setattr__(name, value)

    def __delattr__(cls, name: str) -> None:
        if _sealed:
            raise TypeError(f"{cls.__name__}.{name}: action classes are final and read-only")
        super().__delattr__(name)


@dataclass(frozen=True, slots=True, kw_only=True)
class Action(metaclass=_Final):
    """Base of all actions; not an action itself (the eight classes below are the whole set).

    ``target`` is ``"machine:<slot>"``, ``"service:<idx>"`` or ``"rack:<idx>"``.
    """

    kind: ClassVar[str] = "action"
    # which field names the target, and what kind of thing it is ("machine", "service", "rack")
    target_field: ClassVar[str] = ""
    target_kind: ClassVar[str] = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        if _sealed:
            raise TypeError(
                f"{cls.__qualname__}: the action set is closed; subclassing "
                f"{cls.__mro__[1].__name__} is not allowed (use one of "
                f"{sorted(ACTION_KINDS)} as it is)"
            )
        # no super() call: dataclass(slots=True) re-creates the class, which leaves zero-argument
        # super() pointing at the discarded one; object.__init_subclass__ does nothing anyway

    def __post_init__(self) -> None:
        spec = _SPEC.get(type(self))
        if spec is None:
            raise InvalidAction(f"{type(self).__name__} is not one of the closed action classes")
        for name, check in spec:
            value = getattr(self, name)
            if type(value) is not check.python_type:  # fast path: a plain int or bool is checked
                value = check.coerce(self, name, value)  # and kept; others are converted once
                object.__setattr__(self, name, value)
            check.bounds(self, name, value)

    @property
    def target(self) -> str:
        return f"{self.target_kind}:{getattr(self, self.target_field)}"


class _Check:
    """How one field is checked: its Python type, how other inputs are converted, its bounds."""

    python_type: type = int
    expected = "an integer"

    def coerce(self, action: Action, name: str, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise _invalid(action, name, self.expected, value)
        return int(value)

    def bounds(self, action: Action, name: str, value: Any) -> None:
        return None


class _Slot(_Check):
    expected = f"a non-negative integer index (at most {MAX_SLOT})"

    def bounds(self, action: Action, name: str, value: Any) -> None:
        if not 0 <= value <= MAX_SLOT:
            raise _invalid(action, name, self.expected, value)


class _Delta(_Check):
    expected = f"an integer replica change in [-{MAX_DELTA_REPLICAS}, {MAX_DELTA_REPLICAS}]"

    def bounds(self, action: Action, name: str, value: Any) -> None:
        if not -MAX_DELTA_REPLICAS <= value <= MAX_DELTA_REPLICAS:
            raise _invalid(action, name, self.expected, value)


class _Request(_Check):
    python_type = float
    expected = f"a finite request in (0, {MAX_REQUEST:g}] (normalised units)"

    def coerce(self, action: Action, name: str, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise _invalid(action, name, self.expected, value)
        return float(value)

    def bounds(self, action: Action, name: str, value: Any) -> None:
        if not (math.isfinite(value) and 0.0 < value <= MAX_REQUEST):  # NaN fails this too
            raise _invalid(action, name, self.expected, value)


class _Flag(_Check):
    python_type = bool
    expected = "a bool (True or False)"

    def coerce(self, action: Action, name: str, value: Any) -> Any:
        # NumPy's bool_ is not a Python bool, and 0/1 are not flags: only real booleans pass
        if isinstance(value, np.bool_):
            return bool(value)
        raise _invalid(action, name, self.expected, value)


def _invalid(action: Action, name: str, expected: str, value: Any) -> InvalidAction:
    return InvalidAction(f"{type(action).__name__}.{name}: expected {expected}, got {_show(value)}")


def _show(value: Any) -> str:
    # a hostile value's __repr__ may raise or run long: fall back to its type, and cut it short
    try:
        text = repr(value)
    except Exception:  # any failure of a foreign __repr__ is reported the same way
        text = f"<{type(value).__name__}>"
    if isinstance(value, float) and math.isnan(value):
        text = "NaN"
    text = text if len(text) <= 80 else text[:77] + "..."
    return f"{text} ({type(value).__name__})"


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


@dataclass(frozen=True, slots=True, kw_only=True)
class RestoreRoutes(Action):
    """Spread a rack's traffic equally over all its uplinks again (ECMP's split): undoes the
    rack's reroutes once the link they avoided is fit to carry its share."""

    kind: ClassVar[str] = "restore_routes"
    rack: int
    target_kind: ClassVar[str] = "rack"
    target_field: ClassVar[str] = "rack"


@dataclass(frozen=True, slots=True, kw_only=True)
class ResizeRequests(Action):
    """Set the CPU and memory request of every replica of a service (right-sizing).

    Requests are what placement reserves; a replica's limit follows its request, so usage above
    the new request is throttled (CPU) or killed (memory). Normalised units, as the trace's.
    """

    kind: ClassVar[str] = "resize_requests"
    service: int
    cpu_request: float
    mem_request: float
    target_kind: ClassVar[str] = "service"
    target_field: ClassVar[str] = "service"


_CLASSES: tuple[type[Action], ...] = (
    ScaleService,
    SetMachinePower,
    DrainMachine,
    EvictTasks,
    KillProcess,
    IsolateMachine,
    Reroute,
    ResizeRequests,
    RestoreRoutes,
)
_SLOT, _DELTA, _FLAG, _REQUEST = _Slot(), _Delta(), _Flag(), _Request()
_SPEC: dict[type[Action], tuple[tuple[str, _Check], ...]] = {
    ScaleService: (("service", _SLOT), ("delta_replicas", _DELTA)),
    SetMachinePower: (("machine", _SLOT), ("on", _FLAG)),
    DrainMachine: (("machine", _SLOT),),
    EvictTasks: (("machine", _SLOT),),
    KillProcess: (("machine", _SLOT),),
    IsolateMachine: (("machine", _SLOT),),
    Reroute: (("rack", _SLOT), ("away_from_link", _SLOT)),
    ResizeRequests: (("service", _SLOT), ("cpu_request", _REQUEST), ("mem_request", _REQUEST)),
    RestoreRoutes: (("rack", _SLOT),),
}

#: kind -> class, for decoding (audit records, approval files, the API)
ACTION_KINDS: Mapping[str, type[Action]] = MappingProxyType({cls.kind: cls for cls in _CLASSES})
#: exact class -> kind: the one mapping scope, risk and actuators agree on (``type(a) in``)
ACTION_TYPES: Mapping[type[Action], str] = MappingProxyType({cls: cls.kind for cls in _CLASSES})

_sealed = True  # the switch the metaclass and __init_subclass__ read


def kind_of(action: object) -> str:
    """The kind of ``action`` by its exact class; :class:`InvalidAction` for anything else."""
    kind = ACTION_TYPES.get(cast("type[Action]", type(action)))
    if kind is None:
        raise InvalidAction(
            f"{type(action).__name__} is not one of the closed action classes "
            f"{sorted(c.__name__ for c in _CLASSES)}"
        )
    return kind


def rebuild(action: object) -> Action:
    """A fresh, checked copy of ``action``: the exact class, every field valid, owned by the caller.

    Raises :class:`InvalidAction` naming the class or the field when ``action`` is not one of the
    closed classes, a field is unset (an object made without ``__init__``) or a value is wrong.
    """
    kind_of(action)
    cls = cast("type[Action]", type(action))
    values: dict[str, Any] = {}
    for name, _ in _SPEC[cls]:
        try:
            values[name] = object.__getattribute__(action, name)
        except AttributeError:
            raise InvalidAction(f"{cls.__name__}.{name}: not set") from None
    return cls(**values)


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
    except InvalidAction as exc:
        name = str(exc).split(":", 1)[0].rsplit(".", 1)[-1]
        raise ConfigError(f"bad fields for {kind}: {exc}", source=source, field=name) from exc
