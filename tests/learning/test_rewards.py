"""The versioned reward: each term on crafted samples, and the period meter's averaging."""

from __future__ import annotations

import numpy as np
import pytest

from autoinfra.core.errors import ConfigError
from autoinfra.learning.rewards import (
    PeriodMeter,
    ServiceSample,
    combine,
    get_reward,
    idle_footprint,
    sample_from_observation,
    violation,
)
from tests.learning.factories import observation

SPEC = get_reward("slo-energy-v1")


def sample(demand: list[float], used: list[float], reserved: list[float]) -> ServiceSample:
    a = np.asarray
    return ServiceSample(a(demand), a(used), a(reserved), np.full(len(demand), 1.0))


def test_violation_terms() -> None:
    s = sample(
        demand=[0.5, 0.5, 0.5, 0.0, 0.3],
        used=[0.5, 0.48, 0.46, 0.0, 0.0],
        reserved=[1.0, 1.0, 0.5, 0.0, 0.0],
    )
    # served in full / 96 % served: unserved / hot replicas (0.92) / idle service / nothing runs
    assert violation(SPEC, s).tolist() == [0.0, 1.0, 1.0, 0.0, 1.0]


def test_idle_footprint_counts_every_replica_freed() -> None:
    # 4 and 3 replicas of 0.1 at 1 % utilisation are both "99 % idle" of their reservation, but
    # not of their maximum footprint (8 x 0.1): freeing a replica must lower the cost
    four = ServiceSample(np.array([0.004]), np.array([0.004]), np.array([0.4]), np.array([0.8]))
    three = ServiceSample(np.array([0.004]), np.array([0.004]), np.array([0.3]), np.array([0.8]))
    assert idle_footprint(three)[0] < idle_footprint(four)[0] < 0.5


def test_meter_averages_the_period_and_charges_changes() -> None:
    meter = PeriodMeter(SPEC)
    meter.add(sample([0.5], [0.5], [1.0]))  # fine, half idle
    meter.add(sample([0.5], [0.45], [0.5]))  # missed
    r = meter.reward(np.array([2]))
    expected = -(SPEC.w_slo * 0.5 + SPEC.w_energy * (0.5 + 0.05) / 2 + SPEC.w_action * 2)
    assert r[0] == pytest.approx(expected)
    assert meter.reward(np.array([0]))[0] == 0.0  # a new period starts empty


def test_samples_read_the_backend_demand_and_bounds() -> None:
    obs = observation(replicas=[2], cpu_used=[0.1], max_replicas=[6])
    obs.extra["service_cpu_demand"] = np.array([0.3], dtype=np.float32)
    s = sample_from_observation(obs)
    assert s.demand_cpu[0] == pytest.approx(0.3) and s.footprint_cpu[0] == pytest.approx(0.6)
    assert violation(SPEC, s)[0] == 1.0


def test_unknown_reward_is_refused() -> None:
    with pytest.raises(ConfigError, match="unknown reward"):
        get_reward("slo-only-v9")


def test_one_formula_offline_and_online() -> None:
    # the period meter (offline) and the online feedback loop both go through combine: a meter
    # fed one sample gives exactly what combine gives for that sample's terms
    s = sample([0.5, 0.3, 0.0], [0.45, 0.1, 0.0], [0.5, 1.0, 0.0])
    delta = np.array([1, -2, 0])
    meter = PeriodMeter(SPEC)
    meter.add(s)
    online = combine(SPEC, violation(SPEC, s), idle_footprint(s), delta)
    assert meter.reward(delta).tolist() == online.tolist()
    # unserved (90 % of demand) with 5 % idle; unserved with 90 % idle; an idle service
    assert online.tolist() == pytest.approx(
        [
            -(SPEC.w_slo + 0.05 * SPEC.w_energy + SPEC.w_action),
            -(SPEC.w_slo + 0.9 * SPEC.w_energy + 2 * SPEC.w_action),
            0.0,
        ]
    )
