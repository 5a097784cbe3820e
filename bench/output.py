"""Where benchmarks write: JSON figures and their own marked section of RESULTS.md, atomically."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename: never half-written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)


def write_json(path: Path, data: Any) -> None:
    write_atomic(path, json.dumps(data, indent=2) + "\n")


def update_section(results: Path, begin: str, end: str, section: str) -> None:
    """Replace the text between ``begin`` and ``end`` markers (``section`` includes them), or
    append it; the other benchmarks' sections are left as they are."""
    text = results.read_text(encoding="utf-8") if results.exists() else "# Benchmark results\n"
    if begin in text and end in text:
        before = text[: text.index(begin)]
        after = text[text.index(end) + len(end) :].lstrip("\n")
        text = before + section.strip("\n") + "\n" + ("\n" + after if after else "")
    else:
        text = text.rstrip("\n") + "\n\n" + section.strip("\n") + "\n"
    write_atomic(results, text)
