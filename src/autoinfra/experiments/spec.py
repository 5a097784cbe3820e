"""The experiment as data: which systems, fault scenarios, seeds, on which slice of which trace.

An ``ExperimentSpec`` is built from the command line or from a YAML/JSON file with the same keys,
validated with errors that name the file and the field, and expanded into ``RunSpec`` rows (one
per system x scenario x seed), like a parameter grid in Mesa's ``batch_run``. A ``RunSpec`` is
plain picklable data: it is what a worker process or a Ray task receives.

Scales (how big the simulated cluster is and how long it runs):

- ``quick``: 40 machines, 30 min, 1 seed: a smoke test of the whole study (20 runs: 12.5 s
  measured on a shared 2-core machine at load average 1.2).
- ``default``: 300 machines, 1 h, 5 seeds: the study (100 runs: 1 min 38 s measured on the same
  machine at load average 1.1-1.7; 10 min 16 s at load average 14-20 before the simulator skipped
  quiet ticks).
- ``paper``: the paper's 10 nodes (section 6.4.1: "a 10-node cluster with 64 CPU cores and 256 GB
  of RAM"), 1 h, 3 seeds; the report maps the slice's normalised capacities onto 64 cores and
  256 GB (one normalised CPU unit = 64 / the slice's total CPU capacity cores).
- ``cell``: the whole cell of the trace window (12,495 machines in the shipped one), 1 h, 1 seed.

Every scale replays a burn-in (``DEFAULT_BURN_IN_S``, 1 h) before its measured window, and
each seed replays its own window of the evaluation part (``experiments.inputs``).

Spec files are read by :mod:`autoinfra.core.documents` (size, depth and alias limits, duplicate
keys refused) and validated by a pydantic model with unknown keys refused and every number
bounded (the bounds and why are beside ``MAX_SEEDS`` below); ``system_params`` must name known
systems and may hold only finite numbers. Errors name the file and the field.

The cluster slice is drawn from the cell by ``autoinfra.traces.sample_cell`` with the run's seed:
that many machines uniformly at random, and each task with probability machines / cell size.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, JsonValue, ValidationError

from autoinfra.core.documents import echo, load_document, validation_error
from autoinfra.core.errors import ConfigError


@dataclass(frozen=True, slots=True)
class Scale:
    name: str
    machines: int | None  # None: the whole cell
    window_s: float  # length of the evaluated window
    seeds: tuple[int, ...]
    description: str


def describe_scale(machines: int | None, window_s: float) -> str:
    """A scale in the report's words: how many machines and how long a measured window."""
    who = "the whole cell" if machines is None else f"{machines:,} machines sampled from the cell"
    if window_s % 3600 == 0:
        span = f"{window_s / 3600:g} h"
    elif window_s % 60 == 0:
        span = f"{window_s / 60:g} min"
    else:
        span = f"{window_s:g} s"
    return f"{who}, {span}"


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
# The start-up transient the metrics leave out (see ExperimentSpec.burn_in_s), replayed as a
# lead-in before each measured window: 1 h. Every run starts cold, all machines on and the
# window's running tasks placed at once; a cluster that ran all along is at its operating point.
# 15 min placed the initial backlog (about 1.27x the cell's CPU asks at a window's start,
# docs/architecture.md) and let every controller's stabilisation window (the HPA's 5 min) pass,
# but not power capacity down at the pace the gate allows (5 % of the cell per 10 min, half of
# it kept for repairs): measured on the shipped slice at the default scale, the machines the
# agents keep on still fell for 40-50 min after a cold start (300 -> about 200), while
# kubernetes-defaults' levelled off within 30 min (docs/evaluation.md, "Why an hour"). The
# length is set by those transients (machines on), not by any metric of the answer. A larger
# cell takes longer (the gate's budget, max(50 machines, 5 % of the cell) a window, is a smaller
# share of it): say --burn-in-s; the report warns when a system's machines in service start the
# measured window far from their mean over it (experiments.steadiness).
DEFAULT_BURN_IN_S = 3600.0
# the paper's cluster (section 6.4.1), for mapping normalised capacities in the report
PAPER_CORES = 64
PAPER_MEM_GB = 256


@dataclass(frozen=True, slots=True)
class ExperimentSpec:
    """Everything that decides the numbers of a study (the output folder does not).

    ``Spec``, not ``Settings``: this is the schema of an experiment spec *file*, a document a
    person writes; tunables classes are named ``...Settings``.
    """

    systems: tuple[str, ...] = DEFAULT_SYSTEMS
    faults: tuple[str, ...] = DEFAULT_FAULTS
    seeds: tuple[int, ...] = SCALES["default"].seeds
    scale: Scale = SCALES["default"]
    trace_dir: Path | None = None  # None: the shipped Google 2011 slice
    # trace seconds (start, end) the study reads, its history before start included; None: all
    trace_span: tuple[float, float] | None = None
    # mid-life data's missing running tasks: "stand-in" (traces.standins) or "none"
    silent_tasks: str = "stand-in"
    train_fraction: float = 0.5  # share of the trace's span used for training (the start)
    tick_s: float = 5.0  # the simulator's tick; Kubernetes' 5/10/15 s periods are multiples
    record_every_s: float = 30.0  # per-tick table resolution
    executor: str = "local"
    jobs: int = 2
    ray_address: str | None = None
    system_params: dict[str, dict[str, Any]] = field(default_factory=dict)
    train_episodes: int | None = None  # None: the learning package's default
    # simulated seconds replayed before measuring: the slice starts with an empty cluster and a
    # backlog, so its first minutes are a start-up transient no system is responsible for
    burn_in_s: float = DEFAULT_BURN_IN_S
    model: Path | None = None  # a model `autoinfra train` wrote; None: the study trains its own

    def runs(self) -> list[RunSpec]:
        return [
            RunSpec(system=s, scenario=f, seed=seed)
            for seed in self.seeds
            for f in self.faults
            for s in self.systems
        ]


@dataclass(frozen=True, slots=True)
class RunSpec:
    """One cell of the grid an experiment spec expands into (named with the spec it comes from)."""

    system: str
    scenario: str
    seed: int

    @property
    def run_id(self) -> str:
        scenario = Path(self.scenario).stem if ("/" in self.scenario) else self.scenario
        return f"{self.system}__{scenario}__seed{self.seed}"


# Bounds on every number a spec may carry, and why. A spec is typed by people and scripts; a
# value far outside these is a typo (``seeds: 10000000`` asked for ten million runs and hung).
MAX_SEEDS = 100  # seeds in one study: 5 is the default study, 100 already means 100x the runs
MAX_SEED = 2**32 - 1  # NumPy seeds; larger ones only alias smaller streams
MAX_MACHINES = 100_000  # a bound on typos; the study refuses more than the trace's cell has
MAX_WINDOW_S = 31 * 86_400.0  # the 2011 trace spans 29 days
MAX_TICK_S = 3_600.0
MAX_RECORD_EVERY_S = 86_400.0
MAX_JOBS = 256
# the same bound as autoinfra.learning.pipeline.MAX_EPISODES (not imported: it pulls the simulator)
MAX_TRAIN_EPISODES = 10_000
MAX_NAMES = 64  # systems or fault scenarios in one grid
MAX_TEXT = 4_096  # a path or a name


def _reject_bool(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError(f"expected a number, got {value!r}")
    return value


def _names_of(value: Any) -> tuple[str, ...]:
    items = [v.strip() for v in value.split(",")] if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not items:
        raise ValueError("expected a non-empty list of names")
    if len(items) > MAX_NAMES:
        raise ValueError(f"expected at most {MAX_NAMES} names, got {len(items)}")
    if not all(isinstance(v, str) and 0 < len(v) <= MAX_TEXT for v in items):
        raise ValueError("expected a non-empty list of names")
    if len(set(items)) != len(items):
        raise ValueError("names repeat")
    return tuple(items)


_SEEDS_EXPECTED = (
    f"expected distinct integers in [0, {MAX_SEED}] (a list, at most {MAX_SEEDS}) "
    f"or a count in [1, {MAX_SEEDS}]"
)


def _seeds_of(value: Any) -> tuple[int, ...]:
    if isinstance(value, int) and not isinstance(value, bool):
        if not 1 <= value <= MAX_SEEDS:
            raise ValueError(f"{_SEEDS_EXPECTED}, got {echo(value)}")
        return tuple(range(value))
    items = [v.strip() for v in value.split(",")] if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not 0 < len(items) <= MAX_SEEDS:
        raise ValueError(f"{_SEEDS_EXPECTED}, got {echo(value)}")
    seeds: list[int] = []
    for v in items:
        if isinstance(v, bool) or not isinstance(v, int | str):
            raise ValueError(f"{_SEEDS_EXPECTED}, got {echo(value)}")
        if isinstance(v, str) and not (v.isascii() and v.isdigit() and len(v) <= 10):
            raise ValueError(f"{_SEEDS_EXPECTED}, got {echo(value)}")
        seeds.append(int(v))
    if any(not 0 <= s <= MAX_SEED for s in seeds) or len(set(seeds)) != len(seeds):
        raise ValueError(f"{_SEEDS_EXPECTED}, got {echo(value)}")
    return tuple(seeds)


_Int = Annotated[int, BeforeValidator(_reject_bool)]
_Float = Annotated[float, BeforeValidator(_reject_bool), Field(allow_inf_nan=False)]
_Text = Annotated[str, Field(strict=True, max_length=MAX_TEXT)]


class _SpecModel(BaseModel):
    """What a spec file or the command line may say; every number bounded, unknown keys refused."""

    # allow_inf_nan: a NaN compares false with everything (``min_headroom_share: .nan`` would turn
    # a guard off), so no number anywhere in a spec, system_params included, may be NaN or inf
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    systems: Annotated[tuple[str, ...], BeforeValidator(_names_of)] | None = None
    faults: Annotated[tuple[str, ...], BeforeValidator(_names_of)] | None = None
    seeds: Annotated[tuple[int, ...], BeforeValidator(_seeds_of)] | None = None
    scale: Literal["quick", "default", "paper", "cell"] | None = None
    machines: Annotated[_Int, Field(ge=1, le=MAX_MACHINES)] | None = None
    window_s: Annotated[_Float, Field(gt=0, le=MAX_WINDOW_S)] | None = None
    trace: _Text | None = None
    trace_span: _Text | list[_Float] | None = None  # "START:END" or [START, END], trace seconds
    silent_tasks: Literal["stand-in", "none"] | None = None
    train_fraction: Annotated[_Float, Field(gt=0, lt=1)] = 0.5
    tick_s: Annotated[_Float, Field(gt=0, le=MAX_TICK_S)] = 5.0
    record_every_s: Annotated[_Float, Field(gt=0, le=MAX_RECORD_EVERY_S)] = 30.0
    executor: Literal["local", "ray"] | None = None
    jobs: Annotated[_Int, Field(ge=1, le=MAX_JOBS)] = 2
    ray_address: _Text | None = None
    # system name -> its parameters (each system validates its own when it is built)
    system_params: dict[str, dict[str, JsonValue]] | None = None
    train_episodes: Annotated[_Int, Field(ge=1, le=MAX_TRAIN_EPISODES)] | None = None
    burn_in_s: Annotated[_Float, Field(ge=0, le=MAX_WINDOW_S)] = DEFAULT_BURN_IN_S
    model: _Text | None = None


def build_spec(
    data: Mapping[str, Any], *, known_systems: Sequence[str], source: str = "<options>"
) -> ExperimentSpec:
    """Validate a mapping of options (CLI or file) into a spec; errors name source and field."""
    if not isinstance(data, Mapping):
        raise ConfigError("expected a mapping of options at the top level", source=source)
    try:
        model = _SpecModel.model_validate(dict(data))
    except ValidationError as exc:
        raise validation_error(exc, source=source, skip=_JSON_TAGS) from None
    scale = SCALES[model.scale or "default"]
    if model.machines is not None:
        scale = replace(scale, machines=model.machines, name=f"{scale.name}-custom")
    if model.window_s is not None:
        scale = replace(scale, window_s=model.window_s)
    if scale != SCALES[model.scale or "default"]:
        # the named scale's words would misdescribe an overridden one in the report
        scale = replace(scale, description=describe_scale(scale.machines, scale.window_s))
    systems = model.systems if model.systems is not None else DEFAULT_SYSTEMS
    for i, name in enumerate(systems):
        if name not in known_systems:
            raise ConfigError(
                f"unknown system {echo(name)}; expected one of {sorted(known_systems)}",
                source=source,
                field=f"systems[{i}]",
            )
    params = _system_params(model.system_params, known_systems, source)
    span = None
    if model.trace_span is not None:
        from autoinfra.traces.slicing import trace_span

        try:
            span = trace_span(model.trace_span)
        except ConfigError as exc:
            raise ConfigError(exc.message, source=source, field="trace_span") from None
    if model.model:  # checked now, not after the trace has loaded
        from autoinfra.experiments.models import describe_model

        describe_model(model.model)
    return ExperimentSpec(
        systems=systems,
        faults=model.faults if model.faults is not None else DEFAULT_FAULTS,
        seeds=scale.seeds if model.seeds is None else model.seeds,
        scale=scale,
        trace_dir=Path(model.trace) if model.trace else None,
        trace_span=span,
        silent_tasks=model.silent_tasks or "stand-in",
        train_fraction=model.train_fraction,
        tick_s=model.tick_s,
        record_every_s=model.record_every_s,
        executor=model.executor or "local",
        jobs=model.jobs,
        ray_address=model.ray_address or None,
        system_params=params,
        train_episodes=model.train_episodes,
        burn_in_s=model.burn_in_s,
        model=Path(model.model) if model.model else None,
    )


# pydantic names the branch of a JSON value it tried (``system_params.human.x.float``); a path
# for a person leaves those out
_JSON_TAGS = frozenset({"str", "int", "float", "bool", "list", "dict"})


def _system_params(
    params: dict[str, dict[str, Any]] | None, known_systems: Sequence[str], source: str
) -> dict[str, dict[str, Any]]:
    """``system name -> parameters``, the names known systems (a misspelt one would be ignored)."""
    for name in params or {}:
        if name not in known_systems:
            raise ConfigError(
                f"unknown system {echo(name)}; expected one of {sorted(known_systems)}",
                source=source,
                field=f"system_params.{name}",
            )
    return {name: dict(p) for name, p in (params or {}).items()}


def load_spec_file(path: Path) -> dict[str, Any]:
    """Read a YAML or JSON spec file into a mapping (validated later by :func:`build_spec`).

    Read by :mod:`autoinfra.core.documents`: size, depth and alias limits, duplicate keys
    refused, an empty file refused.
    """
    data = load_document(path)
    if not isinstance(data, dict):
        raise ConfigError("expected a mapping of options at the top level", source=str(path))
    return data
