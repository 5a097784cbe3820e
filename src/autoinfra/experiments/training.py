"""Learned parts are trained on the training window before the study evaluates on the other one.

The autonomous agents' scaling policy is a Q-table (``policies.scaling.qtable``). Before the
runs, the harness makes sure a table trained on *this* trace's training window exists: the one
shipped with the package when its provenance says it was made by the same training command on the
same trace files, else one from the cache (keyed by the command and the trace's file hashes), else
it trains one now with the learning package's pipeline (``train_scaling_policy``) and caches it.
The evaluation window is never read by training (``split_windows`` keeps them apart; the training
pipeline records both in the artifact). The report states which table was used and its windows.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from autoinfra.core.errors import ConfigError
from autoinfra.experiments.inputs import StudyInputs
from autoinfra.experiments.spec import ExperimentSpec

# systems whose agents use a learned table (the run swaps the table in: ``run.use_table``)
LEARNED_SYSTEMS: frozenset[str] = frozenset({"agents", "agents-v1"})
# the recipe fields taken from the shipped table's provenance, so the shipped table is used whenever
# the study's trace and training fraction are those it was made on
RECIPE_FIELDS = ("episodes", "seed", "machines", "episode_s", "decision_period_s")


def _shipped_path() -> Path:
    from autoinfra.policies.scaling.artifacts import DEFAULT_MODEL

    return Path(__file__).resolve().parent.parent / "data" / "models" / DEFAULT_MODEL


def _shipped_provenance() -> dict[str, Any]:
    from autoinfra.policies.scaling.artifacts import read_artifact

    path = _shipped_path()
    return dict(read_artifact(path).get("provenance", {})) if path.is_file() else {}


def _train_spec(spec: ExperimentSpec, inputs: StudyInputs) -> Any:
    """The shipped table's recipe (or the pipeline's defaults) on this study's trace and split."""
    from autoinfra.learning.pipeline import TrainSettings

    base = TrainSettings()
    recipe = _shipped_provenance().get("spec", {})
    fields = {name: recipe.get(name, getattr(base, name)) for name in RECIPE_FIELDS}
    if spec.train_episodes is not None:
        fields["episodes"] = spec.train_episodes
    fields["machines"] = min(int(fields["machines"]), inputs.cell_machines)
    return TrainSettings(
        algo="qlearning",
        train_fraction=spec.train_fraction,
        trace_dir=str(spec.trace_dir) if spec.trace_dir is not None else None,
        trace_span=spec.trace_span,
        silent_tasks=spec.silent_tasks,
        **fields,
    )


def _shipped_matches(command: str, files: dict[str, str]) -> Path | None:
    """The shipped table, if it was made by ``command`` on these very trace files."""
    provenance = _shipped_provenance()
    if not provenance or provenance.get("command") != command:
        return None
    shipped = provenance.get("trace", {}).get("files_sha256", {})
    same = all(shipped.get(name) == digest for name, digest in files.items())
    return _shipped_path() if same else None


def ensure_trained(spec: ExperimentSpec, inputs: StudyInputs) -> dict[str, Any]:
    """Find or make the trained table; returns what the report says and the systems' params."""
    learned = sorted(s for s in spec.systems if s in LEARNED_SYSTEMS)
    if spec.model is not None:
        return _given_model(spec, inputs, learned)
    if not learned:
        return {"description": "none of the compared systems has learned parts", "systems": []}
    from autoinfra.learning.pipeline import train_scaling_policy
    from autoinfra.policies.scaling.artifacts import read_artifact
    from autoinfra.traces.cache import cache_root

    tspec = _train_spec(spec, inputs)
    command = tspec.command()
    key = hashlib.sha256(
        json.dumps({"spec": asdict(tspec), "files": inputs.files}, sort_keys=True).encode()
    ).hexdigest()[:20]
    source = "shipped"
    path = _shipped_matches(command, inputs.files)
    if path is None:
        path = cache_root() / "models" / f"qtable-{key}.json"
        source = "cache"
        if not path.is_file():
            try:
                train_scaling_policy(tspec, path)
                source = "trained now"
            except ConfigError as exc:
                # A trace cut from the middle of a download may hold no service in its training
                # window: long-running tasks log no event while they run, so parts that start
                # mid-trace cannot show them. The study still runs, on the shipped table, and
                # says so.
                path, source = _shipped_path(), f"shipped, not retrained: {exc}"
    provenance = read_artifact(path).get("provenance", {})
    windows = provenance.get("windows", {})
    train_w = windows.get("train_s", list(inputs.train))
    made_by = provenance.get("command", command) if source.startswith("shipped,") else command
    of_trace = "the shipped slice" if source.startswith("shipped,") else "this trace"
    return {
        "description": (
            f"the agents' scaling Q-table ({source}; {path.name}) was made by `{made_by}` on "
            f"the training window {train_w[0]:.0f}-{train_w[1]:.0f} s of {of_trace} "
            f"({tspec.machines}-machine slice, {tspec.episodes} episodes, seed {tspec.seed}); "
            f"the runs replay the evaluation window only."
        ),
        "artifact": str(path),
        "source": source,
        "command": command,
        "train_window_s": list(train_w),
        "evaluation_window_s": list(inputs.evaluation),
        "systems": learned,
    }


def _given_model(spec: ExperimentSpec, inputs: StudyInputs, learned: list[str]) -> dict[str, Any]:
    """``--model FILE``: a model ``autoinfra train`` wrote, trained before the evaluated window."""
    from autoinfra.experiments.models import check_windows, describe_model
    from autoinfra.traces.schema import TRACE_WINDOW_START_S

    assert spec.model is not None
    if not learned:
        raise ConfigError(
            f"none of the systems {list(spec.systems)} has a learned scaling policy to use it; "
            f"add one of {sorted(LEARNED_SYSTEMS)}",
            source=str(spec.model),
            field="model",
        )
    model = describe_model(spec.model)
    offset = float(inputs.full.meta.get("trace_offset_s", TRACE_WINDOW_START_S))
    where = check_windows(model, inputs.files, inputs.evaluated, offset)
    kind = "Q-table" if model["kind"] == "qtable" else "PPO actor"
    made_by = model["provenance"].get("command", "an unrecorded command")
    train_w = model["provenance"].get("windows", {}).get("train_s")
    return {
        "description": (
            f"the agents' scaling {kind} was given (--model {spec.model.name}), made by "
            f"`{made_by}`, {where}; the runs replay the evaluation window only."
        ),
        "artifact": str(spec.model),
        "source": "given (--model)",
        "kind": model["kind"],
        "command": made_by,
        "train_window_s": list(train_w) if isinstance(train_w, list) else None,
        "evaluation_window_s": list(inputs.evaluation),
        "systems": learned,
    }
