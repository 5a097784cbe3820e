"""A model that ``autoinfra train`` wrote, given to ``autoinfra experiment --model FILE``.

Two kinds: a Q-table (JSON, ``format: autoinfra.qtable``; ``policies.scaling.qtable``) and a PPO
actor (a Stable-Baselines3 ``.zip`` with its ``.json`` sidecar; ``policies.scaling.ppo``).
``describe_model`` says which one a file is and refuses anything else with one line naming the
file: a study must not silently run on the shipped table because a path pointed at the wrong file.

Learned parts are trained on earlier windows and evaluated on later ones. A model's provenance
records the trace files it was trained on (hashes) and its training window; when those are this
study's trace files, the training window must end where the evaluated window begins or earlier,
else the study would score the model on data it learnt from, and it is refused. A model trained on
another trace is allowed (that is what a trained policy is for), and the report says so.
``model_params`` names the preset parameter that builds the scaling agent with it.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

from autoinfra.core.errors import ConfigError
from autoinfra.traces.schema import TRACE_WINDOW_START_S

NOT_A_MODEL = "expected a model written by `autoinfra train` (a Q-table .json or a PPO .zip)"


def describe_model(path: str | Path) -> dict[str, Any]:
    """``{"kind": "qtable" | "ppo", "path", "provenance"}``; a ``ConfigError`` for anything else."""
    p = Path(path)
    src = str(p)
    if not p.is_file():
        raise ConfigError(f"no such file; {NOT_A_MODEL}", source=src, field="model")
    with p.open("rb") as fh:
        head = fh.read(4)
    if head.startswith(b"PK"):
        if not zipfile.is_zipfile(p):
            raise ConfigError(f"a damaged zip; {NOT_A_MODEL}", source=src, field="model")
        from autoinfra.policies.scaling.artifacts import read_sidecar

        meta = read_sidecar(p)  # refuses a missing or foreign sidecar, naming it
        return {"kind": "ppo", "path": src, "provenance": dict(meta.get("provenance") or {})}
    try:
        text = p.read_text(encoding="utf-8")
        json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ConfigError(f"neither JSON nor a zip; {NOT_A_MODEL}", source=src,
                          field="model") from None  # fmt: skip
    from autoinfra.policies.scaling.artifacts import read_artifact

    doc = read_artifact(p)  # format, version, encoding and shapes checked, errors name the field
    return {"kind": "qtable", "path": src, "provenance": dict(doc.get("provenance") or {})}


def check_windows(
    model: dict[str, Any],
    files: dict[str, str],
    evaluated: tuple[float, float],
    offset_s: float = TRACE_WINDOW_START_S,
) -> str:
    """Refuse a model trained on this trace's evaluated window; say where it was trained.

    ``evaluated`` counts from the study's trace window, which starts at trace second
    ``offset_s``; the model's windows count from its own (``windows.trace_offset_s``; a model
    written before that was recorded was trained on a trace read from its default start). Both
    are compared in trace seconds, so a model trained on another ``--trace-span`` is judged right.
    """
    prov = model["provenance"]
    trained_on = prov.get("trace", {}).get("files_sha256", {})
    windows = prov.get("windows", {})
    train = windows.get("train_s")
    same_trace = bool(trained_on) and all(trained_on.get(k) == v for k, v in files.items())
    if not same_trace:
        return "trained on another trace (its provenance names other files or none)"
    if not (isinstance(train, list) and len(train) == 2):
        raise ConfigError(
            "its provenance has no training window (windows.train_s); retrain it with "
            "`autoinfra train`",
            source=model["path"],
            field="model",
        )
    model_offset = float(windows.get("trace_offset_s", TRACE_WINDOW_START_S))
    t0, t1 = float(train[0]) + model_offset, float(train[1]) + model_offset
    e0, e1 = evaluated[0] + offset_s, evaluated[1] + offset_s
    if t1 > e0 + 1e-6:  # learned parts are trained on earlier windows, evaluated on later ones
        raise ConfigError(
            f"trained on trace seconds {t0:.0f}-{t1:.0f}, which does not end before the "
            f"evaluated window {e0:.0f}-{e1:.0f}; train on an earlier window (a smaller "
            "--train-fraction or an earlier --trace-span)",
            source=model["path"],
            field="model",
        )
    return (
        f"trained on trace seconds {t0:.0f}-{t1:.0f}, before the evaluated window "
        f"{e0:.0f}-{e1:.0f}"
    )


def model_params(path: str) -> dict[str, str]:
    """The build parameter of the autonomous preset that makes its scaling agent decide with the
    model in ``path``: ``qtable_path`` for a Q-table, ``ppo_path`` for a PPO actor."""
    kind = describe_model(path)["kind"]
    return {"qtable_path": path} if kind == "qtable" else {"ppo_path": path}
