"""Placement against reservations (Borg, Verma et al. 2015, section 5.5) and its price.

One machine of 0.5 CPU: a production task requests 0.4 and uses 0.1. A non-production task asking
for 0.3 fits only once the production task's reservation has decayed towards 0.1 x 1.15: with
the defaults (delay 300 s, decay time constant 600 s, a usage step every 300 s) the reservation is
0.4 until 300 s, then 0.288 (300 s), 0.220 (600 s), 0.179 (900 s): 0.5 - 0.179 >= 0.3 first at
900 s.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from autoinfra.core.errors import ConfigError, SimulationError
from autoinfra.sim import SimSettings, Simulator
from autoinfra.sim.layout import M_CPU_RSV, M_MEM_RSV
from tests.sim.builders import T, make_workload

EXACT = SimSettings(candidates=0, record_every_s=60.0)
PROD = T(0, 1e6, cpu=0.4, mem=0.1, priority=9, cpu_ratio=0.25, mem_ratio=1.0)
BATCH = T(10, 1e6, cpu=0.3, mem=0.1, priority=0, cpu_ratio=1.0, mem_ratio=1.0)


def _start(sim: Simulator, task: int) -> float:
    tasks = sim.results().tasks.set_index("task_id")
    return float(tasks.loc[task, "start_s"])


def _expected_reservation(t_s: float, request: float = 0.4, usage: float = 0.1) -> float:
    target = usage * 1.15
    rsv = request
    for _ in range(300, int(t_s) + 1, 300):  # one update per usage step, from 300 s
        rsv = target + (rsv - target) * math.exp(-300.0 / 600.0)
    return rsv


def test_by_requests_non_production_work_waits_for_requested_room() -> None:
    sim = Simulator(make_workload([(0.5, 0.5)], [PROD, BATCH]), EXACT)
    sim.run(until_s=1800)
    assert math.isnan(_start(sim, 1))
    assert sim.results().summary["placement"] == "requests"


def test_by_reservations_it_uses_what_production_requests_but_does_not_use() -> None:
    sim = Simulator(make_workload([(0.5, 0.5)], [PROD, BATCH]), EXACT)
    sim.set_placement("reservations", by="test")
    sim.run(until_s=600)
    w = sim._state  # the machine sums, checked against the documented decay
    assert w.mf[M_CPU_RSV, 0] == pytest.approx(_expected_reservation(600), rel=1e-5)
    assert w.mf[M_MEM_RSV, 0] == pytest.approx(0.1, rel=1e-6)  # memory is not reclaimed
    assert math.isnan(_start(sim, 1))
    sim.run(until_s=1200)
    assert _start(sim, 1) == pytest.approx(900.0)
    events = sim.results().events
    assert list(events.loc[events["op"] == "set_placement", "detail"]) == ["reservations"]


def test_production_is_still_placed_by_requests() -> None:
    other_prod = T(10, 1e6, cpu=0.3, mem=0.1, priority=10, cpu_ratio=0.1)
    sim = Simulator(make_workload([(0.5, 0.5)], [PROD, other_prod]), EXACT)
    sim.set_placement("reservations", by="test")
    sim.run(until_s=1800)
    assert math.isnan(_start(sim, 1))  # production never relies on reclaimed resources


def test_the_price_is_throttling_when_usage_rises_above_the_reservations() -> None:
    # the production task's usage shape: 1 for an hour, then 3 (0.1 -> 0.3 CPU)
    # (profile 0; the batch task's profile 1 stays flat)
    shapes = np.vstack([np.r_[np.ones(12), np.full(12, 3.0)], np.ones(24)])
    batch = T(10, 1e6, cpu=0.3, mem=0.1, priority=0, cpu_ratio=1.0, profile=1)
    wl = make_workload([(0.5, 0.5)], [PROD, batch], shapes=shapes, end_s=5400.0)
    by_requests = Simulator(wl, EXACT)
    by_requests.run()
    by_reservations = Simulator(wl, EXACT)
    by_reservations.set_placement("reservations", by="test")
    by_reservations.run()
    quiet, loud = by_requests.results().summary, by_reservations.results().summary
    assert quiet["throttled_machine_s"] == 0.0 and quiet["unserved_cpu_s"] == 0.0
    # from 3600 s demand is 0.3 + 0.3 on 0.5 CPU: 1/6 of it unserved for 1800 s
    assert loud["throttled_machine_s"] == pytest.approx(1800.0, abs=10.0)
    assert loud["unserved_cpu_s"] == pytest.approx(0.1 * 1800.0, rel=0.02)
    assert loud["tasks_running"] == 2 and loud["memory_kills"] == 0
    # the reservation rose with the usage at once: nothing more fits now
    assert by_reservations._state.mf[M_CPU_RSV, 0] == pytest.approx(0.3 * 1.15 + 0.3, rel=1e-5)


def test_reclaiming_memory_too_is_a_stated_option() -> None:
    prod = T(0, 1e6, cpu=0.1, mem=0.4, priority=9, cpu_ratio=1.0, mem_ratio=0.25)
    batch = T(10, 1e6, cpu=0.1, mem=0.3, priority=0)
    cfg = SimSettings(candidates=0, reclaim="cpu+memory", placement="reservations")
    sim = Simulator(make_workload([(0.5, 0.5)], [prod, batch]), cfg)
    sim.run(until_s=1200)
    assert _start(sim, 1) == pytest.approx(900.0)


def test_bad_placement_settings_are_refused() -> None:
    with pytest.raises(ConfigError, match="placement"):
        SimSettings(placement="limits")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="reservation_decay_s"):
        SimSettings(reservation_decay_s=0.0)
    sim = Simulator(make_workload([(0.5, 0.5)], [PROD]), EXACT)
    with pytest.raises(SimulationError, match="placement"):
        sim.set_placement("sometimes", by="test")
    assert sim.config.placement == "requests"


def test_a_fork_keeps_its_own_reservations() -> None:
    sim = Simulator(make_workload([(0.5, 0.5)], [PROD, BATCH]), EXACT)
    sim.set_placement("reservations", by="test")
    sim.run(until_s=600)
    twin = sim.fork()
    twin.run(until_s=1200)
    assert _start(twin, 1) == pytest.approx(900.0)
    assert math.isnan(_start(sim, 1))
    assert sim._state.mf[M_CPU_RSV, 0] == pytest.approx(_expected_reservation(600), rel=1e-5)


def test_skipping_quiet_ticks_counts_the_same_throttling() -> None:
    shapes = np.vstack([np.r_[np.ones(12), np.full(12, 3.0)], np.ones(24)])
    batch = T(10, 1e6, cpu=0.3, mem=0.1, priority=0, cpu_ratio=1.0, profile=1)
    wl = make_workload([(0.5, 0.5)], [PROD, batch], shapes=shapes, end_s=5400.0)
    summaries = []
    for skip in (False, True):
        sim = Simulator(wl, EXACT)
        sim.set_placement("reservations", by="test")
        sim.run(skip_quiet=skip)
        summaries.append(sim.results().summary)
    assert summaries[0]["throttled_machine_s"] > 0
    for key in ("throttled_machine_s", "unserved_cpu_s", "energy_kwh", "ticks"):
        assert summaries[0][key] == summaries[1][key], key
