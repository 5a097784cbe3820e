"""The experiment as data: which systems, fault scenarios, seeds, on which slice of which trace.

An ``ExperimentSpec`` is built from the command line or from a YAML/JSON file with the same keys,
validated with errors that name the file and the field, and expanded into ``RunSpec`` rows (one
per system x scenario x seed), like a parameter grid in Mesa's ``batch_run``. A ``RunSpec`` is
plain picklable data: it is what a worker process or a Ray task receives.

Scales (how big the simulated cluster is and how long it runs):

- ``quick``: 40 machines, 30 min, 1 seed: a smoke test of the whole study in about a minute.
- ``default``: 300 machines, 1 h, 5 seeds: the study, in under 10 minutes on 2 cores (about
  2.5 minutes measured for 3 seeds on a shared 2-core machine, so about 4 for 5).
- ``paper``: the paper's 10 nodes (section 6.4.1: "a 10-node cluster with 64 CPU cores and 256 GB
  of RAM"), 1 h, 3 seeds; the report maps the slice's normalised capacities onto 64 cores and
  256 GB (one normalised CPU unit = 64 / the slice's total CPU capacity cores).
- ``cell``: the whole cell of the trace (about 12.5k machines), 1 h, 1 seed.

The cluster slice is drawn from the cell by ``autoinfra.traces.sample_cell`` with the run's seed:
that many machines uniformly at random, and each task with probability machines / cell size.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from autoinfra.core.errors import ConfigError


@dataclass(frozen=True, slots=True)
class Scale:
    name: str
    machines: int | None  # None: the whole cell
    window_s: float  # length of the evaluated window
    seeds: tuple[int, ...]
    description: str


SCALES: dict[str, Scale] = {
    "quick": Scale("quick", 40, 1800.0, (0,), "40 machines sampled from the cell, 30 min"),
    "default": Scale(
        "default", 300, 3600.0, (0, 1, 2, 3, 4), "300 machines sampled from the cell, 1 h"
    ),
    "paper": Scale("paper", 10, 3600.0, (0, 1, 2), "the paper's 10 nodes (64 cores, 256 GB), 1 h"),
    "cell": Scale("cell", None, 3600.0, (0,), "the whole cell, 1 h"),
}
DEFAULT_SYSTEMS: tuple[str, ...] = ("agents", "kubernetes-defaults", "human", "noop")
DEFAULT_FAULTS: tuple[str, ...] = ("none", "node-failure", "cpu-hog", "network-congestion", "storm")
EXECUTORS: tuple[str, ...] = ("local", "ray")
# the paper's cluster (section 6.4.1), for mapping normalised capacities in the report
PAPER_CORES = 64
PAPER_MEM_GB = 256


@dataclass(frozen=True, slots=True)
class ExperimentSpec:
    """Everything that decides the numbers of a study (the output folder does not)."""

    systems: tuple[str, ...] = DEFAULT_SYSTEMS
    faults: tuple[str, ...] = DEFAULT_FAULTS
    seeds: tuple[int, ...] = SCALES["default"].seeds
    scale: Scale = SCALES["default"]
    trace_dir: Path | None = None  # None: the shipped Google 2011 slice
    train_fraction: float = 0.5  # share of the trace's span used for training (the start)
    tick_s: float = 5.0  # the simulator's tick; Kubernetes' 5/10/15 s periods are multiples
    record_every_s: float = 30.0  # per-tick table resolution
    executor: str = "local"
    jobs: int = 2
    ray_address: str | None = None
    system_params: dict[str, dict[str, Any]] = field(default_factory=dict)
    train_episodes: int | None = None  # None: the learning package's default

    def runs(self) -> list[RunSpec]:
        return [
            RunSpec(system=s, scenario=f, seed=seed)
            for seed in self.seeds
            for f in self.faults
            for s in self.systems
        ]


@dataclass(frozen=True, slots=True)
class RunSpec:
    """One cell of the grid."""

    system: str
    scenario: str
    seed: int

    @property
    def run_id(self) -> str:
        scenario = Path(self.scenario).stem if ("/" in self.scenario) else self.scenario
        return f"{self.system}__{scenario}__seed{self.seed}"


_KEYS = {
    "systems",
    "faults",
    "seeds",
    "scale",
    "machines",
    "window_s",
    "trace",
    "train_fraction",
    "tick_s",
    "record_every_s",
    "executor",
    "jobs",
    "ray_address",
    "system_params",
    "train_episodes",
}


def build_spec(
    data: Mapping[str, Any], *, known_systems: Sequence[str], source: str = "<options>"
) -> ExperimentSpec:
    """Validate a mapping of options (CLI or file) into a spec; errors name source and field."""
    unknown = sorted(set(data) - _KEYS)
    if unknown:
        raise ConfigError(
            f"unknown key; expected one of {sorted(_KEYS)}", source=source, field=unknown[0]
        )
    scale_name = str(data.get("scale") or "default")
    if scale_name not in SCALES:
        raise ConfigError(
            f"unknown scale {scale_name!r}; expected one of {sorted(SCALES)}",
            source=source,
            field="scale",
        )
    scale = SCALES[scale_name]
    if data.get("machines") is not None:
        scale = replace(
            scale,
            machines=_positive_int(data["machines"], source, "machines"),
            name=f"{scale.name}-custom",
        )
    if data.get("window_s") is not None:
        scale = replace(scale, window_s=_positive_float(data["window_s"], source, "window_s"))
    systems = _names(data.get("systems"), DEFAULT_SYSTEMS, source, "systems")
    for i, name in enumerate(systems):
        if name not in known_systems:
            raise ConfigError(
                f"unknown system {name!r}; expected one of {sorted(known_systems)}",
                source=source,
                field=f"systems[{i}]",
            )
    faults = _names(data.get("faults"), DEFAULT_FAULTS, source, "faults")
    seeds_raw = data.get("seeds")
    seeds = scale.seeds if seeds_raw is None else _seeds(seeds_raw, source)
    fraction = float(data.get("train_fraction", 0.5))
    if not 0.0 < fraction < 1.0:
        raise ConfigError(
            f"must be in (0, 1), got {fraction}", source=source, field="train_fraction"
        )
    executor = str(data.get("executor") or "local")
    if executor not in EXECUTORS:
        raise ConfigError(
            f"unknown executor {executor!r}; expected one of {list(EXECUTORS)}",
            source=source,
            field="executor",
        )
    params = data.get("system_params") or {}
    if not isinstance(params, Mapping) or not all(isinstance(v, Mapping) for v in params.values()):
        raise ConfigError(
            "expected a mapping of system name -> mapping of parameters",
            source=source,
            field="system_params",
        )
    trace = data.get("trace")
    episodes = data.get("train_episodes")
    return ExperimentSpec(
        systems=systems,
        faults=faults,
        seeds=seeds,
        scale=scale,
        trace_dir=Path(trace) if trace else None,
        train_fraction=fraction,
        tick_s=_positive_float(data.get("tick_s", 5.0), source, "tick_s"),
        record_every_s=_positive_float(data.get("record_every_s", 30.0), source, "record_every_s"),
        executor=executor,
        jobs=_positive_int(data.get("jobs", 2), source, "jobs"),
        ray_address=str(data["ray_address"]) if data.get("ray_address") else None,
        system_params={str(k): dict(v) for k, v in params.items()},
        train_episodes=None
        if episodes is None
        else _positive_int(episodes, source, "train_episodes"),
    )


def load_spec_file(path: Path) -> dict[str, Any]:
    """Read a YAML or JSON spec file into a mapping (validated later by :func:`build_spec`)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read spec file: {exc.strerror}", source=str(path)) from exc
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"not valid {path.suffix.lstrip('.') or 'YAML'}: {exc}",
                          source=str(path)) from exc  # fmt: skip
    if not isinstance(data, dict):
        raise ConfigError("expected a mapping of options at the top level", source=str(path))
    return data


def _names(value: Any, default: tuple[str, ...], source: str, name: str) -> tuple[str, ...]:
    if value is None:
        return default
    items = [v.strip() for v in value.split(",")] if isinstance(value, str) else list(value)
    if not items or not all(isinstance(v, str) and v for v in items):
        raise ConfigError("expected a non-empty list of names", source=source, field=name)
    if len(set(items)) != len(items):
        raise ConfigError("names repeat", source=source, field=name)
    return tuple(items)


def _seeds(value: Any, source: str) -> tuple[int, ...]:
    if isinstance(value, int) and not isinstance(value, bool):
        return tuple(range(value)) if value > 0 else _bad_seeds(source)
    items = [v.strip() for v in value.split(",")] if isinstance(value, str) else list(value)
    try:
        seeds = tuple(int(v) for v in items)
    except (TypeError, ValueError):
        return _bad_seeds(source)
    if not seeds or any(s < 0 for s in seeds) or len(set(seeds)) != len(seeds):
        return _bad_seeds(source)
    return seeds


def _bad_seeds(source: str) -> tuple[int, ...]:
    raise ConfigError(
        "expected distinct non-negative integers (a list) or a count", source=source, field="seeds"
    )


def _positive_int(value: Any, source: str, name: str) -> int:
    try:
        out = int(value)
    except (TypeError, ValueError):
        out = 0
    if out <= 0 or isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        raise ConfigError(f"expected a positive integer, got {value!r}", source=source, field=name)
    return out


def _positive_float(value: Any, source: str, name: str) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        out = 0.0
    if not out > 0 or isinstance(value, bool):
        raise ConfigError(f"expected a positive number, got {value!r}", source=source, field=name)
    return out
