"""Writing the experiment's files atomically: temporary file in the same folder, then rename.

A reader (a person, CI, a later run's cache check) never sees a half-written report, summary or
Parquet table: either the old file or the complete new one. Also the provenance helpers every
report records: file hashes of the inputs and the versions of what produced it.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pandas as pd


def atomic_write(path: Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp)`` for a temporary path beside ``path``, then rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        # mkstemp makes the file private (0600); an output is for reading: 0644 as open() would
        tmp.chmod(0o644)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def write_text(path: Path, text: str) -> Path:
    def write(tmp: Path) -> None:
        tmp.write_text(text, encoding="utf-8")

    return atomic_write(path, write)


def write_json(path: Path, data: Any) -> Path:
    text = json.dumps(data, indent=2, sort_keys=False, allow_nan=False, default=_json_default)
    return write_text(path, text + "\n")


def write_parquet(path: Path, frame: pd.DataFrame) -> Path:
    return atomic_write(path, lambda tmp: frame.to_parquet(tmp, index=False))


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
