"""Reading and validating fault scenarios (YAML or JSON files, and the shipped ones).

Resolving a name or a path to a scenario is ``faults.registry.load_scenario``.

Validation is strict on purpose: an unknown key or a field that does not apply to the fault's kind
is an error, because a typo in a scenario file (``durtion_s``) would otherwise silently change an
experiment. Files are read by :mod:`autoinfra.core.documents` (size, depth and alias limits,
duplicate keys refused) and validated by the pydantic models below, one per fault kind, with
extra keys forbidden and every number bounded. Every error is a ``ConfigError`` naming the file
and the dotted field, e.g. ``faults[2].at_s``, and saying what was expected.

Bounds, and why: times and durations at most ``MAX_SCENARIO_S`` (31 days: the Google 2011 trace
spans 29, so no run is longer); ``cpu_share`` at most 16 machines' worth (a hog above 1.0 only
saturates its machine, so more is a typo); ``load`` at most 100 link capacities; ``egress_mbps``
at most 1,000,000 (1 Tbit/s, far above any machine's link); target indices below 1,000,000
(the cell has about 12,500 machines); at most ``MAX_FAULTS`` faults in one scenario.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib import resources
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from autoinfra.core.documents import echo, parse_document, validation_error
from autoinfra.core.errors import ConfigError
from autoinfra.faults.spec import DEFAULTS, TARGET_KIND, FaultKind, FaultScenario, FaultSpec

_SCENARIO_PACKAGE = "autoinfra.faults.scenarios"
MAX_SCENARIO_S = 31 * 86_400.0
MAX_FAULTS = 10_000
MAX_TARGET_INDEX = 999_999
_KIND_TAGS = frozenset(k.value for k in FaultKind)

# strict: not a bool, not "1.5" (a quoted number is a typo worth a word); ints are accepted
Seconds = Annotated[float, Field(strict=True, ge=0, le=MAX_SCENARIO_S, allow_inf_nan=False)]
Duration = Annotated[float, Field(strict=True, gt=0, le=MAX_SCENARIO_S, allow_inf_nan=False)]
CpuShare = Annotated[float, Field(strict=True, gt=0, le=16, allow_inf_nan=False)]
LinkLoad = Annotated[float, Field(strict=True, gt=0, le=100, allow_inf_nan=False)]
Egress = Annotated[float, Field(strict=True, ge=0, le=1_000_000, allow_inf_nan=False)]


def _target_of(want: str) -> AfterValidator:
    def check(value: str) -> str:
        prefix, sep, index = value.partition(":")
        ok = value == "random" or (
            sep and prefix == want and index.isascii() and index.isdigit()
            and int(index) <= MAX_TARGET_INDEX
        )  # fmt: skip
        if not ok:
            raise ValueError(
                f"expected 'random' or '{want}:<index>' (index <= {MAX_TARGET_INDEX}), "
                f"got {echo(value)}"
            )
        return value

    return AfterValidator(check)


_Target = Annotated[str, Field(strict=True, max_length=64)]
MachineTarget = Annotated[_Target, _target_of("machine")]
LinkTarget = Annotated[_Target, _target_of("link")]


class _Fault(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    at_s: Seconds | None = None
    window_s: tuple[Seconds, Seconds | None] | None = None
    count: Annotated[int, Field(strict=True, ge=1, le=MAX_FAULTS)] = 1
    duration_s: Duration | None = None

    @model_validator(mode="after")
    def _when(self) -> _Fault:
        # exactly one way of saying when: a fixed time, or a window the times are drawn in
        if (self.at_s is None) == (self.window_s is None):
            raise ValueError("give either at_s (a fixed time) or window_s ([start_s, end_s])")
        if self.window_s is not None:
            lo, hi = self.window_s
            if hi is not None and hi < lo:
                raise ValueError(f"window_s ends ({hi:g} s) before it starts ({lo:g} s)")
        target = getattr(self, "target", "random")
        if self.count > 1 and target != "random":
            raise ValueError(f"count {self.count} needs target 'random' (got {target!r})")
        return self


class _NodeFailure(_Fault):
    kind: Literal["node_failure"]
    target: MachineTarget = "random"


class _CpuHog(_Fault):
    kind: Literal["cpu_hog"]
    target: MachineTarget = "random"
    cpu_share: CpuShare = DEFAULTS[FaultKind.CPU_HOG]["cpu_share"]


class _Congestion(_Fault):
    kind: Literal["network_congestion"]
    target: LinkTarget = "random"
    load: LinkLoad = DEFAULTS[FaultKind.NETWORK_CONGESTION]["load"]


class _Intrusion(_Fault):
    kind: Literal["intrusion"]
    target: MachineTarget = "random"
    cpu_share: CpuShare = DEFAULTS[FaultKind.INTRUSION]["cpu_share"]
    egress_mbps: Egress = DEFAULTS[FaultKind.INTRUSION]["egress_mbps"]


_AnyFault = Annotated[
    _NodeFailure | _CpuHog | _Congestion | _Intrusion, Field(discriminator="kind")
]


class _Scenario(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    description: Annotated[str, Field(max_length=10_000)] = ""
    faults: Annotated[list[_AnyFault], Field(max_length=MAX_FAULTS)] | None = None


def builtin_scenarios() -> list[str]:
    """Names of the scenarios shipped with autoinfra (files in ``faults/scenarios/``)."""
    root = resources.files(_SCENARIO_PACKAGE)
    return sorted(
        entry.name.removesuffix(".yaml") for entry in root.iterdir() if entry.name.endswith(".yaml")
    )


def builtin_scenario(name: str) -> FaultScenario:
    """The shipped scenario file ``name`` (the entry point of ``faults.registry.SCENARIOS``)."""
    entry = resources.files(_SCENARIO_PACKAGE).joinpath(f"{name}.yaml")
    source = f"builtin:{name}"
    data = parse_document(entry.read_bytes(), source=source, fmt="yaml")
    return scenario_from_dict(data, source=source, default_name=name)


def scenario_from_dict(
    data: Any, *, source: str = "<dict>", default_name: str = "scenario"
) -> FaultScenario:
    """Validate a parsed scenario (a mapping with ``name`` and ``faults``) into a FaultScenario."""
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigError(
            f"a scenario must be a mapping with 'name' and 'faults', got {type(data).__name__}",
            source=source,
        )
    _check_fault_kinds(data.get("faults"), source)
    try:
        model = _Scenario.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc, source=source, skip=_KIND_TAGS) from None
    faults = [_spec(f) for f in model.faults or []]
    total = sum(f.count for f in faults)
    if total > MAX_FAULTS:
        raise ConfigError(
            f"the counts add up to {total} faults; at most {MAX_FAULTS}",
            source=source,
            field="faults",
        )
    faults.sort(key=lambda f: f.at_s)  # stable: equal times keep the file's order
    return FaultScenario(
        name=model.name if model.name is not None else default_name,
        faults=tuple(faults),
        source=source,
        description=model.description,
    )


def _check_fault_kinds(raw: Any, source: str) -> None:
    """Say which fields a kind takes when a file gives it one of another kind's strengths.

    The models would say "unknown key" alone; a strength of the wrong kind is a common slip
    (``load`` on a cpu_hog) and deserves the list of what that kind takes.
    """
    if not isinstance(raw, list):
        return
    strengths = {"cpu_share", "egress_mbps", "load"}
    for i, item in enumerate(raw[:MAX_FAULTS]):
        if not isinstance(item, Mapping) or not isinstance(item.get("kind"), str):
            continue
        if item["kind"] not in _KIND_TAGS:
            continue
        kind = FaultKind(item["kind"])
        for key in sorted(strengths & set(map(str, item)) - set(DEFAULTS[kind])):
            takes = sorted(DEFAULTS[kind]) or "no strength field"
            raise ConfigError(
                f"does not apply to {kind.value}; it takes {takes}",
                source=source,
                field=f"faults[{i}].{key}",
            )


def _spec(model: _NodeFailure | _CpuHog | _Congestion | _Intrusion) -> FaultSpec:
    kind = FaultKind(model.kind)
    strengths = {name: float(getattr(model, name)) for name in DEFAULTS[kind]}
    target = model.target
    if target != "random":
        prefix, _, index = target.partition(":")
        assert prefix == TARGET_KIND[kind]  # the model's pattern says so
        target = f"{prefix}:{int(index)}"
    window: tuple[float, float | None] | None = None
    if model.window_s is not None:
        lo, hi = model.window_s
        window = (float(lo), None if hi is None else float(hi))
    return FaultSpec(
        kind=kind,
        # a drawn time is no earlier than its window's start; sorting by at_s keeps that order
        at_s=float(model.at_s) if model.at_s is not None else window[0] if window else 0.0,
        target=target,
        duration_s=None if model.duration_s is None else float(model.duration_s),
        count=int(model.count),
        window_s=window,
        **strengths,
    )
