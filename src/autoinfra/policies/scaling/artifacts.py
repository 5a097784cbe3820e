"""The scaling models' files: the Q-table's JSON artifact and the PPO model's JSON sidecar.

Written atomically (temporary file and rename) with sorted keys and no timestamps, so re-running
the command that made an artifact reproduces it bit for bit; read strictly, every problem a
``ConfigError`` naming the file and the field. The learners in ``autoinfra.learning`` write
through this module, the policies read through it: neither needs the other to touch a file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from autoinfra.core.errors import ConfigError
from autoinfra.policies.scaling.encoding import ENCODINGS, FEATURES_ID
from autoinfra.policies.scaling.space import ACTIONS

__all__ = [
    "ARTIFACT_FORMAT",
    "ARTIFACT_VERSION",
    "DEFAULT_MODEL",
    "PPO_POLICY_ID",
    "QTABLE_POLICY_ID",
    "read_artifact",
    "read_sidecar",
]

# the policy ids the files name, so a learner writes them without importing a policy module
QTABLE_POLICY_ID = "scaling.qtable-v1"
PPO_POLICY_ID = "scaling.ppo-v1"
DEFAULT_MODEL = "qtable-scaling-v1.json"
ARTIFACT_FORMAT = "autoinfra.qtable"
ARTIFACT_VERSION = 1  # bump when the file layout changes; older readers then refuse it clearly


def read_artifact(path: str | Path) -> dict[str, Any]:
    """Read and check a Q-table file; every problem is a ConfigError naming the file and field."""
    src = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read the Q-table: {exc.strerror}", source=src) from exc
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"not JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); expected a Q-table "
            "written by `autoinfra train`",
            source=src,
        ) from exc

    def check(field: str, ok: bool, message: str) -> None:
        if not ok:
            raise ConfigError(message, source=src, field=field)

    if not isinstance(doc, dict):
        doc = {"format": type(doc).__name__}
    check("format", doc.get("format") == ARTIFACT_FORMAT,
          f"format is {doc.get('format')!r}, expected {ARTIFACT_FORMAT!r}")  # fmt: skip
    version = doc.get("version")
    version = version if isinstance(version, int) else repr(version)
    check("version", isinstance(version, int) and version >= 1,
          f"version is {version}, expected a positive integer")  # fmt: skip
    check("version", int(version) <= ARTIFACT_VERSION,
          f"version {version} is newer than this autoinfra reads ({ARTIFACT_VERSION}); "
          "upgrade autoinfra or retrain")  # fmt: skip
    check(
        "encoding",
        doc.get("encoding") in ENCODINGS,
        f"unknown state encoding {doc.get('encoding')!r}; known: {sorted(ENCODINGS)}",
    )
    check("actions", doc.get("actions") == list(ACTIONS),
          f"actions are {doc.get('actions')!r}, expected {list(ACTIONS)}")  # fmt: skip
    check("reward", isinstance(doc.get("reward"), str), "reward id missing, expected a string")
    shape = (ENCODINGS[doc["encoding"]].n_states, len(ACTIONS))
    for name, kind in (("q", np.float64), ("visits", np.int64)):
        try:
            arr = np.asarray(doc.get(name), dtype=kind)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"not a numeric table: {exc}", source=src, field=name) from exc
        if arr.shape != shape:
            raise ConfigError(f"shape {arr.shape}, expected {shape}", source=src, field=name)
        doc[name] = arr
    check("provenance", isinstance(doc.get("provenance", {}), dict), "expected a mapping")
    return doc


def read_sidecar(path: Path) -> dict[str, Any]:
    """The metadata written beside a PPO model; refuses models made for other features."""
    side = path.with_suffix(".json")
    try:
        meta = json.loads(side.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(
            f"missing metadata file {side.name}: {exc.strerror}", source=str(side)
        ) from exc
    except json.JSONDecodeError as exc:
        raise ConfigError(f"not JSON (line {exc.lineno}): {exc.msg}", source=str(side)) from exc
    if not isinstance(meta, dict) or meta.get("features") != FEATURES_ID:
        got = meta.get("features") if isinstance(meta, dict) else None
        raise ConfigError(
            f"features are {got!r}, expected {FEATURES_ID!r}", source=str(side), field="features"
        )
    return meta
