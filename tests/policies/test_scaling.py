"""Target tracking on forecasts: up before the load, saturated services grow, clamps, cooldowns."""

from __future__ import annotations

import dataclasses

import numpy as np

from autoinfra.core.actions import ScaleService
from autoinfra.core.proposal import Finding
from autoinfra.policies.scaling.target import TargetTrackingPolicy
from tests.agents.fakes import FakeSim


def _obs(world: FakeSim, used: list[float]):  # type: ignore[no-untyped-def]
    return dataclasses.replace(world.observe(), service_cpu_used=np.asarray(used, dtype=np.float32))


def test_forecast_scales_up_before_the_load() -> None:
    world = FakeSim()  # 3 replicas of 0.05 CPU each: 0.15 capacity per service
    pol = TargetTrackingPolicy()
    fc = Finding("demand_forecast", "service:0", 0, 0, {"cpu_forecast": 0.14, "cpu_std": 0.0})
    (p,) = pol.decide(_obs(world, [0.09, 0.09]), [fc])  # 60 % now, 93 % expected
    assert p.action == ScaleService(service=0, delta_replicas=1)
    assert pol.decide(_obs(world, [0.09, 0.09]), [fc]) == []  # cooldown


def test_saturated_grows_idle_shrinks_within_bounds() -> None:
    world = FakeSim()
    pol = TargetTrackingPolicy()
    out = {
        p.action.service: p.action.delta_replicas for p in pol.decide(_obs(world, [0.15, 0.01]), [])
    }  # type: ignore[attr-defined]
    assert out[0] > 0  # at its limit: demand unknown, grow
    assert out[1] == -2  # 7 % used: as low as allowed, two at a time, min 1
