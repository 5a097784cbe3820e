"""The harness end to end on tiny studies: windows apart, same seed same figures, every file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from autoinfra.core.errors import ConfigError
from autoinfra.experiments.harness import describe_scenarios, run_experiment
from autoinfra.experiments.inputs import load_inputs
from autoinfra.experiments.spec import ExperimentSpec, build_spec
from autoinfra.experiments.systems import BASELINES, ensure_registered
from tests.traces.midlife import mid_life_trace

TINY: dict[str, Any] = {
    "scale": "quick",
    "machines": 12,
    "window_s": 900,
    "burn_in_s": 900,  # shorter than the default hour: these tests are about the harness
    "systems": "kubernetes-defaults,human,noop",
    "faults": "none,node-failure",
    "seeds": "0",
    "jobs": 1,
}


def tiny(**over: Any) -> ExperimentSpec:
    return build_spec({**TINY, **over}, known_systems=ensure_registered())


def test_baselines_are_registered_lazily() -> None:
    names = ensure_registered()
    assert set(BASELINES) <= set(names)
    assert {"agents", "agents-v1"} <= set(names)
    assert ensure_registered() == names  # idempotent


def test_training_and_evaluation_windows_never_overlap() -> None:
    inputs = load_inputs(tiny(seeds="0,1", burn_in_s=3600))
    (t0, t1), (e0, e1) = inputs.train, inputs.evaluation
    assert t0 < t1 <= e0 < e1
    burn_in = inputs.burn_in_s
    assert burn_in == 3600.0
    # each seed its own measured 900 s, disjoint, inside the evaluation part, after a lead-in
    # that may replay the training window's end but is never measured
    (a0, a1), (b0, b1) = inputs.seed_windows[0], inputs.seed_windows[1]
    assert a0 == pytest.approx(e0 - burn_in) and a0 < t1  # the first lead-in: training's end
    assert e0 == a0 + burn_in < a1 <= b0 + burn_in < b1 <= e1
    assert a1 - a0 == pytest.approx(burn_in + 900.0) == b1 - b0
    assert inputs.evaluated == (a0 + burn_in, b1)
    assert sorted(inputs.slices) == [0, 1]
    for w in inputs.slices.values():
        assert len({int(m) for m in w.machines.machine_id}) == 12
        assert w.end_s - w.start_s == pytest.approx(burn_in + 900.0)
    # the seeds replay different hours, so their tasks differ
    assert not np.array_equal(inputs.slices[0].tasks.submit_s, inputs.slices[1].tasks.submit_s)


def test_a_trace_span_studies_that_stretch_with_the_history_before_it() -> None:
    spec = tiny(trace_span="10000:18000")
    assert spec.trace_span == (10000.0, 18000.0)
    inputs = load_inputs(spec)
    assert inputs.full.meta["window_trace_s"] == [10000.0, 18000.0]
    assert inputs.full.meta["history"]["complete"] is True  # read from part 0: no warning
    assert inputs.train == (0.0, 4000.0) and inputs.evaluation == (4000.0, 8000.0)
    # the cell at trace second 10,000 is rebuilt from the parts before it: thousands of tasks
    # already running enter at 0, where a folder starting there would show a tenth of them
    running_at_start = int((inputs.full.tasks.submit_s == 0.0).sum())
    assert running_at_start > 50_000
    with pytest.raises(ConfigError, match="trace_span"):
        tiny(trace_span=[5.0, 1.0])


def test_a_bad_scenario_fails_before_any_work(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("faults:\n  - kind: meteor\n    at_s: 10\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml"):
        describe_scenarios([str(bad)])
    with pytest.raises(ConfigError):
        run_experiment(tiny(faults=f"none,{bad}"), tmp_path / "out")
    assert not (tmp_path / "out").exists()


def _figures(summary: dict[str, Any]) -> str:
    return json.dumps({k: summary[k] for k in ("systems", "by_scenario")}, sort_keys=True)


def test_same_seed_gives_the_same_report_figures(tmp_path: Path) -> None:
    # two systems whose behaviour depends on the seed (fault target, the human's delays)
    spec = tiny(
        systems="kubernetes-defaults,human", faults="node-failure", machines=8, window_s=1200
    )
    first = run_experiment(spec, tmp_path / "a")
    second = run_experiment(spec, tmp_path / "b")
    assert _figures(first) == _figures(second)
    for name in ("report.md", "summary.json", "ticks.parquet", "faults.parquet"):
        assert (tmp_path / "a" / name).is_file()
    a = pd.read_parquet(tmp_path / "a" / "ticks.parquet")
    b = pd.read_parquet(tmp_path / "b" / "ticks.parquet")
    pd.testing.assert_frame_equal(a, b)
    # node-failure: two failures drawn in [900 s, the run's end - 600 s]
    node = first["systems"]["kubernetes-defaults"]["recovery_s"]["node_failure"]
    assert node["faults"] + node["no_effect"] == 2
    report = (tmp_path / "a" / "report.md").read_text()
    assert "paper claims" in report and "85 %" not in json.dumps(first["systems"])
    # the report names what was typed and the versioned registry id it stands for
    assert "`kubernetes-defaults` (`system.kubernetes-defaults-v1`)" in report
    assert "`node-failure` (`fault.node-failure-v2`)" in report


def test_a_trace_read_from_mid_life_is_flagged_before_the_figures(tmp_path: Path) -> None:
    trace = mid_life_trace(tmp_path / "later")
    warned: list[str] = []
    spec = tiny(trace=str(trace), systems="noop", faults="none", machines=6, window_s=600)
    summary = run_experiment(spec, tmp_path / "out", on_warning=warned.append)
    # and the shipped task_usage part (600-900 s) matches no request of parts from part 3 on
    assert len(warned) == 2 and "mid-life" in warned[0] and "task_usage" in warned[1]
    assert summary["inputs"]["warnings"] == warned and summary["caveats"][:2] == warned
    report = (tmp_path / "out" / "report.md").read_text()
    assert report.index("Warning: the inputs") < report.index("Setup")
    # the shipped slice holds its history from the trace's start: no warning
    quiet = run_experiment(tiny(systems="noop", faults="none", machines=6, window_s=600),
                           tmp_path / "shipped", on_warning=warned.append)  # fmt: skip
    assert len(warned) == 2 and quiet["inputs"]["warnings"] == []
    assert "Warning: the inputs" not in (tmp_path / "shipped" / "report.md").read_text()


def test_a_training_window_with_nothing_to_learn_runs_on_the_shipped_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a trace cut from the middle of a download may hold no service in its training window
    import autoinfra.experiments.training as training
    import autoinfra.learning.pipeline as pipeline

    def nothing_to_learn(*_args: Any, **_kw: Any) -> None:
        raise ConfigError("the training window holds no service", field="trace")

    monkeypatch.setattr(pipeline, "train_scaling_policy", nothing_to_learn)
    monkeypatch.setattr(training, "_shipped_matches", lambda *_a: None)
    monkeypatch.setenv("AUTOINFRA_CACHE_DIR", str(tmp_path / "cache"))
    spec = tiny(systems="agents", faults="none", machines=6, window_s=600)
    out = training.ensure_trained(spec, load_inputs(spec))
    assert (
        "shipped, not retrained: field 'trace': the training window holds no service"
        in out["description"]
    )
    assert "the shipped slice" in out["description"]


@pytest.mark.ray
def test_the_ray_executor_gives_the_local_figures(tmp_path: Path) -> None:
    pytest.importorskip("ray")
    spec = tiny(systems="kubernetes-defaults", faults="node-failure", machines=6, window_s=600)
    local = run_experiment(spec, tmp_path / "local")
    ray_spec = tiny(
        systems="kubernetes-defaults",
        faults="node-failure",
        machines=6,
        window_s=600,
        executor="ray",
        jobs=1,
    )
    on_ray = run_experiment(ray_spec, tmp_path / "ray")
    assert _figures(local) == _figures(on_ray)
