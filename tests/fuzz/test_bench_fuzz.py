"""bench/fuzz_inputs.py runs end to end on a few cases and finds no traceback and no hang."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import repo_root


def test_fuzz_bench_smoke(tmp_path: Path) -> None:
    out = tmp_path / "fuzz.json"
    md = tmp_path / "RESULTS.md"
    md.write_text("# Benchmark results\n\n## Other\n\nkept as is\n")
    env = dict(os.environ, PYTHONPATH=str(repo_root() / "src"))
    args = ["--seed", "3", "--traces", "40", "--scenarios", "40", "--specs", "40"]
    cmd = [sys.executable, "fuzz_inputs.py", *args, "--json", str(out), "--results", str(md)]
    proc = subprocess.run(
        cmd, cwd=repo_root() / "bench", env=env, capture_output=True, text=True, timeout=100
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    results = json.loads(out.read_text())["results"]
    for name, r in results.items():
        assert r["cases"] == 40, name
        assert sum(r["counts"].values()) == 40
        assert r["counts"]["traceback"] == 0 and r["counts"]["hang"] == 0
    text = md.read_text()
    assert "kept as is" in text and text.count("fuzz_inputs:begin") == 1
