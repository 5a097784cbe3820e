"""The experiment's file formats (JSON, Parquet) and the provenance every report records.

Files are written through :mod:`autoinfra.core.atomic` (temporary file, fsync, rename), so a reader
never sees a half-written report, summary or table. The provenance helpers: file hashes of the
inputs and the versions of what produced it.
"""

from __future__ import annotations

import hashlib
import platform
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from autoinfra.core import atomic


def write_json(path: Path, data: Any) -> Path:
    """A report's JSON: indented, in insertion order, numpy scalars and paths as plain values."""
    return atomic.write_json(path, data, indent=2, default=_json_default)


def write_parquet(path: Path, frame: pd.DataFrame) -> Path:
    with atomic.atomic_path(path) as tmp:
        frame.to_parquet(tmp, index=False)
    return path


def file_hashes(paths: Iterable[Path], root: Path | None = None) -> dict[str, str]:
    """SHA-256 of each file, keyed by its path relative to ``root`` (sorted)."""
    out: dict[str, str] = {}
    for p in sorted(paths):
        digest = hashlib.sha256()
        with p.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
        key = str(p.relative_to(root)) if root is not None else str(p)
        out[key] = digest.hexdigest()
    return out


def versions() -> dict[str, str]:
    """Versions of what produced the numbers (autoinfra, numpy, pandas, python, platform)."""
    import numpy

    from autoinfra import __version__

    out = {
        "autoinfra": __version__,
        "numpy": numpy.__version__,
        "pandas": pd.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
    try:
        import numba

        out["numba"] = str(numba.__version__)
    except ImportError:  # pragma: no cover - numba is a core dependency
        pass
    return out


def _json_default(value: Any) -> Any:
    # numpy scalars and paths appear in summaries; NaN never does (callers turn it into None)
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
