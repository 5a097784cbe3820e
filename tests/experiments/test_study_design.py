"""The study's design: disjoint run windows, the burn-in left out, the paired answer and its CI."""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
import pandas as pd
import pytest

from autoinfra.core.errors import ConfigError
from autoinfra.experiments.answer import answer_blocks, answer_rows
from autoinfra.experiments.inputs import run_windows
from autoinfra.experiments.metrics import run_metrics
from autoinfra.experiments.paired import paired_difference, paired_results, t975
from autoinfra.experiments.render import Bullets, Table
from autoinfra.experiments.run import after_burn_in
from autoinfra.experiments.spec import DEFAULT_BURN_IN_S, build_spec
from autoinfra.experiments.systems import ensure_registered
from autoinfra.faults import load_scenario


def test_measured_windows_tile_the_evaluation_part_each_after_its_lead_in() -> None:
    windows = run_windows((1000.0, 11000.0), 2700.0, 900.0)
    # measured: 1000-3700, 3700-6400, 6400-9100; each run starts 900 s earlier
    assert windows == ((100.0, 3700.0), (2800.0, 6400.0), (5500.0, 9100.0))
    measured = [(a + 900.0, b) for a, b in windows]
    assert all(b0 >= a1 for (_, a1), (b0, _) in itertools.pairwise(measured))
    assert measured[0][0] == 1000.0 and measured[-1][1] <= 11000.0
    # no lead-in reaches before the trace window's start: measuring starts a lead-in in
    assert run_windows((500.0, 11000.0), 2700.0, 900.0)[0] == (0.0, 3600.0)
    # no burn-in: the runs are the measured windows
    no_lead = ((1000.0, 3700.0), (3700.0, 6400.0), (6400.0, 9100.0))
    assert run_windows((1000.0, 11000.0), 2700.0) == no_lead
    # shorter than one measured window: the rest of the evaluation window, shortened
    assert run_windows((1000.0, 1500.0), 2700.0, 900.0) == ((100.0, 1500.0),)


def test_burn_in_is_in_the_spec_bounded_and_defaults_to_an_hour() -> None:
    known = ensure_registered()
    assert build_spec({}, known_systems=known).burn_in_s == DEFAULT_BURN_IN_S == 3600.0
    assert build_spec({"burn_in_s": 0}, known_systems=known).burn_in_s == 0.0
    with pytest.raises(ConfigError, match="burn_in_s"):
        build_spec({"burn_in_s": -1}, known_systems=known)


def test_no_fault_strikes_during_the_burn_in() -> None:
    storm = load_scenario("storm")
    first = min(f.at_s for f in storm.faults)
    burn_in = first + 300.0
    shifted = after_burn_in(storm, burn_in)
    # all moved by the same amount, just enough: the first strikes as the burn-in ends
    assert min(f.at_s for f in shifted.faults) == burn_in
    assert [f.at_s - g.at_s for f, g in zip(shifted.faults, storm.faults, strict=True)] == [
        300.0
    ] * len(storm.faults)
    assert [f.kind for f in shifted.faults] == [f.kind for f in storm.faults]
    assert after_burn_in(storm, 0.0) is storm
    assert after_burn_in(storm, first) is storm  # already after the burn-in: unchanged
    assert after_burn_in(load_scenario("none"), 900.0).faults == ()


def _run_tables() -> tuple[pd.DataFrame, pd.DataFrame]:
    ticks = pd.DataFrame(
        {
            "time_s": [0.0, 30.0, 60.0, 90.0, 120.0],
            "cpu_util": [0.9, 0.9, 0.2, 0.4, 0.6],
            "mem_util": [0.5] * 5,
            "cpu_alloc": [1.0] * 5,
            "energy_kwh": [0.0, 5.0, 6.0, 7.0, 8.0],
            "evictions": [0, 4, 4, 5, 6],
            "services_violating": [2, 2, 0, 0, 1],
            "services": [2] * 5,
        }
    )
    tasks = pd.DataFrame(
        {
            "submit_s": [0.0, 10.0, 70.0, 80.0],
            "start_s": [50.0, 20.0, 75.0, math.nan],
            "end_s": [55.0, 100.0, 110.0, math.nan],
            "end_reason": ["finish", "finish", "finish", ""],
            "evictions": [3, 1, 1, 1],
        }
    )
    return ticks, tasks


def test_metrics_leave_the_burn_in_out() -> None:
    ticks, tasks = _run_tables()
    common: dict[str, Any] = {
        "tasks": tasks,
        "faults": pd.DataFrame(),
        "n_services": 2,
        "window_end_s": 120.0,
        "actions": 0,
        "false_alarms": 0,
    }
    whole = run_metrics(ticks=ticks, **common)
    measured = run_metrics(ticks=ticks, measure_from_s=60.0, **common)
    assert whole["energy_kwh"] == pytest.approx(8.0)
    assert measured["energy_kwh"] == pytest.approx(2.0)  # 8 - 6 at the burn-in's end
    assert measured["utilization_cpu"] == pytest.approx(0.4)  # mean of 0.2, 0.4, 0.6
    assert measured["evictions"] == pytest.approx(2.0)  # 6 - 4
    assert measured["tasks_finished"] == 2.0  # the task that ended at 55 s is burn-in
    assert measured["energy_kwh_per_task"] == pytest.approx(1.0)
    # delays of tasks submitted after 60 s only: 5 s and the pending one's 40 s so far
    assert measured["scheduling_delay_p95_s"] == pytest.approx(np.percentile([5.0, 40.0], 95))
    assert measured["slo_violation_rate"] == pytest.approx((0 + 0 + 0.5) / 3)


def test_the_t_table_matches_scipy() -> None:
    stats = pytest.importorskip("scipy.stats")
    for df in (*range(1, 31), 40, 60, 120):
        assert t975(df) == pytest.approx(stats.t.ppf(0.975, df), abs=6e-4)
    # between entries: the next smaller df, so the interval is never narrower than exact
    assert t975(50) == t975(40) >= stats.t.ppf(0.975, 50)
    with pytest.raises(ValueError):
        t975(0)


def test_paired_difference_and_its_interval() -> None:
    agents = {0: 0.30, 1: 0.32, 2: 0.35, 3: 0.31}
    base = {0: 0.20, 1: 0.25, 2: 0.22, 3: 0.24}
    e = paired_difference(agents, base, "higher")
    diffs = np.array([0.10, 0.07, 0.13, 0.07])
    half = 3.182 * diffs.std(ddof=1) / 2.0
    assert e["n"] == 4 and e["seeds"] == [0, 1, 2, 3]
    assert e["mean_difference"] == pytest.approx(diffs.mean())
    assert e["ci95"] == pytest.approx([diffs.mean() - half, diffs.mean() + half])
    assert e["holds"] is True and e["verdict"] == "holds"
    # the same numbers where lower is better: the agents are worse, and the interval says so
    worse = paired_difference(agents, base, "lower")
    assert worse["holds"] is False and worse["verdict"] == "reversed"
    # an interval across 0
    mixed = paired_difference({0: 1.0, 1: 3.0}, {0: 2.0, 1: 2.0}, "lower")
    assert mixed["verdict"] == "unclear" and mixed["holds"] is False
    # one seed: no interval, no verdict either way
    one = paired_difference({0: 1.0}, {0: 2.0}, "lower")
    assert one["ci95"] is None and one["holds"] is None and one["n"] == 1
    # a seed missing on one side, or NaN, is left out of the pairs
    gaps = paired_difference({0: 1.0, 1: math.nan, 2: 2.0}, {0: 2.0, 1: 1.0, 3: 0.0}, "lower")
    assert gaps["seeds"] == [0]


def _run(system: str, scenario: str, seed: int, cpu: float, rec: float | None) -> dict[str, Any]:
    faults = {} if rec is None else {"node_failure": {"recovery_lower_bound_s": rec}}
    return {
        "system": system,
        "scenario": scenario,
        "seed": seed,
        "metrics": {
            "utilization_cpu": cpu,
            "utilization_mem": 0.5,
            "energy_kwh": 2.0,
            "energy_kwh_per_task": 0.1,
            "slo_violation_rate": 0.0,
            "faults": faults,
        },
    }


def test_paired_results_pair_seeds_and_average_their_scenarios() -> None:
    runs = []
    for seed, (a, b) in enumerate(((0.30, 0.20), (0.40, 0.25), (0.35, 0.30))):
        runs.append(_run("agents", "none", seed, a, None))
        runs.append(_run("agents", "node-failure", seed, a + 0.02, 20.0 + seed))
        runs.append(_run("kubernetes-defaults", "none", seed, b, None))
        runs.append(_run("kubernetes-defaults", "node-failure", seed, b + 0.02, 300.0))
    out = paired_results(runs, ["agents", "kubernetes-defaults"])
    k8s = out["baselines"]["kubernetes-defaults"]
    assert k8s["utilization_cpu"]["differences"] == pytest.approx([0.10, 0.15, 0.05])
    assert k8s["recovery_s.node_failure"]["differences"] == pytest.approx([-280, -279, -278])
    assert k8s["recovery_s.node_failure"]["verdict"] == "holds"
    assert k8s["energy_kwh"]["mean_difference"] == 0.0 and k8s["energy_kwh"]["verdict"] != "holds"
    # beyond the spread: a margin of 0.10 against per-seed values spread by sd 0.05 (both systems)
    cpu = k8s["utilization_cpu"]
    assert cpu["reference_sd"] == pytest.approx(0.05) and cpu["baseline_sd"] == pytest.approx(0.05)
    assert cpu["beyond_spread"] is True and k8s["energy_kwh"]["beyond_spread"] is False
    narrow = paired_results(
        [r for r in runs if r["system"] == "agents"]
        + [_run("kubernetes-defaults", "none", s, v, None) for s, v in enumerate((0.1, 0.3, 0.5))],
        ["agents", "kubernetes-defaults"],
    )["baselines"]["kubernetes-defaults"]["utilization_cpu"]
    assert narrow["baseline_sd"] == pytest.approx(0.2) and narrow["beyond_spread"] is False
    # the report opens with these rows; the paper's claims stand beside them as claims
    rows = answer_rows(out)
    assert rows[0][0] == "CPU utilisation" and rows[0][-1].startswith("85 % vs 68 %")
    assert rows[0][-2] == "yes (sd 5.0 pts)"
    summary = {"paired": out, "spec": {"seeds": [0, 1, 2], "burn_in_s": 900.0}}
    blocks = answer_blocks(summary)
    assert any(isinstance(b, Table) for b in blocks)
    bullets = next(b for b in blocks if isinstance(b, Bullets))
    assert bullets.items[0].startswith("vs `kubernetes-defaults`: the agents are better on")
    one = paired_results([r for r in runs if r["seed"] == 0], ["agents", "kubernetes-defaults"])
    single = answer_blocks({"paired": one, "spec": {"seeds": [0], "burn_in_s": 900.0}})
    line = next(b for b in single if isinstance(b, Bullets)).items[0]
    assert "not compared" in line and "one seed" in line
    assert paired_results(runs, ["kubernetes-defaults"])["baselines"] == {}
