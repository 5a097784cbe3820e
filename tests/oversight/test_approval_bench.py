"""The approval-queue bench runs end to end on a small queue (no timings asserted)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from tests.conftest import repo_root


def test_approval_queue_bench_smoke(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(repo_root() / "bench"))
    spec = importlib.util.spec_from_file_location(
        "approval_queue_bench", repo_root() / "bench" / "approval_queue.py"
    )
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    out = tmp_path / "aq.json"
    assert bench.main(["--pending", "50", "--samples", "5", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert [(r["pending"], r["fsync"], r["n"]) for r in result["runs"]] == [
        (50, True, 5),
        (50, False, 5),
    ]
    assert result["machine"]["cores"] >= 1
