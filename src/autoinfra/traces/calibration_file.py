"""The shipped ``calibration.json``: where it lives, how to read it, and how measured figures
are written (also ``standins.json``: see :mod:`autoinfra.traces.standins`).

Apart from :mod:`autoinfra.traces.calibration` (which measures the figures and needs a built
workload to do so) because building a workload itself reads the shipped figures when a trace has
no usage table: with the reader here, ``workload`` -> ``calibration_file`` and ``calibration`` ->
``workload`` are one-way edges, not a cycle.
"""

from __future__ import annotations

import json
import re
from importlib import resources
from pathlib import Path
from typing import Any

__all__ = [
    "dumps_figures",
    "load_calibration",
    "load_figures",
    "rounded_figures",
    "shipped_calibration_path",
    "shipped_figures_path",
]


def shipped_figures_path(name: str) -> Path:
    """Where a figures file shipped in the package (``calibration.json``, ``standins.json``) is."""
    return Path(str(resources.files("autoinfra.traces") / name))


def load_figures(name: str, path: str | Path | None = None) -> dict[str, Any]:
    """A figures file: ``path``, or the one shipped as ``name``."""
    p = Path(path) if path is not None else shipped_figures_path(name)
    data: dict[str, Any] = json.loads(p.read_text())
    return data


def shipped_calibration_path() -> Path:
    return shipped_figures_path("calibration.json")


def load_calibration(path: str | Path | None = None) -> dict[str, Any]:
    """The shipped calibration (or one written by ``calibration.write_calibration``)."""
    return load_figures("calibration.json", path)


def rounded_figures(value: Any) -> Any:
    """Floats to 6 significant digits: the file stays small and diffs stay readable."""
    if isinstance(value, dict):
        return {k: rounded_figures(v) for k, v in value.items()}
    if isinstance(value, list):
        return [rounded_figures(v) for v in value]
    if isinstance(value, float):
        return float(f"{value:.6g}")
    return value


def dumps_figures(data: dict[str, Any]) -> str:
    """Indented JSON with each list of numbers on one line (readable, diffable, small)."""
    text = json.dumps(rounded_figures(data), indent=1, sort_keys=True)
    flat = re.sub(
        r"\[\s*([^\[\]{}]*?)\s*\]",
        lambda m: "[" + ", ".join(x.strip() for x in m.group(1).split(",")) + "]",
        text,
    )
    return flat + "\n"
