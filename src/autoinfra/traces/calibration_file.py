"""The shipped ``calibration.json``: where it lives and how to read it.

Apart from :mod:`autoinfra.traces.calibration` (which measures the figures and needs a built
workload to do so) because building a workload itself reads the shipped figures when a trace has
no usage table: with the reader here, ``workload`` -> ``calibration_file`` and ``calibration`` ->
``workload`` are one-way edges, not a cycle.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

__all__ = ["load_calibration", "shipped_calibration_path"]


def shipped_calibration_path() -> Path:
    return Path(str(resources.files("autoinfra.traces") / "calibration.json"))


def load_calibration(path: str | Path | None = None) -> dict[str, Any]:
    """The shipped calibration (or one written by ``calibration.write_calibration``)."""
    p = Path(path) if path is not None else shipped_calibration_path()
    data: dict[str, Any] = json.loads(p.read_text())
    return data
