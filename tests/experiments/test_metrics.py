"""Metrics on small DataFrames crafted by hand, shaped like the simulator's outputs."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from autoinfra.experiments.metrics import (
    aggregate,
    fault_metrics,
    run_metrics,
    spread,
    task_metrics,
    tick_metrics,
    time_weighted_mean,
)


def _ticks() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "time_s": [0.0, 30.0, 60.0, 90.0],
            "cpu_util": [0.2, 0.4, 0.6, 0.8],
            "mem_util": [0.5, 0.5, 0.5, 0.5],
            "cpu_alloc": [0.4, 0.8, 0.8, 0.8],
            "energy_kwh": [0.0, 1.0, 2.0, 3.5],
            "services_violating": [0, 1, 2, 1],
        }
    )


def test_time_weighted_mean_of_even_samples_is_the_plain_mean() -> None:
    assert time_weighted_mean([0, 10, 20], [1.0, 2.0, 3.0]) == pytest.approx(2.0)


def test_time_weighted_mean_weights_by_holding_time() -> None:
    # 1.0 held for 30 s, 3.0 held for 10 s, the last sample for the median gap (20 s)
    assert time_weighted_mean([0, 30, 40], [1.0, 3.0, 0.0]) == pytest.approx(60 / 60)
    assert math.isnan(time_weighted_mean([0, 10], [math.nan, math.nan]))


def test_tick_metrics() -> None:
    m = tick_metrics(_ticks(), n_services=4)
    assert m["utilization_cpu"] == pytest.approx(0.5)
    assert m["utilization_mem"] == pytest.approx(0.5)
    assert m["slack_cpu"] == pytest.approx((0.5 + 0.5 + 0.25 + 0.0) / 4)
    assert m["energy_kwh"] == pytest.approx(3.5)
    assert m["slo_violation_rate"] == pytest.approx(4 / 16)
    assert tick_metrics(_ticks(), 4, energy_before_kwh=1.0)["energy_kwh"] == pytest.approx(2.5)
    assert tick_metrics(_ticks(), n_services=0)["slo_violation_rate"] == 0.0


def test_task_metrics_count_pending_tasks_with_their_delay_so_far() -> None:
    tasks = pd.DataFrame(
        {
            "submit_s": [0.0] * 19 + [100.0],
            "start_s": [1.0] * 19 + [math.nan],
            "end_reason": ["finish"] * 10 + ["running"] * 9 + ["pending"],
            "evictions": [0] * 18 + [2, 0],
        }
    )
    m = task_metrics(tasks, window_end_s=1100.0)
    assert m["tasks_finished"] == 10
    assert m["evictions"] == 2
    # 19 delays of 1 s and one of 1000 s (censored at the end): p95 interpolates towards 1000
    assert m["scheduling_delay_p95_s"] == pytest.approx(1.0 + 0.05 * 999.0)


def test_fault_metrics_per_kind_with_unrecovered_faults_as_lower_bounds() -> None:
    faults = pd.DataFrame(
        {
            "kind": ["node_failure", "node_failure", "cpu_hog"],
            "injected_s": [600.0, 600.0, 900.0],
            "detect_s": [45.0, 50.0, math.nan],
            "mitigate_s": [340.0, math.nan, math.nan],
            "recovery_s": [400.0, math.nan, 900.0],
        }
    )
    m = fault_metrics(faults, window_end_s=3600.0)
    node = m["node_failure"]
    assert node["faults"] == 2 and node["recovered"] == 1 and node["detected"] == 2
    assert node["detect_s"] == pytest.approx(47.5)
    assert node["mitigate_s"] == pytest.approx(340.0)
    assert node["recovery_s"] == pytest.approx(400.0)
    assert node["recovery_lower_bound_s"] == pytest.approx((400.0 + 3000.0) / 2)
    assert math.isnan(m["cpu_hog"]["detect_s"]) and m["cpu_hog"]["recovery_s"] == 900.0


def test_no_effect_faults_are_counted_apart_and_left_out_of_the_times() -> None:
    faults = pd.DataFrame(
        {
            "kind": ["cpu_hog"] * 3,
            "injected_s": [900.0, 900.0, 1000.0],
            "detect_s": [10.0, math.nan, math.nan],
            "mitigate_s": [15.0, math.nan, math.nan],
            "recovery_s": [20.0, 0.0, 900.0],
            "self_cleared": [False, False, True],
            "no_effect": [False, True, False],
        }
    )
    hog = fault_metrics(faults, window_end_s=3600.0)["cpu_hog"]
    assert hog["faults"] == 2 and hog["no_effect"] == 1 and hog["self_cleared"] == 1
    assert hog["recovery_s"] == pytest.approx((20.0 + 900.0) / 2)  # the 0 s one is not in
    assert hog["detected"] == 1 and hog["mitigated"] == 1


def test_energy_per_task_and_run_metrics() -> None:
    tasks = pd.DataFrame(
        {
            "submit_s": [0.0, 0.0],
            "start_s": [0.0, 5.0],
            "end_reason": ["finish", "finish"],
            "evictions": [0, 0],
        }
    )
    empty_faults = pd.DataFrame(
        columns=["kind", "injected_s", "detect_s", "mitigate_s", "recovery_s"]
    )
    m = run_metrics(
        ticks=_ticks(),
        tasks=tasks,
        faults=empty_faults,
        n_services=4,
        window_end_s=90.0,
        actions=3,
        false_alarms=1,
    )
    assert m["energy_kwh_per_task"] == pytest.approx(3.5 / 2)
    assert m["actions"] == 3 and m["false_alarms"] == 1 and m["faults"] == {}


def test_spread() -> None:
    s = spread([1.0, 2.0, 3.0, math.nan])
    assert s == {"mean": 2.0, "std": 1.0, "min": 1.0, "max": 3.0, "n": 3}
    assert spread([5.0])["std"] == 0.0
    assert spread([])["n"] == 0 and spread([])["mean"] is None


def test_aggregate_averages_scenarios_within_a_seed_then_spreads_across_seeds() -> None:
    def run(system: str, seed: int, util: float, rec: float | None) -> dict[str, object]:
        metrics: dict[str, object] = {
            "utilization_cpu": util,
            "faults": {}
            if rec is None
            else {
                "node_failure": {
                    "faults": 1,
                    "detected": 1,
                    "mitigated": 1,
                    "recovered": 1,
                    "detect_s": 40.0,
                    "mitigate_s": 300.0,
                    "recovery_s": rec,
                    "recovery_lower_bound_s": rec,
                }
            },
        }
        for name in (
            "utilization_mem",
            "slack_cpu",
            "energy_kwh",
            "energy_kwh_per_task",
            "tasks_finished",
            "slo_violation_rate",
            "scheduling_delay_p95_s",
            "evictions",
            "actions",
            "false_alarms",
        ):
            metrics[name] = 1.0
        return {"system": system, "seed": seed, "scenario": "x", "metrics": metrics}

    runs = [
        run("k8s", 0, 0.4, None),
        run("k8s", 0, 0.6, 400.0),
        run("k8s", 1, 0.7, 500.0),
        run("k8s", 1, 0.7, None),
    ]
    agg = aggregate(runs)["k8s"]
    assert agg["utilization_cpu"]["mean"] == pytest.approx(0.6)  # seeds: 0.5 and 0.7
    assert agg["utilization_cpu"]["n"] == 2
    rec = agg["recovery_s"]["node_failure"]
    assert rec["recovery_s"]["mean"] == pytest.approx(450.0)
    assert rec["faults"] == 2 and rec["recovered"] == 2
