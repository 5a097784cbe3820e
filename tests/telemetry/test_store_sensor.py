"""MetricStore ring buffers and Parquet history; SimSensor caching per instant."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from autoinfra.core.errors import ConfigError
from autoinfra.telemetry import MetricStore, SimSensor
from tests.agents.fakes import FakeSim


def test_ring_keeps_the_latest_samples_in_order(tmp_path: Path) -> None:
    world = FakeSim(n_machines=6)
    store = MetricStore(capacity=5, machine_capacity=3)
    sensor = SimSensor(world, store=store)
    for _ in range(8):
        sensor.collect()
        sensor.collect()  # the same instant twice: one sample
        world.step()
    t, power = store.cluster("power_w")
    assert list(t) == [15.0, 20.0, 25.0, 30.0, 35.0] and power.shape == (5,)
    tm, used = store.machines("cpu_used")
    assert list(tm) == [25.0, 30.0, 35.0] and used.shape == (3, 6)
    assert sensor.collections == 8
    paths = store.to_parquet(tmp_path / "m")
    cluster = pd.read_parquet(paths[0])
    machines = pd.read_parquet(paths[1])
    assert list(cluster["time_s"]) == list(t)
    assert len(machines) == 3 * 6
    np.testing.assert_allclose(
        machines.loc[machines.machine == 2, "cpu_used"].to_numpy(), used[:, 2]
    )


def test_unknown_series_are_refused() -> None:
    with pytest.raises(ConfigError, match="unknown machine series"):
        MetricStore(machine_series=("gpu",))
    with pytest.raises(ConfigError, match="unknown cluster series"):
        MetricStore().cluster("nope")


def test_sensor_without_cache_observes_every_time() -> None:
    world = FakeSim()
    sensor = SimSensor(world, cache=False)
    a, b = sensor.collect(), sensor.collect()
    assert a is not b and sensor.collections == 2
    cached = SimSensor(world)
    assert cached.collect() is cached.collect()
    cached.invalidate()
    assert cached.collections == 1 and cached.collect() is not None and cached.collections == 2
