"""Reading and validating fault scenarios (YAML or JSON files, or built-in names).

Validation is strict on purpose: an unknown key or a field that does not apply to the fault's kind
is an error, because a typo in a scenario file (``durtion_s``) would otherwise silently change an
experiment. Every error is a ``ConfigError`` naming the file and the dotted field, e.g.
``faults[2].at_s``, and saying what was expected.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from autoinfra.core.errors import ConfigError
from autoinfra.faults.spec import (
    DEFAULTS,
    STRENGTH_FIELDS,
    TARGET_KIND,
    FaultKind,
    FaultScenario,
    FaultSpec,
)

_SCENARIO_PACKAGE = "autoinfra.faults.scenarios"
_TOP_KEYS = frozenset({"name", "description", "faults"})
_FAULT_KEYS = frozenset({"kind", "at_s", "target", "duration_s", *STRENGTH_FIELDS})


def builtin_scenarios() -> list[str]:
    """Names of the scenarios shipped with autoinfra (files in ``faults/scenarios/``)."""
    root = resources.files(_SCENARIO_PACKAGE)
    return sorted(
        entry.name.removesuffix(".yaml") for entry in root.iterdir() if entry.name.endswith(".yaml")
    )


def load_scenario(path_or_name: str | Path) -> FaultScenario:
    """Load a scenario from a YAML/JSON file, or a built-in one by name (see ``builtin_scenarios``).

    A path that exists wins over a built-in of the same name.
    """
    path = Path(path_or_name)
    if path.is_file():
        return _load_file(path)
    name = str(path_or_name)
    if name in builtin_scenarios():
        entry = resources.files(_SCENARIO_PACKAGE).joinpath(f"{name}.yaml")
        return _parse_text(entry.read_text(encoding="utf-8"), source=f"builtin:{name}", fmt="yaml")
    raise ConfigError(
        f"no scenario file {name!r} and no built-in of that name; built-ins are "
        f"{', '.join(builtin_scenarios())}",
        source=name,
    )


def _load_file(path: Path) -> FaultScenario:
    suffix = path.suffix.lower()
    if suffix not in {".yaml", ".yml", ".json"}:
        raise ConfigError(
            f"unsupported scenario format {suffix!r}; expected .yaml, .yml or .json",
            source=str(path),
        )
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read scenario file: {exc}", source=str(path)) from exc
    return _parse_text(text, source=str(path), fmt="json" if suffix == ".json" else "yaml")


def _parse_text(text: str, *, source: str, fmt: str) -> FaultScenario:
    try:
        data = json.loads(text) if fmt == "json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"not valid {fmt.upper()}: {exc}", source=source) from exc
    default_name = Path(source.removeprefix("builtin:")).stem
    return scenario_from_dict(data, source=source, default_name=default_name)


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
    unknown = sorted(set(map(str, data)) - _TOP_KEYS)
    if unknown:
        raise ConfigError(
            f"unknown key(s) {unknown}; expected {sorted(_TOP_KEYS)}",
            source=source,
            field=unknown[0],
        )
    name = data.get("name", default_name)
    if not isinstance(name, str) or not name:
        raise ConfigError("expected a non-empty string", source=source, field="name")
    description = data.get("description", "")
    if not isinstance(description, str):
        raise ConfigError("expected a string", source=source, field="description")
    raw_faults = data.get("faults", [])
    if raw_faults is None:
        raw_faults = []
    if not isinstance(raw_faults, list):
        raise ConfigError(
            f"expected a list of faults, got {type(raw_faults).__name__}",
            source=source,
            field="faults",
        )
    faults = [
        _fault(item, source=source, where=f"faults[{i}]") for i, item in enumerate(raw_faults)
    ]
    faults.sort(key=lambda f: f.at_s)  # stable: equal times keep the file's order
    return FaultScenario(name=name, faults=tuple(faults), source=source, description=description)


def _fault(item: Any, *, source: str, where: str) -> FaultSpec:
    if not isinstance(item, Mapping):
        raise ConfigError(
            f"expected a mapping with at least 'kind' and 'at_s', got {type(item).__name__}",
            source=source,
            field=where,
        )
    unknown = sorted(set(map(str, item)) - _FAULT_KEYS)
    if unknown:
        raise ConfigError(
            f"unknown key {unknown[0]!r}; expected some of {sorted(_FAULT_KEYS)}",
            source=source,
            field=f"{where}.{unknown[0]}",
        )
    raw_kind = item.get("kind")
    try:
        kind = FaultKind(str(raw_kind))
    except ValueError:
        raise ConfigError(
            f"unknown fault kind {raw_kind!r}; expected one of {[k.value for k in FaultKind]}",
            source=source,
            field=f"{where}.kind",
        ) from None
    if "at_s" not in item:
        raise ConfigError(
            "missing; expected seconds from the run's start", source=source, field=f"{where}.at_s"
        )
    at_s = _number(item["at_s"], source=source, field=f"{where}.at_s", minimum=0.0)
    duration = item.get("duration_s")
    duration_s = None
    if duration is not None:
        duration_s = _number(duration, source=source, field=f"{where}.duration_s", minimum=0.0)
        if duration_s <= 0:
            raise ConfigError(
                "expected a positive number of seconds or null (until mitigated)",
                source=source,
                field=f"{where}.duration_s",
            )
    target = _target(item.get("target", "random"), kind, source=source, field=f"{where}.target")
    strengths = dict(DEFAULTS[kind])
    for key in STRENGTH_FIELDS:
        if key not in item:
            continue
        if key not in DEFAULTS[kind]:
            takes = sorted(DEFAULTS[kind]) or "no strength field"
            raise ConfigError(
                f"does not apply to {kind.value}; it takes {takes}",
                source=source,
                field=f"{where}.{key}",
            )
        strengths[key] = _number(item[key], source=source, field=f"{where}.{key}", minimum=0.0)
    if "cpu_share" in strengths and strengths["cpu_share"] <= 0:
        raise ConfigError(
            "expected a share of the machine's CPU above 0 (1.0 = a whole machine)",
            source=source,
            field=f"{where}.cpu_share",
        )
    if "load" in strengths and strengths["load"] <= 0:
        raise ConfigError(
            "expected a background load above 0 (1.0 = the link's capacity)",
            source=source,
            field=f"{where}.load",
        )
    return FaultSpec(kind=kind, at_s=at_s, target=target, duration_s=duration_s, **strengths)


def _number(value: Any, *, source: str, field: str, minimum: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"expected a number, got {value!r}", source=source, field=field)
    out = float(value)
    if not math.isfinite(out) or out < minimum:
        raise ConfigError(
            f"expected a finite number >= {minimum:g}, got {value!r}", source=source, field=field
        )
    return out


def _target(value: Any, kind: FaultKind, *, source: str, field: str) -> str:
    want = TARGET_KIND[kind]
    expected = f"'random' or '{want}:<index>' for {kind.value}"
    if value == "random":
        return "random"
    if not isinstance(value, str) or ":" not in value:
        raise ConfigError(f"expected {expected}, got {value!r}", source=source, field=field)
    prefix, _, index = value.partition(":")
    if prefix != want or not index.isdigit():
        raise ConfigError(f"expected {expected}, got {value!r}", source=source, field=field)
    return f"{want}:{int(index)}"
