"""The decision-latency bench runs end to end on a small synthetic cell (no timings asserted)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from tests.conftest import repo_root


def test_decision_latency_bench_smoke(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # run as a script, a bench has bench/ on sys.path (for bench/machine.py); loaded by path here,
    # it needs the same
    monkeypatch.syspath_prepend(str(repo_root() / "bench"))
    spec = importlib.util.spec_from_file_location(
        "decision_latency", repo_root() / "bench" / "decision_latency.py"
    )
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    out = tmp_path / "dl.json"
    md = tmp_path / "RESULTS.md"
    md.write_text("# Benchmark results\n\n## Simulator\n\nkept as is\n")
    args = ["--json", str(out), "--synthetic", "--machines", "400", "--samples", "6"]
    assert bench.main([*args, "--results-md", str(md), "--scaling-policy", "target"]) == 0
    result = json.loads(out.read_text())
    assert set(result["agents"]) >= {"security", "healing", "scaling", "energy", "observe"}
    assert result["agents"]["healing"]["n"] == 6
    text = md.read_text()
    assert "kept as is" in text and text.count("decision-latency:start") == 1
    bench.main([*args, "--results-md", str(md), "--scaling-policy", "target"])
    assert md.read_text().count("decision-latency:start") == 1  # replaced, not appended twice
