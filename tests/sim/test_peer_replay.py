"""The CloudSimPy peer benchmark replays faithfully: instances run their duration, from submit.

Independent expectation: on machines with room to spare, CloudSimPy starts every instance of a
job when the job arrives and runs it for its duration, so each task completes in its duration
and the makespan is the latest submit + duration. No timing is asserted.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from autoinfra.traces.alibaba import cloudsimpy_workload, instance_rows, read_cloudsimpy_jobs
from tests.conftest import repo_root


def _bench(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(repo_root() / "bench"))
    spec = importlib.util.spec_from_file_location(
        "peer_cloudsimpy", repo_root() / "bench" / "peer_cloudsimpy.py"
    )
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    return bench


def test_faithful_replay_matches_the_peer_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bench = _bench(monkeypatch)
    out, md = tmp_path / "peer.json", tmp_path / "RESULTS.md"
    md.write_text("# Benchmark results\n\n## Other\n\nkept\n")
    argv = ["--jobs", "8", "--machines", "300", "--repeats", "1", "--json", str(out)]
    assert bench.main([*argv, "--results-md", str(md)]) == 0
    ours = json.loads(out.read_text())["ours"]
    jobs = read_cloudsimpy_jobs()
    w = cloudsimpy_workload(jobs, n_jobs=8, machines=300)
    rows = instance_rows(jobs, 8)
    expected_end = w.tasks.submit_s + w.tasks.duration_s.astype(np.float64)
    per_task = {int(r): float(jobs.duration_s[r]) for r in np.unique(rows)}
    assert ours["unfinished_instances"] == 0
    assert ours["placements"] == len(w.tasks) == ours["instances"]
    assert ours["makespan_s"] == pytest.approx(float(expected_end.max()), abs=1e-3)
    assert ours["mean_completion_s"] == pytest.approx(np.mean(list(per_task.values())), rel=1e-5)
    text = md.read_text()
    assert "kept" in text and text.count("peer-cloudsimpy:begin") == 1


def test_task_figures_group_instances_by_task(monkeypatch: pytest.MonkeyPatch) -> None:
    bench = _bench(monkeypatch)
    rows = np.array([4, 1, 4, 1, 9])
    start = np.array([0.0, 2.0, 1.0, 2.0, 5.0])
    end = np.array([10.0, 3.0, 4.0, 8.0, 6.0])
    got = bench.task_figures(rows, start, end)
    # task 1: 2 -> 8 (6 s); task 4: 0 -> 10 (10 s); task 9: 1 s
    assert got["tasks"] == 3 and got["makespan_s"] == 10.0
    assert got["mean_completion_s"] == pytest.approx((6 + 10 + 1) / 3)
